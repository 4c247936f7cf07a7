//! What start-up takes from the kernel's BTF before it compiles the rules, so that the largest
//! transient allocation of start-up does not stack on the compiled rules. aya's loader parses
//! the kernel's BTF as it is created (about 30 MB while parsing, 19 MB parsed), although the
//! programs need none of it (no CO-RE relocation: [`tests`] keep it so); the BPF LSM hooks need
//! it for their attach points, where BPF LSM is active.

use aya::{Btf, BtfError, EbpfLoader};

use super::enforcement;

/// The loader, created without the kernel's BTF, and the BTF the LSM hooks will attach with.
pub struct Preload {
    pub(super) loader: EbpfLoader<'static>,
    /// `None` where the LSM hooks will not be tried (turned off, or BPF LSM not active).
    pub(super) lsm_btf: Option<Result<Btf, BtfError>>,
}

impl Preload {
    /// `use_lsm`: the configuration lets the sensor try BPF LSM (`enforcement.lsm`).
    pub fn new(use_lsm: bool) -> Self {
        let mut loader = EbpfLoader::new();
        loader.btf(None);
        let lsm_btf = (use_lsm && enforcement::bpf_lsm_active().is_ok()).then(Btf::from_sys_fs);
        Self { loader, lsm_btf }
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
