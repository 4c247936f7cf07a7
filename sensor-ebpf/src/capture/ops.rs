//! The generic operations (`SyscallEvent`): renames, links, truncation, permission and owner
//! changes, extended attributes, mounts, namespaces, memfd, failed execs, listeners, ptrace,
//! io_uring set-up. Written at syscall exit for 64-bit calls and at entry for 32-bit ones (see
//! `compat`); each field's meaning per call is in `sensor_common::event::SyscallEvent`.
//!
//! Lineage: a rename or link by the session carries "written by the session" from the old name
//! to the new one (by path hash: the inode keeps its mark by itself), and a memfd the session
//! creates counts as written by it.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, bpf_probe_read_user},
    macros::map,
    maps::PerCpuArray,
    programs::TracePointContext,
};
use sensor_common::abi::{AF_INET, AF_INET6};
use sensor_common::event::{
    EVENT_SYSCALL, MAX_COMPONENT, SYSCALL_AT_ENTRY, SYSCALL_COMPAT, StrRef, Syscall, SyscallEvent,
};

use super::{
    exit::{call_flags, finish, handed_over, pending, ret},
    strings::{Which, append_argument, append_base, append_base_shared, split},
};
use crate::{
    calls::Family,
    kernel::{self, AT_FDCWD, read, read_ptr},
    maps::ROUTE_REPORTED,
    paths::{Hashing, append_path},
    pending::{FIRST_SOCKADDR, PENDING_PATHS, PendingCall, PendingPaths},
    policy::{self, path_key::PathKey, written},
    record::{Record, Ring},
    settings::offset,
};

const ENOENT: i64 = 2;
const ENOTDIR: i64 = 20;

/// Reports the pending 32-bit call of the current thread (at entry: its outcome is unknown).
pub fn emit_pending_compat() {
    let Some((pid_tgid, call, paths)) = pending() else {
        return;
    };
    emit(call, paths, 0, (SYSCALL_COMPAT | SYSCALL_AT_ENTRY) as u64);
    if call.family == Family::Connect as u16 {
        // The cgroup connect programs that run inside this call leave it to this record.
        let now = unsafe { bpf_ktime_get_boot_ns() };
        let _ = ROUTE_REPORTED.insert(&pid_tgid, &now, 0);
    }
}

/// The exit of a generic operation.
pub fn on_exit_operation(ctx: &TracePointContext) -> Option<()> {
    let (pid_tgid, call, paths) = handed_over()?;
    let result = ret(ctx);
    let syscall = Syscall::from_u16(call.syscall);
    // Execs are reported by `sched_process_exec` when they succeed; a failed one is reported
    // when it failed on the file itself (ENOEXEC: a shell may then run it as a script; EACCES,
    // …), not when a PATH search simply did not find it there.
    let exec = matches!(syscall, Some(Syscall::Execve | Syscall::Execveat));
    let searched = result >= 0 || result == -ENOENT || result == -ENOTDIR;
    if let Some(syscall) = syscall
        && !(exec && searched)
    {
        emit(call, paths, result, call_flags(call) as u64);
        if result >= 0 {
            lineage(call, syscall, paths, result);
        }
    }
    finish(pid_tgid, call);
    Some(())
}

/// Where each part of a call's record comes from.
#[repr(C)]
pub struct Layout {
    dirfd: i32,
    dirfd2: i32,
    /// The first and second path arguments are there (`None`: the call has none).
    first: Option<u64>,
    second: Option<u64>,
    /// The first (or second) "path" argument is really a name or a target string (`text`).
    first_is_text: bool,
    second_is_text: bool,
    /// A descriptor whose file the call acts on.
    fd: Option<i64>,
    args: [u64; 4],
}

/// Per-CPU layout of the generic record being written (see `capture::ops`).
#[map]
pub static LAYOUT: PerCpuArray<Layout> = PerCpuArray::with_max_entries(1, 0);

