//! Derives the kernel structure offsets the programs need from the running kernel's BTF.

use std::{os::fd::AsRawFd, path::Path};

use btf_rs::{Backend, Btf, Type};
use sensor_common::layout::{FIELD_ABSENT, IoUringLayout, KernelLayout, PeerLayout};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "cannot read the kernel's BTF at {path}: {source}. Agent Sensor needs a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are)"
    )]
    Unreadable { path: String, source: btf_rs::Error },
    #[error("the kernel's BTF has no `struct {0}`; this kernel is not supported")]
    MissingStruct(String),
    #[error("the kernel's BTF has no field `{field}` in `struct {structure}`; this kernel is not supported")]
    MissingField { structure: String, field: String },
    #[error("field `{field}` of `struct {structure}` is a bit field; the sensor cannot read it")]
    BitField { structure: String, field: String },
}

/// Reads the kernel's BTF at `path` (normally [`VMLINUX_BTF`]), once: each question below is
/// asked of the same parse. The data stays mapped rather than parsed into tables (which took
/// about 28 MB of heap for a 6 MB vmlinux BTF, the largest allocation of the sensor's
/// start-up): mapped directly where the kernel allows it (6.16+), else from an in-memory copy.
/// The few lookups the sensor makes cost a scan each, a few milliseconds in all.
pub fn read(path: &Path) -> Result<Btf, LayoutError> {
    let unreadable = |source| LayoutError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    match Btf::from_file_with_backend(path, Backend::Mmap) {
        Ok(btf) => Ok(btf),
        Err(_) => read_copy(path).map_err(unreadable),
    }
}

/// [`read`] for kernels whose sysfs BTF cannot be mapped (before 6.16): the data is copied into
/// an anonymous memory file first, and that is mapped.
fn read_copy(path: &Path) -> Result<Btf, btf_rs::Error> {
    let copy = memory_copy(path)?;
    Btf::from_file_with_backend(format!("/proc/self/fd/{}", copy.as_raw_fd()), Backend::Mmap)
}

/// `path`'s contents in an anonymous memory file, for kernels whose sysfs BTF cannot be mapped.
fn memory_copy(path: &Path) -> std::io::Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(c"agent-sensor-btf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(std::io::Error::from)?;
    let mut copy = std::fs::File::from(fd);
    std::io::copy(&mut std::fs::File::open(path)?, &mut copy)?;
    Ok(copy)
}

