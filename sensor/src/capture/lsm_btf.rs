//! The BTF the BPF LSM hooks attach with, without aya's parse of the kernel's BTF.
//!
//! aya's `Lsm::load` finds a hook's attach point by name in an `aya::Btf`, and the type's index
//! there is the id the kernel is given. A full parse of the kernel's BTF for that held about
//! 19 MB (30 MB while parsing), start-up's largest allocation, for some fifteen ids. The ids are
//! read instead from the mapped BTF the layout is derived from ([`AttachPoints::of`]), and
//! [`AttachPoints::btf`] builds an `aya::Btf` that has the hooks' functions at those ids and
//! empty entries before them (the test below checks it against aya's own parse).

use aya::Btf;
use aya_obj::btf::{BtfType, Func, FuncLinkage};
use btf_rs::Type;

/// The prefix of the kernel functions BPF LSM programs attach to.
const PREFIX: &str = "bpf_lsm_";

/// The kernel's BTF ids of the `bpf_lsm_<hook>` functions it has, by hook, in id order.
#[derive(Clone, Debug, Default)]
pub struct AttachPoints {
    ids: Vec<(&'static str, u32)>,
}

impl AttachPoints {
    /// Looks each hook up in the kernel's (mapped) BTF; hooks the kernel lacks are left out, and
    /// aya then reports them unknown when they are loaded.
    pub fn of<'h>(kernel: &btf_rs::Btf, hooks: impl IntoIterator<Item = &'h &'static str>) -> Self {
        let mut ids: Vec<_> = hooks
            .into_iter()
            .filter_map(|&hook| {
                let ids = kernel.resolve_ids_by_name(&format!("{PREFIX}{hook}")).ok()?;
                let id = ids
                    .into_iter()
                    .find(|&id| matches!(kernel.resolve_type_by_id(id), Ok(Type::Func(_))))?;
                Some((hook, id))
            })
            .collect();
        ids.sort_unstable_by_key(|&(_, id)| id);
        Self { ids }
    }

    /// The hook with the lowest id, and its id.
    pub fn first(&self) -> Option<(&'static str, u32)> {
        self.ids.first().copied()
    }

    /// Whether the kernel has the hook.
    pub fn has(&self, hook: &str) -> bool {
        self.ids.iter().any(|&(name, _)| name == hook)
    }

    /// An `aya::Btf` in which each hook's function has the kernel's id: only those functions
    /// are named, every other entry up to the highest id is empty (start-up's peak with BPF LSM
    /// rose by about 4 MB over that with it off, where a full parse added 13 MB).
    pub fn btf(&self) -> Btf {
        let mut btf = Btf::new();
        let mut next = 1;
        for &(hook, id) in &self.ids {
            while next < id {
                btf.add_type(BtfType::Unknown);
                next += 1;
            }
            let name = btf.add_string(&format!("{PREFIX}{hook}"));
            btf.add_type(BtfType::Func(Func::new(name, 0, FuncLinkage::Global)));
            next += 1;
        }
        btf
    }
}

#[cfg(test)]
mod tests {
    use aya_obj::btf::BtfKind;

    use super::*;
    use crate::capture::{enforcement::LSM_HOOKS, kernel_layout};

    /// aya finds every hook at the same id in the built BTF as in its own parse of the
    /// kernel's, and an unknown hook in neither.
    #[test]
    fn the_hooks_have_the_kernels_ids() {
        let kernel = kernel_layout::read(std::path::Path::new(kernel_layout::VMLINUX_BTF)).unwrap();
        let hooks: Vec<&'static str> = LSM_HOOKS
            .iter()
            .map(|(_, hook)| *hook)
            .chain(["no_such_hook"])
            .collect();
        let points = AttachPoints::of(&kernel, &hooks);
        let built = points.btf();
        let parsed = Btf::from_sys_fs().unwrap();
        let mut found = 0;
        for hook in hooks {
            let name = format!("{PREFIX}{hook}");
            let expected = parsed.id_by_type_name_kind(&name, BtfKind::Func).ok();
            assert_eq!(
                built.id_by_type_name_kind(&name, BtfKind::Func).ok(),
                expected,
                "{hook}"
            );
            found += usize::from(expected.is_some());
        }
        assert!(found >= 10, "only {found} LSM hooks found in the kernel's BTF");
    }
}
