//! Reads of kernel structures at the offsets userspace derived from BTF.
//!
//! Addresses are plain `u64`s: they are only ever passed to `bpf_probe_read_kernel`, never
//! dereferenced, so a wrong offset yields a failed read or garbage, not a crash.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};

use sensor_common::event::FileIdentity;

use crate::settings::offset;

/// `AT_FDCWD`: the dirfd meaning "relative to the working directory".
pub const AT_FDCWD: i32 = -100;

#[inline(always)]
pub fn read<T: Copy>(addr: u64) -> Option<T> {
    unsafe { bpf_probe_read_kernel(addr as *const T).ok() }
}

/// Reads a pointer and rejects NULL.
#[inline(always)]
pub fn read_ptr(addr: u64) -> Option<u64> {
    match read::<u64>(addr) {
        Some(0) | None => None,
        Some(ptr) => Some(ptr),
    }
}

#[inline(always)]
pub fn current_task() -> u64 {
    unsafe { bpf_get_current_task() }
}

/// Thread-group id of the task's real parent.
#[inline(always)]
pub fn parent_tgid(task: u64) -> u32 {
    read_ptr(task + offset!(task_real_parent))
        .and_then(|parent| read::<i32>(parent + offset!(task_tgid)))
        .unwrap_or(0) as u32
}

/// The thread-group id of `task`.
#[inline(always)]
pub fn tgid(task: u64) -> u32 {
    read::<i32>(task + offset!(task_tgid)).unwrap_or(0) as u32
}

#[inline(always)]
pub fn start_boottime(task: u64) -> u64 {
    read::<u64>(task + offset!(task_start_boottime)).unwrap_or(0)
}

#[inline(always)]
pub fn exit_code(task: u64) -> u32 {
    read::<i32>(task + offset!(task_exit_code)).unwrap_or(0) as u32
}

/// True when no thread of the task's group is alive any more (`signal->live == 0`).
#[inline(always)]
pub fn group_dead(task: u64) -> bool {
    read_ptr(task + offset!(task_signal))
        .and_then(|signal| read::<i32>(signal + offset!(signal_live)))
        .is_none_or(|live| live == 0)
}

#[inline(always)]
pub fn mm(task: u64) -> Option<u64> {
    read_ptr(task + offset!(task_mm))
}

/// The start and end of the argument area of the task's memory.
#[inline(always)]
pub fn arg_area(mm: u64) -> Option<(u64, u64)> {
    let start = read::<u64>(mm + offset!(mm_arg_start))?;
    let end = read::<u64>(mm + offset!(mm_arg_end))?;
    if end > start { Some((start, end)) } else { None }
}

/// The `struct file` of the executable mapped by `mm`.
#[inline(always)]
pub fn exe_file(mm: u64) -> Option<u64> {
    read_ptr(mm + offset!(mm_exe_file))
}

/// Address of the `struct path` of the executable mapped by `mm`.
#[inline(always)]
pub fn exe_path(mm: u64) -> Option<u64> {
    exe_file(mm).map(file_path)
}

/// Address of the `struct path` of the task's working directory.
#[inline(always)]
pub fn cwd_path(task: u64) -> Option<u64> {
    read_ptr(task + offset!(task_fs)).map(|fs| fs + offset!(fs_pwd))
}

/// Address of the `struct path` embedded in a `struct file`.
#[inline(always)]
pub fn file_path(file: u64) -> u64 {
    file + offset!(file_f_path)
}

/// The `struct file` behind descriptor `fd` of the task. `fdtable`'s `max_fds` and `fd` are read
/// together when they are neighbours (as in every kernel the sensor knows), else one by one.
#[inline(always)]
pub fn fd_file(task: u64, fd: i64) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let files = read_ptr(task + offset!(task_files))?;
    let fdt = read_ptr(files + offset!(files_fdt))?;
    let (max_fds, array) = if offset!(fdt_fd) == offset!(fdt_max_fds) + 8 {
        // `max_fds` is an `unsigned int`: the low half of the first word.
        let [max_fds, array] = read::<[u64; 2]>(fdt + offset!(fdt_max_fds))?;
        (max_fds as u32 as i64, array)
    } else {
        (
            read::<u32>(fdt + offset!(fdt_max_fds))? as i64,
            read::<u64>(fdt + offset!(fdt_fd))?,
        )
    };
    if fd >= max_fds || array == 0 {
        return None;
    }
    read_ptr(array + (fd as u64) * 8)
}