/// The layout of `syscall`'s record, in per-CPU map memory (the record's call chain is deep and
/// programs have 512 bytes of stack for all of it).
#[inline(never)]
fn layout(syscall: Syscall, a: &[u64; 6]) -> Option<&'static mut Layout> {
    use Syscall as S;
    let l = unsafe { &mut *LAYOUT.get_ptr_mut(0)? };
    *l = Layout {
        dirfd: AT_FDCWD,
        dirfd2: AT_FDCWD,
        first: None,
        second: None,
        first_is_text: false,
        second_is_text: false,
        fd: None,
        args: [0; 4],
    };
    match syscall {
        // The calls below have records of their own at exit; a 32-bit one is reported here.
        S::Open | S::Creat | S::Unlink | S::Rmdir | S::Chdir => {
            l.first = Some(a[0]);
            l.args = [a[1], a[2], 0, 0];
        }
        S::Openat | S::Openat2 => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args = [a[2], a[3], 0, 0];
        }
        S::Unlinkat => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args[0] = a[2];
        }
        S::Fchdir => l.dirfd = a[0] as i32,
        S::Connect => l.dirfd = a[0] as i32,
        S::Rename | S::Link => {
            l.first = Some(a[0]);
            l.second = Some(a[1]);
        }
        S::Renameat | S::Renameat2 | S::Linkat => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.dirfd2 = a[2] as i32;
            l.second = Some(a[3]);
            l.args[0] = if syscall == S::Renameat { 0 } else { a[4] };
        }
        S::Symlink => {
            l.first = Some(a[0]);
            l.first_is_text = true;
            l.second = Some(a[1]);
        }
        S::Symlinkat => {
            l.first = Some(a[0]);
            l.first_is_text = true;
            l.dirfd2 = a[1] as i32;
            l.second = Some(a[2]);
        }
        S::Truncate | S::Chmod | S::Umount2 | S::Mkdir => {
            l.first = Some(a[0]);
            l.args[0] = a[1];
        }
        S::Chown | S::Lchown => {
            l.first = Some(a[0]);
            l.args = [a[1], a[2], 0, 0];
        }
        S::Fchmodat | S::Fchmodat2 => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args = [a[2], a[3], 0, 0];
        }
        S::Fchownat => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args = [a[2], a[3], a[4], 0];
        }
        S::Mkdirat => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args[0] = a[2];
        }
        S::Ftruncate | S::Fchmod => {
            l.fd = Some(a[0] as i64);
            l.dirfd = a[0] as i32;
            l.args[0] = a[1];
        }
        S::Fchown => {
            l.fd = Some(a[0] as i64);
            l.dirfd = a[0] as i32;
            l.args = [a[1], a[2], 0, 0];
        }
        S::Setxattr | S::Lsetxattr => {
            l.first = Some(a[0]);
            l.second = Some(a[1]);
            l.second_is_text = true;
            l.args = [a[3], a[4], 0, 0];
        }
        S::Fsetxattr => {
            l.fd = Some(a[0] as i64);
            l.dirfd = a[0] as i32;
            l.second = Some(a[1]);
            l.second_is_text = true;
            l.args = [a[3], a[4], 0, 0];
        }
        S::Mount => {
            l.first = Some(a[0]);
            l.second = Some(a[1]);
            l.args[0] = a[3];
        }
        S::MoveMount => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.dirfd2 = a[2] as i32;
            l.second = Some(a[3]);
            l.args[0] = a[4];
        }
        S::Execve => l.first = Some(a[0]),
        S::Execveat => {
            l.dirfd = a[0] as i32;
            l.first = Some(a[1]);
            l.args[0] = a[4];
        }
        S::MemfdCreate => {
            l.first = Some(a[0]);
            l.first_is_text = true;
            l.args[0] = a[1];
        }
        S::Setns => {
            l.dirfd = a[0] as i32;
            l.args[0] = a[1];
        }
        S::Bind | S::Listen => {
            l.dirfd = a[0] as i32;
            l.args[0] = a[1];
        }
        S::Ptrace => l.args = [a[0], a[1], 0, 0],
        S::IoUringSetup => {
            // struct io_uring_params { u32 sq_entries, cq_entries, flags, … }
            let flags = unsafe { bpf_probe_read_user((a[1] + 8) as *const u32) }.unwrap_or(0);
            l.args = [a[0], flags as u64, 0, 0];
        }
        _ => l.args = [a[0], a[1], a[2], a[3]],
    }
    Some(l)
}

