//! File, network and working-directory syscalls of tracked processes: open, openat, openat2,
//! creat, unlink, unlinkat, rmdir, connect, chdir, fchdir.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, generated::bpf_probe_read_user_str},
    programs::TracePointContext,
};
use sensor_common::{
    event::{
        ChdirEvent, ConnectEvent, EVENT_CHDIR, EVENT_CONNECT, EVENT_OPEN, EVENT_UNLINK, MAX_PATH, MAX_UNIX_PATH,
        OpenEvent, PolicyEvent, RESOLVED_BASE, RESOLVED_FILE, RESOLVED_NONE, StrRef, Syscall, UnlinkEvent,
    },
    maps::{Counter, TrackedProcess},
    policy::{BACKEND_TRACEPOINT, PolicyOp},
};

use super::fallback;
use crate::{
    counters::count,
    kernel::{self, AT_FDCWD},
    maps::{PENDING, PENDING_SCRATCH, TRACKED},
    paths::append_path,
    pending::{INLINE_SIZE, INLINE_SOCKADDR, INLINE_STR_COMPLETE, PendingCall},
    policy::{self, act::kill_if_session_killed},
    record::{POLICY_SCRATCH, Record},
};

const O_WRONLY: u64 = 0o1;
const O_RDWR: u64 = 0o2;
const AT_REMOVEDIR: u64 = 0x200;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Reads the `index`th argument of a `sys_enter_*` tracepoint (stable ABI: 8 bytes each from 16).
#[inline(always)]
fn arg(ctx: &TracePointContext, index: usize) -> u64 {
    unsafe { *(ctx.as_ptr().add(16 + index * 8) as *const u64) }
}

/// The return value of a `sys_exit_*` tracepoint.
#[inline(always)]
fn ret(ctx: &TracePointContext) -> i64 {
    unsafe { *(ctx.as_ptr().add(16) as *const i64) }
}

/// Saves the arguments of a syscall of a tracked thread until its exit. `ARGS` is how many
/// arguments the syscall has: the program may not read past the end of its tracepoint record.
/// Returns true when the call is an unlink or rmdir the tracepoint backend must judge (the caller
/// then tail-calls `remove_policy`).
pub fn on_enter<const ARGS: usize>(ctx: &TracePointContext, syscall: Syscall) -> Option<bool> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let process = unsafe { TRACKED.get(&tgid) }.copied()?;
    kill_if_session_killed(process.session_id);
    let call = unsafe { &mut *PENDING_SCRATCH.get_ptr_mut(0)? };
    call.session_id = process.session_id;
    call.syscall = syscall as u16;
    call.inline_flags = 0;
    call.inline_len = 0;
    call.args = [0; 4];
    for index in 0..4 {
        if index < ARGS {
            call.args[index] = arg(ctx, index);
        }
    }
    match syscall {
        Syscall::Openat2 => {
            // struct open_how { u64 flags; u64 mode; u64 resolve; }
            let how = call.args[2];
            call.args[2] = unsafe { bpf_probe_read_user(how as *const u64) }.unwrap_or(0);
            call.args[3] = unsafe { bpf_probe_read_user((how + 8) as *const u64) }.unwrap_or(0);
        }
        Syscall::Unlink | Syscall::Rmdir => copy_path(call, call.args[0]),
        Syscall::Unlinkat => copy_path(call, call.args[1]),
        Syscall::Connect => {
            let mut len = call.args[2] as usize;
            if len > 128 {
                len = 128;
            }
            if len >= 2 {
                let ret = unsafe {
                    aya_ebpf::helpers::generated::bpf_probe_read_user(
                        call.inline.as_mut_ptr() as *mut _,
                        len as u32,
                        call.args[1] as *const _,
                    )
                };
                if ret == 0 {
                    call.inline_flags = INLINE_SOCKADDR;
                    call.inline_len = len as u32;
                }
            }
        }
        _ => {}
    }
    if PENDING.insert(pid_tgid, &*call, 0).is_err() {
        count(Counter::PendingFull);
        return Some(false);
    }
    let judge = matches!(syscall, Syscall::Unlink | Syscall::Unlinkat | Syscall::Rmdir)
        && (policy::judging(PolicyOp::Unlink, BACKEND_TRACEPOINT).is_some()
            || policy::judging(PolicyOp::Rmdir, BACKEND_TRACEPOINT).is_some());
    Some(judge)
}

/// The tail-called program of unlink and rmdir entries: judges the pending call of this thread.
pub fn judge_pending_remove() -> Option<()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let process = unsafe { TRACKED.get(&tgid) }.copied()?;
    let call = unsafe { &*PENDING.get_ptr(pid_tgid)? };
    let syscall = Syscall::from_u16(call.syscall)?;
    judge_remove(&process, call, syscall);
    Some(())
}