/// Computes every offset of [`KernelLayout`] from the kernel's BTF.
pub fn load(btf: &Btf) -> Result<KernelLayout, LayoutError> {
    let layout = Layouts { btf };
    Ok(KernelLayout {
        valid: 1,
        task_mm: layout.offset("task_struct", "mm")?,
        task_fs: layout.offset("task_struct", "fs")?,
        task_files: layout.offset("task_struct", "files")?,
        task_real_parent: layout.offset("task_struct", "real_parent")?,
        task_tgid: layout.offset("task_struct", "tgid")?,
        task_exit_code: layout.offset("task_struct", "exit_code")?,
        task_signal: layout.offset("task_struct", "signal")?,
        task_start_boottime: layout.offset("task_struct", "start_boottime")?,
        mm_arg_start: layout.offset("mm_struct", "arg_start")?,
        mm_arg_end: layout.offset("mm_struct", "arg_end")?,
        mm_exe_file: layout.offset("mm_struct", "exe_file")?,
        fs_pwd: layout.offset("fs_struct", "pwd")?,
        files_fdt: layout.offset("files_struct", "fdt")?,
        fdt_max_fds: layout.offset("fdtable", "max_fds")?,
        fdt_fd: layout.offset("fdtable", "fd")?,
        file_f_path: layout.offset("file", "f_path")?,
        path_mnt: layout.offset("path", "mnt")?,
        path_dentry: layout.offset("path", "dentry")?,
        dentry_d_parent: layout.offset("dentry", "d_parent")?,
        dentry_d_name: layout.offset("dentry", "d_name")?,
        qstr_name: layout.offset("qstr", "name")?,
        vfsmount_mnt_root: layout.offset("vfsmount", "mnt_root")?,
        mount_mnt: layout.offset("mount", "mnt")?,
        mount_mnt_parent: layout.offset("mount", "mnt_parent")?,
        mount_mnt_mountpoint: layout.offset("mount", "mnt_mountpoint")?,
        signal_live: layout.offset("signal_struct", "live")?,
        file_f_flags: layout.offset("file", "f_flags")?,
        file_f_mode: layout.offset("file", "f_mode")?,
        file_f_inode: layout.offset("file", "f_inode")?,
        inode_i_ino: layout.offset("inode", "i_ino")?,
        inode_i_sb: layout.offset("inode", "i_sb")?,
        sb_s_dev: layout.offset("super_block", "s_dev")?,
        binprm_file: layout.offset("linux_binprm", "file")?,
        inode_i_mode: layout.offset("inode", "i_mode")?,
        vfsmount_mnt_sb: layout.offset("vfsmount", "mnt_sb")?,
        dentry_d_inode: layout.offset("dentry", "d_inode")?,
        task_ti_status: layout.offset("task_struct", "thread_info")? + layout.offset("thread_info", "status")?,
        file_private_data: layout.offset("file", "private_data")?,
        socket_sk: layout.offset("socket", "sk")?,
        skc_family: layout.offset("sock_common", "skc_family")?,
        skc_num: layout.offset("sock_common", "skc_num")?,
        skc_rcv_saddr: layout.offset("sock_common", "skc_rcv_saddr")?,
        skc_v6_rcv_saddr: layout.offset("sock_common", "skc_v6_rcv_saddr")?,
    })
}

/// The offsets of io_uring's prepared requests (`IoUringLayout`), with the tracepoint's field
/// offsets `req` and `opcode`; `valid` is 0, and the submissions are reported without their
/// paths, when this kernel's BTF lacks any of them.
pub fn io_uring(btf: &Btf, tp_req: Option<u32>, tp_opcode: Option<u32>) -> IoUringLayout {
    let absent = IoUringLayout {
        valid: 0,
        kiocb_cmd: FIELD_ABSENT,
        open_dfd: FIELD_ABSENT,
        open_filename: FIELD_ABSENT,
        open_how: FIELD_ABSENT,
        unlink_dfd: FIELD_ABSENT,
        unlink_flags: FIELD_ABSENT,
        unlink_filename: FIELD_ABSENT,
        rename_old_dfd: FIELD_ABSENT,
        rename_new_dfd: FIELD_ABSENT,
        rename_oldpath: FIELD_ABSENT,
        rename_newpath: FIELD_ABSENT,
        rename_flags: FIELD_ABSENT,
        link_old_dfd: FIELD_ABSENT,
        link_new_dfd: FIELD_ABSENT,
        link_oldpath: FIELD_ABSENT,
        link_newpath: FIELD_ABSENT,
        link_flags: FIELD_ABSENT,
        filename_name: FIELD_ABSENT,
        tp_req: FIELD_ABSENT,
        tp_opcode: FIELD_ABSENT,
    };
    let (Some(tp_req), Some(tp_opcode)) = (tp_req, tp_opcode) else {
        return absent;
    };
    let layout = Layouts { btf };
    let found = (|| -> Result<IoUringLayout, LayoutError> {
        Ok(IoUringLayout {
            valid: 1,
            kiocb_cmd: layout.offset("io_kiocb", "cmd")?,
            open_dfd: layout.offset("io_open", "dfd")?,
            open_filename: layout.offset("io_open", "filename")?,
            open_how: layout.offset("io_open", "how")?,
            unlink_dfd: layout.offset("io_unlink", "dfd")?,
            unlink_flags: layout.offset("io_unlink", "flags")?,
            unlink_filename: layout.offset("io_unlink", "filename")?,
            rename_old_dfd: layout.offset("io_rename", "old_dfd")?,
            rename_new_dfd: layout.offset("io_rename", "new_dfd")?,
            rename_oldpath: layout.offset("io_rename", "oldpath")?,
            rename_newpath: layout.offset("io_rename", "newpath")?,
            rename_flags: layout.offset("io_rename", "flags")?,
            link_old_dfd: layout.offset("io_link", "old_dfd")?,
            link_new_dfd: layout.offset("io_link", "new_dfd")?,
            link_oldpath: layout.offset("io_link", "oldpath")?,
            link_newpath: layout.offset("io_link", "newpath")?,
            link_flags: layout.offset("io_link", "flags")?,
            filename_name: layout.offset("filename", "name")?,
            tp_req,
            tp_opcode,
        })
    })();
    match found {
        Ok(layout) => layout,
        Err(error) => {
            tracing::debug!(%error, "io_uring submissions are reported without their arguments");
            absent
        }
    }
}

