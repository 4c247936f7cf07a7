//! Reads of kernel structures at the offsets userspace derived from BTF.
//!
//! Addresses are plain `u64`s: they are only ever passed to `bpf_probe_read_kernel`, never
//! dereferenced, so a wrong offset yields a failed read or garbage, not a crash.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};

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

/// The `struct file` behind descriptor `fd` of the task.
#[inline(always)]
pub fn fd_file(task: u64, fd: i64) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let files = read_ptr(task + offset!(task_files))?;
    let fdt = read_ptr(files + offset!(files_fdt))?;
    let max_fds = read::<u32>(fdt + offset!(fdt_max_fds))? as i64;
    if fd >= max_fds {
        return None;
    }
    let array = read_ptr(fdt + offset!(fdt_fd))?;
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