/// Writes the `SyscallEvent` of `call` (`flags`: `SYSCALL_*`).
#[inline(never)]
pub fn emit(call: &PendingCall, paths: Option<&PendingPaths>, result: i64, flags: u64) {
    let Some(syscall) = Syscall::from_u16(call.syscall) else {
        return;
    };
    let flags = flags as u16;
    let Some(l) = layout(syscall, &call.args) else {
        return;
    };
    let Some(mut rec) = Record::start::<SyscallEvent>() else {
        return;
    };
    // The fixed part is filled in place (in map memory): stack is scarce on this call chain.
    let event = rec.fixed::<SyscallEvent>() as *mut SyscallEvent;
    rec.clear_fixed::<SyscallEvent>();
    let event = unsafe { &mut *event };
    event.syscall = syscall as u16;
    event.flags = flags;
    event.dirfd = l.dirfd;
    event.dirfd2 = l.dirfd2;
    event.ret = result;
    // Element by element: a whole-array copy becomes a byte-by-byte `memmove` call.
    event.args[0] = l.args[0];
    event.args[1] = l.args[1];
    event.args[2] = l.args[2];
    event.args[3] = l.args[3];
    if let Some(user) = l.first {
        let s = append_argument(&mut rec, paths, Which::First, user);
        if l.first_is_text {
            event.text = s;
        } else {
            event.path = s;
            event.base = append_base_shared(&mut rec, s, l.dirfd);
        }
    }
    if let Some(user) = l.second {
        let s = append_argument(&mut rec, paths, Which::Second, user);
        if l.second_is_text {
            event.text = s;
        } else {
            event.path2 = s;
            event.base2 = append_base_shared(&mut rec, s, l.dirfd2);
        }
    }
    let task = kernel::current_task();
    let fd = match syscall {
        Syscall::MemfdCreate if result >= 0 => Some(result),
        _ => l.fd,
    };
    if let Some(file) = fd.and_then(|fd| kernel::fd_file(task, fd)) {
        event.object = kernel::file_identity(file);
        event.path = append_path(&mut rec, kernel::file_path(file));
    }
    match syscall {
        Syscall::Mount => event.text = rec.user_str::<MAX_COMPONENT>(call.args[2]),
        Syscall::Bind | Syscall::Connect => event.text = sockaddr_argument(&mut rec, paths),
        Syscall::Listen => event.text = local_address(&mut rec, task, call.args[0] as i64),
        _ => {}
    }
    rec.submit_to(Ring::Events, EVENT_SYSCALL, 0, call.session_id);
}

/// The socket address a bind passed, as copied at entry.
#[inline(never)]
fn sockaddr_argument(rec: &mut Record, paths: Option<&PendingPaths>) -> StrRef {
    match paths {
        Some(paths) if paths.flags & FIRST_SOCKADDR != 0 => {
            rec.copy::<{ crate::pending::INLINE_SIZE }>(paths.first.as_ptr(), paths.first_len as usize)
        }
        _ => StrRef::default(),
    }
}

