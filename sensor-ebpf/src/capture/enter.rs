//! Syscall entry: one raw tracepoint on `sys_enter` for every syscall of every process. A call
//! that is in neither table leaves after one load; a call of an untracked process after one
//! lookup. For tracked threads the arguments are saved until the exit (`PENDING`), paths the
//! kernel judges or reports as passed are copied (`PENDING_PATHS`), and 32-bit calls, which the
//! exit tracepoints never see, are reported here.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::{bpf_probe_read_user as probe_read_user_raw, bpf_probe_read_user_str},
    },
    programs::RawTracePointContext,
};
use sensor_common::{
    event::{MAX_UNIX_PATH, Syscall, TAMPER_BPF, TAMPER_PTRACE},
    maps::{Counter, TrackedProcess},
    policy::{BACKEND_TRACEPOINT, PolicyOp},
};

use crate::{
    calls::{self, BPF_IA32, BPF_X86_64, Call, Family, SOCKETCALL, SYS_BIND, SYS_CONNECT, SYS_LISTEN},
    counters::count,
    kernel::{self, PtRegs},
    pending::{
        FIRST_COMPLETE, FIRST_SOCKADDR, INLINE_SIZE, PENDING, PENDING_COMPAT, PENDING_HAS_PATHS, PENDING_KILLED,
        PENDING_PATHS, PENDING_PATHS_SCRATCH, PENDING_SCRATCH, PendingPaths, SECOND_COMPLETE,
    },
    policy::{
        self,
        act::{kill_current, kill_if_session_killed},
    },
    programs::tamper,
    settings, tracking,
};

/// What the entry program does next.
#[derive(PartialEq, Eq)]
pub enum Next {
    /// Nothing: the exit completes the record.
    Done,
    /// Tail-call the entry policy (the tracepoint backend judges this call at entry).
    Judge,
    /// A 32-bit call: tail-call the program that reports (and judges) it at entry.
    Compat,
}

