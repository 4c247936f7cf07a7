//! Whether the kernel loads BPF LSM programs at all, asked before anything is built for them.
//!
//! Loading a hook through aya takes an `aya::Btf` with the hook's function at the kernel's id
//! ([`super::lsm_btf`]: some 4 MB while it lives). Some kernels list `bpf` among their LSMs and
//! still refuse every LSM program with EPERM (no trampolines: a kernel without ftrace). A program
//! of two instructions (`r0 = 0; exit`) for the first hook, loaded with the `bpf` system call
//! itself, tells: where it is refused with EPERM, every hook would be, and nothing is built.

use std::os::fd::{FromRawFd, OwnedFd};

use aya_obj::generated::{bpf_attach_type::BPF_LSM_MAC, bpf_cmd::BPF_PROG_LOAD, bpf_prog_type::BPF_PROG_TYPE_LSM};

/// The leading fields of `union bpf_attr` for `BPF_PROG_LOAD`, up to `attach_btf_id` (the
/// kernel takes a shorter attribute and reads the fields it lacks as zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
}

/// `r0 = 0` (`BPF_ALU64 | BPF_MOV | BPF_K`) and `exit` (`BPF_JMP | BPF_EXIT`), registers and
/// immediates zero: the first byte of each instruction is its opcode (little-endian).
const INSTRUCTIONS: [u64; 2] = [0xb7, 0x95];

/// Whether the kernel refuses to load an LSM program on the hook whose `bpf_lsm_*` function has
/// BTF id `attach_btf_id` with EPERM. Any other outcome (loaded, or refused for another
/// reason) says nothing of the real programs, which are then tried as usual.
pub fn refused_with_eperm(attach_btf_id: u32) -> bool {
    let license = c"GPL";
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_LSM as u32,
        insn_cnt: INSTRUCTIONS.len() as u32,
        insns: INSTRUCTIONS.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_LSM_MAC as u32,
        attach_btf_id,
        ..ProgLoad::default()
    };
    // SAFETY: `attr` is a `BPF_PROG_LOAD` attribute of the size given, whose pointers (the
    // instructions, the license) outlive the call; the kernel only reads them.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD as libc::c_long,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if result < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that nothing else owns; closing
    // it unloads the probe.
    drop(unsafe { OwnedFd::from_raw_fd(result as i32) });
    false
}

#[cfg(test)]
mod tests {
    use aya::{EbpfLoader, programs::ProgramError};

    use super::*;
    use crate::capture::{enforcement::LSM_HOOKS, kernel_layout, loader::OBJECT, lsm_btf::AttachPoints};

    /// The probe is refused with EPERM exactly where a real hook is (as root; the BTF is this
    /// kernel's, and where BPF LSM is off both are refused with another error).
    #[test]
    fn the_probe_answers_as_a_real_hook() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: loading BPF programs needs root");
            return;
        }
        let kernel = kernel_layout::read(std::path::Path::new(kernel_layout::VMLINUX_BTF)).unwrap();
        let points = AttachPoints::of(&kernel, [&"path_unlink"]);
        let Some((hook, id)) = points.first() else {
            panic!("the kernel's BTF has no bpf_lsm_path_unlink");
        };
        assert_eq!(hook, "path_unlink");
        let mut ebpf = EbpfLoader::new().btf(None).load(OBJECT).unwrap();
        let program: &mut aya::programs::Lsm = ebpf.program_mut("lsm_path_unlink").unwrap().try_into().unwrap();
        let real = program.load(hook, &points.btf());
        let real_eperm = matches!(&real, Err(ProgramError::LoadError { io_error, .. }) if io_error.raw_os_error() == Some(libc::EPERM));
        assert_eq!(refused_with_eperm(id), real_eperm, "{real:?}");
        assert!(LSM_HOOKS.iter().any(|&(_, known)| known == hook));
    }
}