/// The offsets of the hand-off hook (`PeerLayout`); `valid` is 0 when this kernel's BTF lacks
/// one of them (the `unix_stream_connect` hook then stays off).
pub fn peer(btf: &Btf) -> Result<PeerLayout, LayoutError> {
    let layout = Layouts { btf };
    Ok(PeerLayout {
        valid: 1,
        sock_peer_pid: layout.offset("sock", "sk_peer_pid")?,
        pid_numbers: layout.offset("pid", "numbers")? + layout.offset("upid", "nr")?,
        pid_tasks: layout.offset("pid", "tasks")?,
        task_pid_links: layout.offset("task_struct", "pid_links")?,
        unix_addr: layout.offset("unix_sock", "addr")?,
        unix_address_len: layout.offset("unix_address", "len")?,
        unix_address_name: layout.offset("unix_address", "name")?,
    })
}

/// What the enforcement programs need to know of the kernel's BTF, asked before the mapped BTF
/// is dropped (the LSM hooks then attach with the small BTF their attach points make).
#[derive(Debug)]
pub struct LsmFacts {
    /// [`lsm_bpf_has_token`].
    pub bpf_has_token: bool,
    /// [`msghdr_matches`].
    pub msghdr: Result<(), MsghdrError>,
    /// Where the hooks attach (`bpf_lsm_<hook>`).
    pub attach_points: super::lsm_btf::AttachPoints,
}

impl LsmFacts {
    pub fn of(btf: &Btf) -> Self {
        Self {
            bpf_has_token: lsm_bpf_has_token(btf),
            msghdr: msghdr_matches(btf),
            attach_points: super::lsm_btf::AttachPoints::of(
                btf,
                super::enforcement::LSM_HOOKS.iter().map(|(_, hook)| hook),
            ),
        }
    }
}

/// Whether the `bpf` LSM hook takes a `struct bpf_token *` (kernel 6.9+): its BPF programs then
/// find the previous hook's answer in their fifth argument instead of the fourth.
pub fn lsm_bpf_has_token(btf: &Btf) -> bool {
    let Ok(candidates) = btf.resolve_types_by_name("bpf_lsm_bpf") else {
        return false;
    };
    candidates.iter().any(|candidate| {
        let Type::Func(func) = candidate else {
            return false;
        };
        matches!(btf.resolve_chained_type(func), Ok(Type::FuncProto(proto)) if proto.parameters.len() >= 4)
    })
}

/// Whether `struct msghdr` has `msg_name` and `msg_namelen` where the `socket_sendmsg` hook reads
/// them (`sensor_common::policy::MSGHDR_*`).
pub fn msghdr_matches(btf: &Btf) -> Result<(), MsghdrError> {
    let layout = Layouts { btf };
    let name = layout.offset("msghdr", "msg_name")?;
    let namelen = layout.offset("msghdr", "msg_namelen")?;
    if (name, namelen)
        == (
            sensor_common::policy::MSGHDR_MSG_NAME,
            sensor_common::policy::MSGHDR_MSG_NAMELEN,
        )
    {
        Ok(())
    } else {
        Err(MsghdrError::Moved { name, namelen })
    }
}