/// The tracepoint backend of unlink and rmdir: judged at entry (see `fallback`).
#[inline(always)]
fn judge_remove(process: &TrackedProcess, call: &PendingCall, syscall: Syscall) {
    let a = call.args;
    let (dirfd, path_ptr, op) = match syscall {
        Syscall::Unlinkat if a[2] & AT_REMOVEDIR != 0 => (a[0] as i32, a[1], PolicyOp::Rmdir),
        Syscall::Unlinkat => (a[0] as i32, a[1], PolicyOp::Unlink),
        Syscall::Rmdir => (AT_FDCWD, a[0], PolicyOp::Rmdir),
        _ => (AT_FDCWD, a[0], PolicyOp::Unlink),
    };
    if policy::judging(op, BACKEND_TRACEPOINT).is_none() {
        return;
    }
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let path = if call.inline_flags & INLINE_STR_COMPLETE != 0 {
        rec.copy::<INLINE_SIZE>(call.inline.as_ptr(), call.inline_len as usize)
    } else {
        rec.user_str::<MAX_PATH>(path_ptr)
    };
    fallback::before_remove(process, op, dirfd, rec, path);
}

/// Copies a path argument at entry, so a thread rewriting the buffer mid-call cannot hide it.
#[inline(always)]
fn copy_path(call: &mut PendingCall, src: u64) {
    let n = unsafe { bpf_probe_read_user_str(call.inline.as_mut_ptr() as *mut _, INLINE_SIZE as u32, src as *const _) };
    if n > 0 && (n as usize) < INLINE_SIZE {
        call.inline_flags = INLINE_STR_COMPLETE;
        call.inline_len = (n - 1) as u32;
    }
}

/// Writes the record of a finished syscall of a tracked thread.
/// Returns true when a successful open needs the policy's work (judging it, remembering a
/// write): the caller then tail-calls `open_policy`, which removes the pending call.
pub fn on_exit(ctx: &TracePointContext) -> Option<bool> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let call = PENDING.get_ptr(pid_tgid)?;
    let call = unsafe { &*call };
    let result = ret(ctx);
    let mut policy = false;
    match Syscall::from_u16(call.syscall) {
        Some(syscall @ (Syscall::Open | Syscall::Openat | Syscall::Openat2 | Syscall::Creat)) => {
            emit_open(call, syscall, result);
            policy = result >= 0 && fallback::open_needs_policy(open_flags(call, syscall));
        }
        Some(syscall @ (Syscall::Unlink | Syscall::Unlinkat | Syscall::Rmdir)) => emit_unlink(call, syscall, result),
        Some(Syscall::Connect) => emit_connect(call, result),
        Some(syscall @ (Syscall::Chdir | Syscall::Fchdir)) if result == 0 => emit_chdir(call, syscall),
        _ => {}
    }
    if !policy {
        let _ = PENDING.remove(pid_tgid);
    }
    Some(policy)
}

/// The tail-called policy work of a successful open (see `fallback::after_open`).
pub fn open_policy(ctx: &TracePointContext) -> Option<()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let call = unsafe { &*PENDING.get_ptr(pid_tgid)? };
    let session = call.session_id;
    let flags = Syscall::from_u16(call.syscall).map(|syscall| open_flags(call, syscall));
    let _ = PENDING.remove(pid_tgid);
    let flags = flags?;
    let file = kernel::fd_file(kernel::current_task(), ret(ctx))?;
    fallback::after_open(session, file, flags as u32, is_write(flags));
    Some(())
}

/// The open flags of a pending open (creat's are implied).
#[inline(always)]
fn open_flags(call: &PendingCall, syscall: Syscall) -> u64 {
    match syscall {
        Syscall::Open => call.args[1],
        Syscall::Creat => O_CREAT | O_WRONLY | O_TRUNC,
        _ => call.args[2],
    }
}

/// Write access, `O_CREAT` or `O_TRUNC`.
#[inline(always)]
fn is_write(flags: u64) -> bool {
    flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) != 0
}

#[inline(always)]
fn starts_with_slash(rec: &Record, s: StrRef) -> bool {
    s.len > 0 && rec.byte_at(s.offset as usize) == b'/'
}