/// The directory a path relative to `dirfd` starts from.
#[inline(always)]
pub fn base_dir_path(task: u64, dirfd: i32) -> Option<u64> {
    if dirfd == AT_FDCWD {
        cwd_path(task)
    } else {
        fd_file(task, dirfd as i64).map(file_path)
    }
}

/// `TS_COMPAT` in x86's `thread_info.status`: the current syscall is a 32-bit one.
const TS_COMPAT: u32 = 0x0002;

/// True when the task's current syscall is a 32-bit (ia32) one.
#[inline(always)]
pub fn in_compat_syscall(task: u64) -> bool {
    read::<u32>(task + offset!(task_ti_status)).is_some_and(|status| status & TS_COMPAT != 0)
}

/// The identity (device, mode, inode number) of the inode at `inode`.
#[inline(always)]
pub fn inode_identity(inode: u64) -> FileIdentity {
    let ino = read::<u64>(inode + offset!(inode_i_ino)).unwrap_or(0);
    let mode = read::<u16>(inode + offset!(inode_i_mode)).unwrap_or(0) as u32;
    let dev = read_ptr(inode + offset!(inode_i_sb))
        .and_then(|sb| read::<u32>(sb + offset!(sb_s_dev)))
        .unwrap_or(0);
    FileIdentity { dev, mode, ino }
}

/// The identity of the file a `struct file` refers to.
#[inline(always)]
pub fn file_identity(file: u64) -> FileIdentity {
    match read_ptr(file + offset!(file_f_inode)) {
        Some(inode) => inode_identity(inode),
        None => FileIdentity::default(),
    }
}

/// The identity of the inode behind `dentry` (none for a negative dentry).
#[inline(always)]
pub fn dentry_identity(dentry: u64) -> FileIdentity {
    match read_ptr(dentry + offset!(dentry_d_inode)) {
        Some(inode) => inode_identity(inode),
        None => FileIdentity::default(),
    }
}

/// `file.f_mode`.
#[inline(always)]
pub fn file_mode(file: u64) -> u32 {
    read::<u32>(file + offset!(file_f_mode)).unwrap_or(0)
}

/// The dentry and vfsmount of a `struct file` (one read: `struct path` is the two pointers,
/// `mnt` then `dentry`, in every kernel the sensor knows; two otherwise).
#[inline(always)]
pub fn file_dentry_mount(file: u64) -> (u64, u64) {
    let path = file_path(file);
    if offset!(path_mnt) == 0 && offset!(path_dentry) == 8 {
        let [mount, dentry] = read::<[u64; 2]>(path).unwrap_or([0; 2]);
        return (dentry, mount);
    }
    (
        read::<u64>(path + offset!(path_dentry)).unwrap_or(0),
        read::<u64>(path + offset!(path_mnt)).unwrap_or(0),
    )
}

/// x86-64 `struct pt_regs` (a stable layout: the syscall entry code builds it).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PtRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub bp: u64,
    pub bx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub ax: u64,
    pub cx: u64,
    pub dx: u64,
    pub si: u64,
    pub di: u64,
    pub orig_ax: u64,
}

/// The six syscall arguments in `regs`: x86-64's registers, or (for a 32-bit call) ia32's,
/// whose upper halves a 64-bit process may have left dirty.
#[inline(always)]
pub fn syscall_args(regs: &PtRegs, compat: bool) -> [u64; 6] {
    if compat {
        [
            regs.bx as u32 as u64,
            regs.cx as u32 as u64,
            regs.dx as u32 as u64,
            regs.si as u32 as u64,
            regs.di as u32 as u64,
            regs.bp as u32 as u64,
        ]
    } else {
        [regs.di, regs.si, regs.dx, regs.r10, regs.r8, regs.r9]
    }
}