/// The address a listening socket is bound to, as a `sockaddr_in` / `sockaddr_in6`.
#[inline(never)]
fn local_address(rec: &mut Record, task: u64, fd: i64) -> StrRef {
    let Some(sk) = kernel::fd_file(task, fd)
        .and_then(|file| read_ptr(file + offset!(file_private_data)))
        .and_then(|socket| read_ptr(socket + offset!(socket_sk)))
    else {
        return StrRef::default();
    };
    let family = read::<u16>(sk + offset!(skc_family)).unwrap_or(0);
    let port = read::<u16>(sk + offset!(skc_num)).unwrap_or(0).to_be_bytes();
    let mut sockaddr = [0u8; 24];
    sockaddr[..2].copy_from_slice(&family.to_ne_bytes());
    sockaddr[2] = port[0];
    sockaddr[3] = port[1];
    let len = match family {
        AF_INET => {
            let addr = read::<[u8; 4]>(sk + offset!(skc_rcv_saddr)).unwrap_or([0; 4]);
            sockaddr[4..8].copy_from_slice(&addr);
            16
        }
        AF_INET6 => {
            let addr = read::<[u8; 16]>(sk + offset!(skc_v6_rcv_saddr)).unwrap_or([0; 16]);
            sockaddr[8..24].copy_from_slice(&addr);
            24
        }
        _ => return StrRef::default(),
    };
    rec.copy::<24>(sockaddr.as_ptr(), len)
}

/// After a successful rename or link: the new name was written by the session when the old one
/// was (scripts given to interpreters are known by path, on every backend). A memfd is written by the session that made it.
#[inline(never)]
fn lineage(call: &PendingCall, syscall: Syscall, paths: Option<&PendingPaths>, result: i64) {
    let Some(config) = policy::config() else {
        return;
    };
    if config.track_written == 0 {
        return;
    }
    if syscall == Syscall::MemfdCreate {
        if let Some(file) = kernel::fd_file(kernel::current_task(), result) {
            written::remember(call.session_id, file, None);
        }
        return;
    }
    if !matches!(
        syscall,
        Syscall::Rename | Syscall::Renameat | Syscall::Renameat2 | Syscall::Link | Syscall::Linkat
    ) || !policy::scripts_judged(config)
    {
        return;
    }
    let Some(l) = layout(syscall, &call.args) else {
        return;
    };
    let (Some(first), Some(second)) = (l.first, l.second) else {
        return;
    };
    let (dirfd, dirfd2) = (l.dirfd, l.dirfd2);
    let has_paths = paths.is_some() as u64;
    let old = argument_hash_global(config.seed, has_paths << 1, first, dirfd as u64);
    if old == NO_HASH || !written::path_written(call.session_id, old) {
        return;
    }
    let new = argument_hash_global(config.seed, has_paths << 1 | 1, second, dirfd2 as u64);
    if new != NO_HASH {
        written::remember_path(call.session_id, new);
    }
}

/// What [`argument_hash_global`] returns when the path could not be read (a path whose hash is
/// 0, one in 2^64, is taken as unread: its lineage is not followed).
const NO_HASH: u64 = 0;

/// [`argument_hash`] as a global BPF function, which the verifier checks once instead of once
/// per call: each of its two calls walked a directory and hashed a path, and verifying them
/// took two thirds of this program's verification. `how`: bit 0, the second argument; bit 1,
/// the pending call has copied paths.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn argument_hash_global(seed: u64, how: u64, user: u64, dirfd: u64) -> u64 {
    let paths = if how & 2 != 0 {
        PENDING_PATHS
            .get_ptr(&bpf_get_current_pid_tgid())
            .map(|paths| unsafe { &*paths })
    } else {
        None
    };
    let which = if how & 1 != 0 { Which::Second } else { Which::First };
    argument_hash(seed, paths, which, user, dirfd as i32).unwrap_or(NO_HASH)
}

/// The path hash of a path argument (resolved against its directory, lexically).
#[inline(always)]
fn argument_hash(seed: u64, paths: Option<&PendingPaths>, which: Which, user: u64, dirfd: i32) -> Option<u64> {
    let mut rec = Record::start_in::<SyscallEvent>(crate::record::POLICY_SCRATCH)?;
    let s = append_argument(&mut rec, paths, which, user);
    let key = PathKey::root(seed)?;
    append_base(&mut rec, s, dirfd, Some(&mut *key), Hashing::Key);
    key.push_string(&rec, split(&rec, s).1);
    Some(key.full())
}
