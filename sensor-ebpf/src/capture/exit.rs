//! Syscall exit: one program attached to the `sys_exit_<call>` tracepoint of every captured
//! 64-bit call. A thread without a pending call (untracked) leaves after one lookup. Small
//! records are written here; opens and the generic operations go to tail-called programs.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::map,
    maps::PerCpuArray,
    programs::TracePointContext,
};
use sensor_common::abi::{AF_INET, AF_INET6, AF_UNIX};
use sensor_common::event::{
    CONNECT_UNREADABLE, ChdirEvent, ConnectEvent, EVENT_CHDIR, EVENT_CONNECT, EVENT_UNLINK, MAX_UNIX_PATH,
    RESOLVED_BASE, RESOLVED_NONE, ROUTE_SYSCALL, SYSCALL_KILLED, SYSCALL_UNREADABLE, StrRef, Syscall, UnlinkEvent,
};
use sensor_common::maps::Counter;

use super::strings::{Which, append_argument, append_base};
use crate::{
    calls::Family,
    counters::count,
    kernel,
    paths::{Hashing, append_path},
    pending::{
        FIRST_SOCKADDR, PENDING, PENDING_HAS_PATHS, PENDING_KILLED, PENDING_PATHS, PENDING_UNREADABLE, PendingCall,
        PendingPaths,
    },
    record::Record,
};

/// The return value of a `sys_exit_*` tracepoint (stable ABI: 8 bytes at offset 16).
#[inline(always)]
pub fn ret(ctx: &TracePointContext) -> i64 {
    unsafe { *(ctx.as_ptr().add(16) as *const i64) }
}

/// What the exit program does next.
pub enum Next {
    /// Tail-call the open program.
    Open,
    /// Tail-call the program of the generic operations.
    Operation,
}

/// The pending call of the current thread and its copied paths.
#[inline(always)]
pub fn pending() -> Option<(u64, &'static PendingCall, Option<&'static PendingPaths>)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let call = unsafe { &*PENDING.get_ptr(&pid_tgid)? };
    Some((pid_tgid, call, paths_of(pid_tgid, call)))
}

#[inline(always)]
fn paths_of(pid_tgid: u64, call: &PendingCall) -> Option<&'static PendingPaths> {
    if call.flags & PENDING_HAS_PATHS != 0 {
        PENDING_PATHS.get_ptr(&pid_tgid).map(|paths| unsafe { &*paths })
    } else {
        None
    }
}

/// The pending call `sys_exit` found, copied for the programs it tail-calls (which run next, on
/// this CPU): each of them would otherwise look it up in `PENDING` again, and a hash lookup
/// costs more than the copy.
#[map]
static EXITING: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);

/// Copies `call` for the program `sys_exit` tail-calls; false when it could not.
#[inline(always)]
fn hand_over(call: &PendingCall) -> bool {
    let Some(slot) = EXITING.get_ptr_mut(0) else {
        return false;
    };
    // Word by word: a plain struct copy between two map values may become a call of a
    // byte-by-byte `memmove`.
    let from = call as *const PendingCall as *const u64;
    let to = slot as *mut u64;
    let mut i = 0;
    while i < size_of::<PendingCall>() / 8 {
        unsafe { core::ptr::write_volatile(to.add(i), core::ptr::read_volatile(from.add(i))) };
        i += 1;
    }
    true
}

/// The pending call of the current thread as `sys_exit` handed it over (see `EXITING`), and
/// its copied paths; for the programs `sys_exit` tail-calls.
#[inline(always)]
pub fn handed_over() -> Option<(u64, &'static PendingCall, Option<&'static PendingPaths>)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let call = unsafe { &*EXITING.get_ptr(0)? };
    Some((pid_tgid, call, paths_of(pid_tgid, call)))
}

/// Forgets the pending call of thread `pid_tgid`.
#[inline(always)]
pub fn finish(pid_tgid: u64, call: &PendingCall) {
    if call.flags & PENDING_HAS_PATHS != 0 {
        let _ = PENDING_PATHS.remove(&pid_tgid);
    }
    let _ = PENDING.remove(&pid_tgid);
}

/// Forgets the pending call of the current thread (when the program that was to finish it
/// could not run).
#[inline(always)]
pub fn forget_current() {
    let pid_tgid = bpf_get_current_pid_tgid();
    let _ = PENDING_PATHS.remove(&pid_tgid);
    let _ = PENDING.remove(&pid_tgid);
}