/// The `sys_enter` raw tracepoint: `ctx` holds the registers and the syscall number.
#[inline(always)]
pub fn on_enter(ctx: &RawTracePointContext) -> Option<Next> {
    let nr: u64 = ctx.arg(1);
    if !calls::maybe_interesting(nr) {
        return None;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let process = tracking::of(tgid)?;
    kill_if_session_killed(process.session_id);
    let task = kernel::current_task();
    let compat = kernel::in_compat_syscall(task);
    if compat {
        count(Counter::CompatCalls);
    }
    let regs_at: u64 = ctx.arg(0);
    let regs = unsafe { bpf_probe_read_kernel(regs_at as *const PtRegs) }.ok()?;
    let mut args = kernel::syscall_args(&regs, compat);
    // With the sensor's own LSM hooks attached, they report bpf() and ptrace (with a verdict).
    let hooks_guard = policy::config().is_some_and(|config| config.lsm_guards_sensor != 0);
    if nr == if compat { BPF_IA32 } else { BPF_X86_64 } {
        if !hooks_guard {
            tamper::seen(&process, TAMPER_BPF, args[0] as u32, 0);
        }
        return None;
    }
    if let Some((target, signal)) = calls::signal(nr, compat, &args) {
        tamper::signal_attempt(&process, target, signal);
        return None;
    }
    let mut call = if compat { calls::ia32(nr)? } else { calls::x86_64(nr)? };
    if compat && nr == SOCKETCALL {
        call = socketcall(&mut args)?;
    }
    if call.syscall == Syscall::Ptrace && !hooks_guard {
        let sensor = settings::sensor_tgid();
        if sensor != 0 && args[1] as u32 == sensor {
            tamper::seen(&process, TAMPER_PTRACE, args[0] as u32, sensor);
        }
    }
    save(pid_tgid, &process, call, &args, compat)
}

/// Decodes an ia32 `socketcall(call, args)`: the socket calls the sensor captures, with their
/// arguments read from the caller's array of 32-bit values.
#[inline(always)]
fn socketcall(args: &mut [u64; 6]) -> Option<Call> {
    let syscall = match args[0] {
        SYS_CONNECT => Syscall::Connect,
        SYS_BIND => Syscall::Bind,
        SYS_LISTEN => Syscall::Listen,
        _ => return None,
    };
    let values = unsafe { bpf_probe_read_user(args[1] as *const [u32; 3]) }.ok()?;
    *args = [values[0] as u64, values[1] as u64, values[2] as u64, 0, 0, 0];
    let family = if syscall == Syscall::Connect {
        Family::Connect
    } else {
        Family::Plain
    };
    Some(Call { syscall, family })
}

/// Saves the call of a tracked thread for its exit (and copies what must be copied at entry).
#[inline(always)]
fn save(pid_tgid: u64, process: &TrackedProcess, call: Call, args: &[u64; 6], compat: bool) -> Option<Next> {
    let pending = unsafe { &mut *PENDING_SCRATCH.get_ptr_mut(0)? };
    pending.session_id = process.session_id;
    pending.syscall = call.syscall as u16;
    pending.flags = if compat { PENDING_COMPAT } else { 0 };
    pending.family = call.family as u16;
    pending.reserved = 0;
    pending.args = *args;
    if call.syscall == Syscall::Openat2 {
        // struct open_how { u64 flags; u64 mode; u64 resolve; }
        let how = args[2];
        pending.args[2] = unsafe { bpf_probe_read_user(how as *const u64) }.unwrap_or(0);
        pending.args[3] = unsafe { bpf_probe_read_user((how + 8) as *const u64) }.unwrap_or(0);
    }
    if copies_paths(call) && copy_paths(pid_tgid, call.syscall, args) {
        pending.flags |= PENDING_HAS_PATHS;
    }
    if call.syscall == Syscall::IoUringSetup && io_uring_refused() {
        // The tracepoint backend cannot stop a ring's batched requests one by one: in enforce
        // mode a session whose file operations only it judges gets no ring.
        kill_current();
        pending.flags |= PENDING_KILLED;
    }
    if PENDING.insert(&pid_tgid, &*pending, 0).is_err() {
        count(Counter::PendingFull);
        if pending.flags & PENDING_HAS_PATHS != 0 {
            let _ = PENDING_PATHS.remove(&pid_tgid);
        }
        return None;
    }
    if compat {
        return Some(Next::Compat);
    }
    Some(if judged_at_entry(call) { Next::Judge } else { Next::Done })
}

/// True in enforce mode when the tracepoint backend judges file operations.
#[inline(always)]
fn io_uring_refused() -> bool {
    let Some(config) = policy::config() else {
        return false;
    };
    config.enforce != 0
        && [
            PolicyOp::OpenRead,
            PolicyOp::OpenWrite,
            PolicyOp::Unlink,
            PolicyOp::Rename,
        ]
        .iter()
        .any(|op| policy::judging(*op, BACKEND_TRACEPOINT).is_some())
}

/// Calls whose path or address arguments are copied at entry.
#[inline(always)]
fn copies_paths(call: Call) -> bool {
    matches!(call.family, Family::Remove | Family::Paths | Family::Connect)
        || matches!(call.syscall, Syscall::Bind | Syscall::MemfdCreate | Syscall::Fsetxattr)
}

/// Calls the tracepoint backend judges at entry (their exit would be too late).
#[inline(always)]
fn judged_at_entry(call: Call) -> bool {
    matches!(
        call.syscall,
        Syscall::Unlink
            | Syscall::Unlinkat
            | Syscall::Rmdir
            | Syscall::Rename
            | Syscall::Renameat
            | Syscall::Renameat2
            | Syscall::Link
            | Syscall::Linkat
            | Syscall::Symlink
            | Syscall::Symlinkat
            | Syscall::Truncate
            | Syscall::Ftruncate
    )
}

/// Where a call's string arguments are: (first, second), as argument indexes (`NONE`: absent).
const NONE: usize = 6;

#[inline(always)]
fn string_args(syscall: Syscall) -> (usize, usize) {
    use Syscall as S;
    match syscall {
        S::Unlink | S::Rmdir | S::Truncate | S::Chmod | S::Chown | S::Lchown | S::Umount2 | S::Mkdir | S::Execve => {
            (0, NONE)
        }
        S::Unlinkat | S::Fchmodat | S::Fchmodat2 | S::Fchownat | S::Mkdirat | S::Execveat => (1, NONE),
        S::Rename | S::Link => (0, 1),
        S::Renameat | S::Renameat2 | S::Linkat => (1, 3),
        // symlink(target, linkpath), symlinkat(target, newdirfd, linkpath)
        S::Symlink => (0, 1),
        S::Symlinkat => (0, 2),
        // setxattr(path, name, …): the path, then the attribute's name
        S::Setxattr | S::Lsetxattr => (0, 1),
        S::Fsetxattr => (NONE, 1),
        // mount(source, target, fstype, …): source and target; the type is read at exit
        S::Mount => (0, 1),
        // move_mount(from_dfd, from_path, to_dfd, to_path, flags)
        S::MoveMount => (1, 3),
        S::MemfdCreate => (0, NONE),
        _ => (NONE, NONE),
    }
}

/// Copies the path (or socket address) arguments of a call into `PENDING_PATHS`.
#[inline(always)]
fn copy_paths(pid_tgid: u64, syscall: Syscall, args: &[u64; 6]) -> bool {
    let Some(paths) = PENDING_PATHS_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let paths = unsafe { &mut *paths };
    paths.flags = 0;
    paths.first_len = 0;
    paths.second_len = 0;
    if matches!(syscall, Syscall::Connect | Syscall::Bind) {
        copy_sockaddr(paths, args[1], args[2]);
    } else {
        let (first, second) = string_args(syscall);
        if first < NONE {
            let n = copy_str(&mut paths.first, arg_at(args, first));
            if n >= 0 {
                paths.flags |= FIRST_COMPLETE;
                paths.first_len = n as u32;
            }
        }
        if second < NONE {
            let n = copy_str(&mut paths.second, arg_at(args, second));
            if n >= 0 {
                paths.flags |= SECOND_COMPLETE;
                paths.second_len = n as u32;
            }
        }
    }
    PENDING_PATHS.insert(&pid_tgid, &*paths, 0).is_ok()
}

/// Argument `index` (0 to 5).
#[inline(always)]
fn arg_at(args: &[u64; 6], index: usize) -> u64 {
    match index {
        0 => args[0],
        1 => args[1],
        2 => args[2],
        3 => args[3],
        4 => args[4],
        5 => args[5],
        _ => 0,
    }
}

/// Copies a NUL-terminated user string; its length without the NUL, or -1 when it does not fit
/// (the exit then reads it from the caller's memory, marked as read late).
#[inline(always)]
fn copy_str(dst: &mut [u8; INLINE_SIZE], src: u64) -> i64 {
    if src == 0 {
        return -1;
    }
    let n = unsafe { bpf_probe_read_user_str(dst.as_mut_ptr() as *mut _, INLINE_SIZE as u32, src as *const _) };
    if n > 0 && (n as usize) < INLINE_SIZE { n - 1 } else { -1 }
}

/// Copies a socket address (at most the size of `sockaddr_un`).
#[inline(always)]
fn copy_sockaddr(paths: &mut PendingPaths, src: u64, len: u64) {
    let mut len = len as usize;
    if len > MAX_UNIX_PATH + 2 {
        len = MAX_UNIX_PATH + 2;
    }
    if len < 2 {
        return;
    }
    let ret = unsafe { probe_read_user_raw(paths.first.as_mut_ptr() as *mut _, len as u32, src as *const _) };
    if ret == 0 {
        paths.flags |= FIRST_SOCKADDR;
        paths.first_len = len as u32;
    }
}
