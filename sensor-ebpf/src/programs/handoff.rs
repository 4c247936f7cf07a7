//! Hand-offs out of the session, judged by BPF LSM hooks before they happen: a tracked process
//! connecting to the unix socket of a server that runs commands for its clients (tmux, screen,
//! the systemd user manager's private socket) when that server is not a process of its session
//! (`unix_stream_connect`), and attach access to a process outside its session: ptrace attach,
//! process_vm_readv/writev, opening /proc/PID/mem (`ptrace_access_check` in attach mode, which
//! `tamper` owns and hands non-sensor targets to [`attach`]).
//!
//! The process at the other end is placed by its thread-group id in the tracked-process map: a
//! tmux server the session started itself is in it with the session's id, and stays allowed.

use aya_ebpf::{cty::c_void, programs::LsmContext};
use sensor_common::{
    event::{PolicyEvent, StrRef},
    hash::name_words_hash,
    maps::{SPAWNER_ANY_SOCKET, SPAWNER_PRIVATE_SOCKET, TrackedProcess},
    policy::{BACKEND_LSM, PolicyConfig, PolicyOp},
};

use super::lsm::verdict;
use crate::{
    kernel::{read, read_ptr},
    maps::SPAWNERS,
    policy::{
        self,
        check::{Handoff, Judging, judge_handoff},
    },
    record::{POLICY_SCRATCH, Record},
    settings::{offset, peer_layout_valid, peer_offset},
    tracking,
};

/// The last eight bytes of the systemd user manager's private socket (`/run/user/UID/systemd/private`).
const PRIVATE: u64 = u64::from_le_bytes(*b"/private");
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH: u64 = 2;

/// True when the process `tgid` is a process of `session`.
#[inline(always)]
fn in_session(tgid: u32, session: u64) -> bool {
    crate::tracking::of_in_place(tgid).is_some_and(|process| process.session_id == session)
}

/// `ptrace_access_check` in attach mode for a tracked process and a target that is not the
/// sensor: judged when the target is not a process of the caller's session. Threads of one
/// process share its tgid, so a process attaching to its own threads is never judged.
#[inline(always)]
pub fn attach(process: &TrackedProcess, target: u32) -> i32 {
    if target == 0 || in_session(target, process.session_id) {
        return 0;
    }
    let Some(config) = policy::judging(PolicyOp::HandoffAttach, BACKEND_LSM) else {
        return 0;
    };
    let Some(rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return 0;
    };
    let applied = judge(config, process, PolicyOp::HandoffAttach, target, StrRef::default(), rec);
    verdict(0, Some(applied))
}

/// Judges the hand-off `op` of `process` to the process `peer` (`path`: the socket's, in `rec`).
#[inline(always)]
fn judge(config: &PolicyConfig, process: &TrackedProcess, op: PolicyOp, peer: u32, path: StrRef, rec: Record) -> u32 {
    let judging = Judging {
        config,
        process,
        backend: BACKEND_LSM,
    };
    judge_handoff(&judging, &Handoff { op, peer, path }, rec)
}

/// `unix_stream_connect(struct sock *sock, struct sock *other, struct sock *newsk)`: `other` is
/// the listening socket; `listen()` recorded its listener's thread group in `sk_peer_pid`.
pub fn unix_stream_connect(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 {
        return previous;
    }
    let other = ctx.arg::<*const c_void>(1) as u64;
    verdict(previous, on_unix_stream_connect(other))
}

fn on_unix_stream_connect(other: u64) -> Option<u32> {
    let process = tracking::current_in_place()?;
    let config = policy::judging(PolicyOp::HandoffConnect, BACKEND_LSM)?;
    if !peer_layout_valid() {
        return None;
    }
    let pid = read_ptr(other + peer_offset!(sock_peer_pid))?;
    let listener = read::<i32>(pid + peer_offset!(pid_numbers))? as u32;
    if listener == 0 || in_session(listener, process.session_id) {
        return None;
    }
    if !is_spawner(pid, other) {
        return None;
    }
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let path = match read_ptr(other + peer_offset!(unix_addr)) {
        Some(address) => rec.kernel_str::<108>(address + peer_offset!(unix_address_name) + SUN_PATH),
        None => StrRef::default(),
    };
    Some(judge(config, process, PolicyOp::HandoffConnect, listener, path, rec))
}

/// Whether the listener (`struct pid` at `pid`) of the socket `other` runs commands for its
/// clients: its executable is a spawner program of `SPAWNERS` (tmux, screen, what the
/// configuration adds: wherever the socket is bound, `tmux -S PATH`), or the systemd user
/// manager and the socket is its private one. The user manager also listens on every socket it
/// activates (the session bus, gpg-agent, PipeWire), whose clients hand it nothing to run: those
/// stay allowed.
#[inline(always)]
fn is_spawner(pid: u64, other: u64) -> bool {
    let Some(name) = listener_program(pid) else {
        return false;
    };
    let Some(flags) = (unsafe { SPAWNERS.get(&name) }).copied() else {
        return false;
    };
    flags & SPAWNER_ANY_SOCKET != 0 || (flags & SPAWNER_PRIVATE_SOCKET != 0 && is_private_socket(other))
}

/// The hash of the base name (its first 16 bytes) of the executable of the thread-group leader
/// of the `struct pid` at `pid`.
#[inline(always)]
fn listener_program(pid: u64) -> Option<u64> {
    let link = read_ptr(pid + peer_offset!(pid_tasks))?;
    let task = link - peer_offset!(task_pid_links);
    let mm = read_ptr(task + offset!(task_mm))?;
    let exe = read_ptr(mm + offset!(mm_exe_file))?;
    let dentry = read_ptr(exe + offset!(file_f_path) + offset!(path_dentry))?;
    let name = read_ptr(dentry + offset!(dentry_d_name) + offset!(qstr_name))?;
    let head = read::<u64>(name)?;
    Some(name_words_hash(head, read::<u64>(name + 8).unwrap_or(0)))
}

/// Whether the socket's path ends in `/private` (its address length may count a final NUL).
#[inline(always)]
fn is_private_socket(other: u64) -> bool {
    let Some(address) = read_ptr(other + peer_offset!(unix_addr)) else {
        return false;
    };
    let Some(len) = read::<i32>(address + peer_offset!(unix_address_len)) else {
        return false;
    };
    if len < (SUN_PATH + 9) as i32 {
        return false;
    }
    let end = address + peer_offset!(unix_address_name) + len as u64;
    read::<u64>(end - 8) == Some(PRIVATE) || read::<u64>(end - 9) == Some(PRIVATE)
}