pub fn on_exit(ctx: &TracePointContext) -> Option<Next> {
    let (pid_tgid, call, paths) = pending()?;
    let result = ret(ctx);
    match Family::from_u16(call.family) {
        Some(Family::Open) if hand_over(call) => return Some(Next::Open),
        Some(Family::Paths | Family::OnFd | Family::Plain) if hand_over(call) => return Some(Next::Operation),
        Some(Family::Remove) => emit_unlink(call, paths, result),
        Some(Family::Connect) => emit_connect(call, paths, result),
        Some(Family::Chdir) if result == 0 => emit_chdir(call),
        _ => {}
    }
    finish(pid_tgid, call);
    None
}

fn emit_unlink(call: &PendingCall, paths: Option<&PendingPaths>, result: i64) {
    let a = call.args;
    let (dirfd, path_ptr, flags) = match Syscall::from_u16(call.syscall) {
        Some(Syscall::Unlinkat) => (a[0] as i32, a[1], a[2]),
        _ => (kernel::AT_FDCWD, a[0], 0),
    };
    let Some(mut rec) = Record::start::<UnlinkEvent>() else {
        return;
    };
    let path = append_argument(&mut rec, paths, Which::First, path_ptr);
    let base = append_base(&mut rec, path, dirfd, None, Hashing::None);
    let event = rec.fixed::<UnlinkEvent>();
    event.syscall = call.syscall;
    event.resolved_kind = if base.len > 0 { RESOLVED_BASE } else { RESOLVED_NONE };
    event.dirfd = dirfd;
    event.flags = flags as u32;
    event.call_flags = call_flags(call);
    event.ret = result;
    event.path = path;
    event.base = base;
    rec.submit(EVENT_UNLINK, 0, call.session_id);
}

/// What the kernel did at the call's entry, as `SYSCALL_*` flags.
#[inline(always)]
pub fn call_flags(call: &PendingCall) -> u32 {
    let mut flags = 0;
    if call.flags & PENDING_KILLED != 0 {
        flags |= SYSCALL_KILLED;
    }
    if call.flags & PENDING_UNREADABLE != 0 {
        flags |= SYSCALL_UNREADABLE;
    }
    flags as u32
}

fn emit_connect(call: &PendingCall, paths: Option<&PendingPaths>, result: i64) {
    let Some(paths) = paths else {
        return;
    };
    if paths.flags & FIRST_SOCKADDR == 0 {
        // Unreadable at entry: the cgroup programs reported an IP destination from the kernel's
        // copy; a unix socket's path is read now, after the call.
        emit_late_unix_connect(call, result);
        return;
    }
    let flags = 0;
    let raw = &paths.first;
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
            let len = paths.first_len as usize;
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
    event.route = ROUTE_SYSCALL;
    event.protocol = 0;
    event.flags = flags;
    rec.submit(EVENT_CONNECT, 0, call.session_id);
}

/// The connect of a unix socket whose address could not be read at entry, read after the call.
fn emit_late_unix_connect(call: &PendingCall, result: i64) {
    let (address, len) = (call.args[1], call.args[2]);
    let family = unsafe { bpf_probe_read_user(address as *const u16) }.unwrap_or(0);
    if family != AF_UNIX {
        return;
    }
    count(Counter::UnreadableArgument);
    let Some(mut rec) = Record::start::<ConnectEvent>() else {
        return;
    };
    let path_len = if len > 2 { len - 2 } else { 0 };
    let unix_path = rec.user_bytes::<MAX_UNIX_PATH>(address + 2, path_len);
    let event = rec.fixed::<ConnectEvent>();
    event.fd = call.args[0] as i32;
    event.family = AF_UNIX;
    event.port_be = 0;
    event.ret = result;
    event.addr = [0; 16];
    event.unix_path = unix_path;
    event.route = ROUTE_SYSCALL;
    event.protocol = 0;
    event.flags = CONNECT_UNREADABLE;
    rec.submit(EVENT_CONNECT, 0, call.session_id);
}

fn emit_chdir(call: &PendingCall) {
    let Some(mut rec) = Record::start::<ChdirEvent>() else {
        return;
    };
    let cwd = match kernel::cwd_path(kernel::current_task()) {
        Some(path) => append_path(&mut rec, path),
        None => StrRef::default(),
    };
    let event = rec.fixed::<ChdirEvent>();
    event.syscall = call.syscall;
    event.reserved = [0; 3];
    event.ret = 0;
    event.cwd = cwd;
    rec.submit(EVENT_CHDIR, 0, call.session_id);
}
