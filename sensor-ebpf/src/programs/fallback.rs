//! The tracepoint backend, for kernels without BPF LSM: the syscall tracepoints cannot make a call
//! fail, so a process whose operation a rule fires on is killed with SIGKILL, which takes effect
//! before it returns to user space. What that does and does not prevent (docs/enforcement.md):
//!
//! - open: judged at syscall exit on the file actually opened (`capture::open`). The process
//!   never reads or writes through the descriptor; but the open itself happened (`O_CREAT`
//!   created the file, `O_TRUNC` emptied it).
//! - unlink, rmdir, rename, link, symlink, truncate: judged here, at syscall entry, from the path
//!   arguments resolved against the working directory or dirfd (and the identities of the
//!   protected directories above them). The call itself still runs, so the first such call of
//!   each process is done; the session's escalation then stops its new programs.
//! - exec: judged when the new program is loaded, before its first instruction
//!   (`capture::exec`).
//! - 32-bit calls: judged here at entry like the others, opens included (the exit tracepoints
//!   never see them).

use sensor_common::{
    event::{PolicyEvent, STR_MISSING, Syscall},
    maps::TrackedProcess,
    policy::{BACKEND_TRACEPOINT, IdentityKey, PolicyOp},
};

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use sensor_common::maps::Counter;

use crate::{
    capture::{
        exit::{finish, pending},
        open::{O_DIRECTORY, is_write, open_args},
        strings::{Which, append_argument},
    },
    counters::count,
    kernel::{self, AT_FDCWD},
    maps::PROTECTED,
    paths::{Hashing, append_path_hashed},
    pending::{PENDING, PENDING_COMPAT, PENDING_KILLED, PENDING_UNREADABLE},
    pending::{PendingCall, PendingPaths},
    policy::act,
    policy::{
        self,
        check::{FileOperation, Judging, judge_key, key_of_argument},
        emit::PathRefs,
        path_key::PathKey,
    },
    record::{POLICY_SCRATCH, Record},
    tracking,
};

const AT_REMOVEDIR: u64 = 0x200;

/// Which path argument of the pending call a program judges.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    First,
    Second,
}

/// Judges one path argument of the pending call of the current thread at entry (tail-called by
/// `sys_enter`). Returns true when the call has a second argument still to judge (the caller
/// tail-calls the program for it). A 32-bit call has no exit to wait for: it is forgotten once
/// nothing is left to judge.
pub fn judge_at_entry(part: Part) -> Option<bool> {
    let (pid_tgid, call, paths) = pending()?;
    let tgid = (pid_tgid >> 32) as u32;
    let mut more = false;
    if let Some(process) = tracking::of(tgid)
        && let Some(syscall) = Syscall::from_u16(call.syscall)
    {
        more = judge(&process, call, syscall, paths, part);
    }
    if call.flags & PENDING_COMPAT != 0 && !more {
        finish(pid_tgid, call);
    }
    Some(more)
}

/// Forgets the pending call of the current thread if it is a 32-bit one (whose exit no program
/// sees), when the program that was to judge the rest of it could not run.
pub fn forget_compat() {
    if let Some((pid_tgid, call, _)) = pending()
        && call.flags & PENDING_COMPAT != 0
    {
        finish(pid_tgid, call);
    }
}

/// Works out what the call does to which path arguments, then judges the one `part` names: one
/// call site of `judge_path` per program (6.1's verifier walks a static function once per call
/// site).
#[inline(always)]
fn judge(
    process: &TrackedProcess,
    call: &PendingCall,
    syscall: Syscall,
    paths: Option<&PendingPaths>,
    part: Part,
) -> bool {
    if syscall == Syscall::Ftruncate {
        if part == Part::First {
            judge_fd(process, PolicyOp::Truncate, call.args[0] as i64);
        }
        return false;
    }
    if let Some((op, argument)) = judged_argument(call, syscall, part) {
        judge_path(process, op, paths, &argument);
    }
    part == Part::First && matches!(syscall, Syscall::Rename | Syscall::Renameat | Syscall::Renameat2)
}