/// Why the `socket_sendmsg` hook cannot read `struct msghdr` in this kernel.
#[derive(Debug, thiserror::Error)]
pub enum MsghdrError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(
        "struct msghdr has msg_name at {name} and msg_namelen at {namelen} in this kernel, not where the \
         socket_sendmsg hook reads them"
    )]
    Moved { name: u32, namelen: u32 },
}

struct Layouts<'a> {
    btf: &'a Btf,
}

impl Layouts<'_> {
    /// Byte offset of `field` in `struct structure`, looking through anonymous members.
    fn offset(&self, structure: &str, field: &str) -> Result<u32, LayoutError> {
        let candidates = self
            .btf
            .resolve_types_by_name(structure)
            .map_err(|_| LayoutError::MissingStruct(structure.to_string()))?;
        let mut found_struct = false;
        for candidate in candidates {
            let Type::Struct(definition) = candidate else {
                continue;
            };
            found_struct = true;
            if let Some(bits) = self.find(&definition, field, 0) {
                if bits % 8 != 0 {
                    return Err(LayoutError::BitField {
                        structure: structure.to_string(),
                        field: field.to_string(),
                    });
                }
                return Ok(bits / 8);
            }
        }
        if found_struct {
            Err(LayoutError::MissingField {
                structure: structure.to_string(),
                field: field.to_string(),
            })
        } else {
            Err(LayoutError::MissingStruct(structure.to_string()))
        }
    }

    /// Bit offset of `field` in a struct or union, descending into anonymous members.
    fn find(&self, definition: &btf_rs::Struct, field: &str, base: u32) -> Option<u32> {
        for member in &definition.members {
            let name = self.btf.resolve_name(member).unwrap_or_default();
            if name == field {
                return Some(base + member.bit_offset());
            }
            if name.is_empty()
                && let Some(inner) = self.anonymous_aggregate(member)
                && let Some(bits) = self.find(&inner, field, base + member.bit_offset())
            {
                return Some(bits);
            }
        }
        None
    }

    /// The struct or union an anonymous member stands for (through typedefs and qualifiers).
    fn anonymous_aggregate(&self, member: &btf_rs::Member) -> Option<btf_rs::Struct> {
        let mut current = self.btf.resolve_chained_type(member).ok()?;
        for _ in 0..8 {
            match current {
                Type::Struct(inner) | Type::Union(inner) => return Some(inner),
                Type::Typedef(_) | Type::Const(_) | Type::Volatile(_) | Type::Restrict(_) | Type::TypeTag(_) => {
                    let next = current.as_btf_type()?;
                    current = self.btf.resolve_chained_type(next).ok()?;
                }
                _ => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs against the BTF of the machine the tests run on, when it has one.
    #[test]
    fn the_copied_btf_gives_the_same_layout_as_the_mapped_one() {
        let path = Path::new(VMLINUX_BTF);
        let mapped = read(path).unwrap();
        let copied = read_copy(path).unwrap();
        assert_eq!(load(&mapped).unwrap(), load(&copied).unwrap());
        assert_eq!(peer(&mapped).ok(), peer(&copied).ok());
        assert_eq!(lsm_bpf_has_token(&mapped), lsm_bpf_has_token(&copied));
    }

    #[test]
    fn running_kernel_layout_is_complete_and_plausible() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            eprintln!("skipped: {VMLINUX_BTF} is absent");
            return;
        }
        let btf = read(path).expect("BTF");
        let layout = load(&btf).expect("layout");
        assert_eq!(layout.valid, 1);
        // struct path { struct vfsmount *mnt; struct dentry *dentry; } has been stable for ages.
        assert_eq!(layout.path_mnt, 0);
        assert_eq!(layout.path_dentry, 8);
        assert!(layout.mm_arg_end > layout.mm_arg_start);
        assert!(layout.task_mm > 0 && layout.task_files > 0 && layout.task_fs > 0);
        assert!(matches!(msghdr_matches(&btf), Ok(())), "{:?}", msghdr_matches(&btf));
    }
}
