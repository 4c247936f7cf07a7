//! What start-up takes before it compiles the rules: aya's loader. Creating one parses the
//! kernel's BTF (`EbpfLoader::new` does, about 30 MB while parsing), which the programs do not
//! need (no CO-RE relocation: [`tests`] keep it so) and which is dropped at once. Made
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

#[cfg(test)]
mod tests {
    use object::{Object, ObjectSection};

    /// The programs are loaded without the kernel's BTF, which only CO-RE relocations would need:
    /// the object's `.BTF.ext` section must announce none (its header's `core_relo_len`).
    #[test]
    fn the_programs_have_no_core_relocations() {
        let object = object::File::parse(super::super::loader::OBJECT).unwrap();
        let ext = object.section_by_name(".BTF.ext").unwrap().data().unwrap();
        let word = |at: usize| u32::from_le_bytes(ext[at..at + 4].try_into().unwrap());
        assert_eq!(u16::from_le_bytes([ext[0], ext[1]]), 0xeb9f, "BTF.ext magic");
        let core_relo_len = if word(4) >= 32 { word(28) } else { 0 };
        assert_eq!(
            core_relo_len, 0,
            "the programs have CO-RE relocations: give the loader the kernel's BTF"
        );
    }
}