/// The operation a call performs on its path argument `part` (only renames have a second: they
/// remove one name and replace another).
#[inline(always)]
fn judged_argument(call: &PendingCall, syscall: Syscall, part: Part) -> Option<(PolicyOp, Argument)> {
    use Syscall as S;
    let a = call.args;
    let one = |op, which, user, dirfd| (part == Part::First).then(|| (op, Argument::new(which, user, dirfd)));
    match syscall {
        S::Unlink => one(PolicyOp::Unlink, Which::First, a[0], AT_FDCWD),
        S::Rmdir => one(PolicyOp::Rmdir, Which::First, a[0], AT_FDCWD),
        S::Unlinkat => {
            let op = if a[2] & AT_REMOVEDIR != 0 {
                PolicyOp::Rmdir
            } else {
                PolicyOp::Unlink
            };
            one(op, Which::First, a[1], a[0] as i32)
        }
        S::Rename | S::Renameat | S::Renameat2 => {
            let (old, old_dirfd, new, new_dirfd) = if syscall == S::Rename {
                (a[0], AT_FDCWD, a[1], AT_FDCWD)
            } else {
                (a[1], a[0] as i32, a[3], a[2] as i32)
            };
            Some(match part {
                Part::First => (PolicyOp::RenameFrom, Argument::new(Which::First, old, old_dirfd)),
                Part::Second => (PolicyOp::Rename, Argument::new(Which::Second, new, new_dirfd)),
            })
        }
        S::Link => one(PolicyOp::Link, Which::Second, a[1], AT_FDCWD),
        S::Linkat => one(PolicyOp::Link, Which::Second, a[3], a[2] as i32),
        S::Symlink => one(PolicyOp::Symlink, Which::Second, a[1], AT_FDCWD),
        S::Symlinkat => one(PolicyOp::Symlink, Which::Second, a[2], a[1] as i32),
        S::Truncate => one(PolicyOp::Truncate, Which::First, a[0], AT_FDCWD),
        S::Open | S::Openat | S::Openat2 | S::Creat => {
            let (dirfd, path, flags, _) = open_args(call, syscall);
            if flags & O_DIRECTORY != 0 {
                return None;
            }
            let op = if is_write(flags) {
                PolicyOp::OpenWrite
            } else {
                PolicyOp::OpenRead
            };
            one(op, Which::First, path, dirfd)
        }
        _ => None,
    }
}

#[inline(always)]
fn judging<'a>(config: &'a sensor_common::policy::PolicyConfig, process: &'a TrackedProcess) -> Judging<'a> {
    Judging {
        config,
        process,
        backend: BACKEND_TRACEPOINT,
    }
}

/// A path argument: which one, where it is in the caller's memory, the directory it is
/// relative to.
struct Argument {
    which: Which,
    user: u64,
    dirfd: i32,
}

impl Argument {
    #[inline(always)]
    fn new(which: Which, user: u64, dirfd: i32) -> Self {
        Self { which, user, dirfd }
    }
}

/// Judges `op` on a path argument.
#[inline(never)]
fn judge_path(process: &TrackedProcess, op: PolicyOp, paths: Option<&PendingPaths>, argument: &Argument) {
    let Some(config) = policy::judging(op, BACKEND_TRACEPOINT) else {
        return;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let path = append_argument(&mut rec, paths, argument.which, argument.user);
    // An empty path is readable (the call fails with ENOENT); a missing one is not.
    if path.flags & STR_MISSING != 0 && argument.user != 0 {
        unreadable(config, process);
        return;
    }
    let Some((key, base)) = key_of_argument(config, path, argument.dirfd, op) else {
        return;
    };
    let Some(operation) = FileOperation::new(op, PathRefs { path, base }) else {
        return Default::default();
    };
    judge_key(&judging(config, process), operation, key, rec);
}

/// A path argument a rule would judge could not be read at entry: the call goes unjudged, so in
/// enforce mode the process is killed and the session's new programs are stopped for
/// [`UNREADABLE_WINDOW_NS`] (fail closed); the exit record says so (`SYSCALL_UNREADABLE`).
#[inline(never)]
fn unreadable(config: &sensor_common::policy::PolicyConfig, process: &TrackedProcess) {
    count(Counter::UnreadableArgument);
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(call) = PENDING.get_ptr_mut(&pid_tgid) else {
        return;
    };
    let call = unsafe { &mut *call };
    call.flags |= PENDING_UNREADABLE;
    if config.enforce != 0 {
        if act::kill_current() {
            call.flags |= PENDING_KILLED;
        }
        act::stop_execs(process.session_id, UNREADABLE_WINDOW_NS);
    }
}

/// How long a session's new programs are stopped after an unreadable argument (enforce mode).
const UNREADABLE_WINDOW_NS: u64 = 10_000_000_000;

/// Judges `op` on the file behind descriptor `fd` (its path and identity).
#[inline(never)]
fn judge_fd(process: &TrackedProcess, op: PolicyOp, fd: i64) {
    let Some(config) = policy::judging(op, BACKEND_TRACEPOINT) else {
        return;
    };
    let Some(file) = kernel::fd_file(kernel::current_task(), fd) else {
        return;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let Some(key) = PathKey::root(config.seed) else {
        return;
    };
    let path = append_path_hashed(&mut rec, kernel::file_path(file), key, Hashing::KeyAndDirectories);
    let object = kernel::file_identity(file);
    let identity = IdentityKey {
        dev: object.dev,
        reserved: 0,
        ino: object.ino,
    };
    let Some(operation) = FileOperation::new(op, PathRefs::of(path)) else {
        return Default::default();
    };
    operation.object = object;
    operation.identity_sets = unsafe { PROTECTED.get(&identity) }.map_or(0, |protection| protection.sets_self);
    judge_key(&judging(config, process), operation, key, rec);
}
