//! What start-up takes before it compiles the rules: aya's loader. Creating one parses the
//! kernel's BTF (`EbpfLoader::new` does, about 30 MB while parsing), which the programs do not
//! need (no CO-RE relocation: `lsm_btf`'s tests keep it so) and which is dropped at once. Made
//! before the rules are compiled, that transient does not stack on them.

use aya::EbpfLoader;

/// The loader, created without the kernel's BTF.
pub struct Preload {
    pub(super) loader: EbpfLoader<'static>,
}

impl Preload {
    /// Creates the loader; call it before the rules are compiled.
    pub fn before_rules() -> Self {
        let mut loader = EbpfLoader::new();
        loader.btf(None);
        Self { loader }
    }
}