fn emit_open(call: &PendingCall, syscall: Syscall, result: i64) {
    let a = call.args;
    let (dirfd, path, flags, mode) = match syscall {
        Syscall::Open => (AT_FDCWD, a[0], a[1], a[2]),
        Syscall::Creat => (AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]),
        _ => (a[0] as i32, a[1], a[2], a[3]),
    };
    let task = kernel::current_task();
    let file = if result >= 0 {
        kernel::fd_file(task, result)
    } else {
        None
    };
    let Some(mut rec) = Record::start::<OpenEvent>() else {
        return;
    };
    let path = rec.user_str::<MAX_PATH>(path);
    let (resolved_kind, resolved) = if result >= 0 {
        match file {
            Some(file) => (RESOLVED_FILE, append_path(&mut rec, kernel::file_path(file))),
            None => (RESOLVED_NONE, StrRef::default()),
        }
    } else if !starts_with_slash(&rec, path) {
        match kernel::base_dir_path(task, dirfd) {
            Some(base) => (RESOLVED_BASE, append_path(&mut rec, base)),
            None => (RESOLVED_NONE, StrRef::default()),
        }
    } else {
        (RESOLVED_NONE, StrRef::default())
    };
    let event = rec.fixed::<OpenEvent>();
    event.syscall = syscall as u16;
    event.resolved_kind = resolved_kind;
    event.dirfd = dirfd;
    event.flags = flags as u32;
    event.mode = mode as u32;
    event.ret = result;
    event.path = path;
    event.resolved = resolved;
    rec.submit(EVENT_OPEN, 0, call.session_id);
}

fn emit_unlink(call: &PendingCall, syscall: Syscall, result: i64) {
    let a = call.args;
    let (dirfd, path_ptr, flags) = match syscall {
        Syscall::Unlinkat => (a[0] as i32, a[1], a[2]),
        _ => (AT_FDCWD, a[0], 0),
    };
    let Some(mut rec) = Record::start::<UnlinkEvent>() else {
        return;
    };
    let path = if call.inline_flags & INLINE_STR_COMPLETE != 0 {
        rec.copy::<INLINE_SIZE>(call.inline.as_ptr(), call.inline_len as usize)
    } else {
        rec.user_str::<MAX_PATH>(path_ptr)
    };
    let (resolved_kind, base) = if starts_with_slash(&rec, path) {
        (RESOLVED_NONE, StrRef::default())
    } else {
        match kernel::base_dir_path(kernel::current_task(), dirfd) {
            Some(base) => (RESOLVED_BASE, append_path(&mut rec, base)),
            None => (RESOLVED_NONE, StrRef::default()),
        }
    };
    let event = rec.fixed::<UnlinkEvent>();
    event.syscall = syscall as u16;
    event.resolved_kind = resolved_kind;
    event.dirfd = dirfd;
    event.flags = flags as u32;
    event.reserved = 0;
    event.ret = result;
    event.path = path;
    event.base = base;
    rec.submit(EVENT_UNLINK, 0, call.session_id);
}

fn emit_connect(call: &PendingCall, result: i64) {
    if call.inline_flags & INLINE_SOCKADDR == 0 {
        return;
    }
    let raw = &call.inline;
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    if family != AF_INET && family != AF_INET6 && family != AF_UNIX {
        return;
    }
    let Some(mut rec) = Record::start::<ConnectEvent>() else {
        return;
    };
    let mut addr = [0u8; 16];
    let mut port_be = 0u16;
    let mut unix_path = StrRef::default();
    match family {
        AF_INET => {
            port_be = u16::from_ne_bytes([raw[2], raw[3]]);
            addr[..4].copy_from_slice(&raw[4..8]);
        }
        AF_INET6 => {
            port_be = u16::from_ne_bytes([raw[2], raw[3]]);
            addr.copy_from_slice(&raw[8..24]);
        }
        _ => {
            let len = call.inline_len as usize;
            let path_len = if len > 2 { len - 2 } else { 0 };
            unix_path = rec.copy::<MAX_UNIX_PATH>(raw[2..].as_ptr(), path_len);
        }
    }
    let event = rec.fixed::<ConnectEvent>();
    event.fd = call.args[0] as i32;
    event.family = family;
    event.port_be = port_be;
    event.ret = result;
    event.addr = addr;
    event.unix_path = unix_path;
    rec.submit(EVENT_CONNECT, 0, call.session_id);
}

fn emit_chdir(call: &PendingCall, syscall: Syscall) {
    let Some(mut rec) = Record::start::<ChdirEvent>() else {
        return;
    };
    let cwd = match kernel::cwd_path(kernel::current_task()) {
        Some(path) => append_path(&mut rec, path),
        None => StrRef::default(),
    };
    let event = rec.fixed::<ChdirEvent>();
    event.syscall = syscall as u16;
    event.reserved = [0; 3];
    event.ret = 0;
    event.cwd = cwd;
    rec.submit(EVENT_CHDIR, 0, call.session_id);
}
