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
    event::{PolicyEvent, Syscall},
    maps::TrackedProcess,
    policy::{BACKEND_TRACEPOINT, IdentityKey, PolicyOp},
};

use crate::{
    capture::{
        exit::{finish, pending},
        open::{O_DIRECTORY, is_write, open_args},
        strings::{Which, append_argument},
    },
    kernel::{self, AT_FDCWD},
    maps::{PROTECTED, TRACKED},
    paths::{Hashing, append_path_hashed},
    pending::{PendingCall, PendingPaths},
    policy::{
        self,
        check::{FileOperation, Judging, judge_key, key_of_argument},
        emit::PathRefs,
        path_key::PathKey,
    },
    record::{POLICY_SCRATCH, Record},
};

const AT_REMOVEDIR: u64 = 0x200;

/// Judges the pending call of the current thread at entry (tail-called by `sys_enter`).
/// `forget`: the call has no exit to wait for (a 32-bit call): forget it afterwards.
pub fn judge_at_entry(forget: bool) -> Option<()> {
    let (pid_tgid, call, paths) = pending()?;
    let tgid = (pid_tgid >> 32) as u32;
    if let Some(process) = unsafe { TRACKED.get(&tgid) }.copied()
        && let Some(syscall) = Syscall::from_u16(call.syscall)
    {
        judge(&process, call, syscall, paths);
    }
    if forget {
        finish(pid_tgid, call);
    }
    Some(())
}

#[inline(always)]
fn judge(process: &TrackedProcess, call: &PendingCall, syscall: Syscall, paths: Option<&PendingPaths>) {
    use Syscall as S;
    let a = call.args;
    match syscall {
        S::Unlink => judge_path(
            process,
            PolicyOp::Unlink,
            paths,
            &Argument::new(Which::First, a[0], AT_FDCWD),
        ),
        S::Rmdir => judge_path(
            process,
            PolicyOp::Rmdir,
            paths,
            &Argument::new(Which::First, a[0], AT_FDCWD),
        ),
        S::Unlinkat => {
            let op = if a[2] & AT_REMOVEDIR != 0 {
                PolicyOp::Rmdir
            } else {
                PolicyOp::Unlink
            };
            judge_path(process, op, paths, &Argument::new(Which::First, a[1], a[0] as i32))
        }
        S::Rename | S::Renameat | S::Renameat2 => {
            let (old, old_dirfd, new, new_dirfd) = if syscall == S::Rename {
                (a[0], AT_FDCWD, a[1], AT_FDCWD)
            } else {
                (a[1], a[0] as i32, a[3], a[2] as i32)
            };
            judge_path(
                process,
                PolicyOp::RenameFrom,
                paths,
                &Argument::new(Which::First, old, old_dirfd),
            );
            judge_path(
                process,
                PolicyOp::Rename,
                paths,
                &Argument::new(Which::Second, new, new_dirfd),
            );
        }
        S::Link => judge_path(
            process,
            PolicyOp::Link,
            paths,
            &Argument::new(Which::Second, a[1], AT_FDCWD),
        ),
        S::Linkat => judge_path(
            process,
            PolicyOp::Link,
            paths,
            &Argument::new(Which::Second, a[3], a[2] as i32),
        ),
        S::Symlink => judge_path(
            process,
            PolicyOp::Symlink,
            paths,
            &Argument::new(Which::Second, a[1], AT_FDCWD),
        ),
        S::Symlinkat => judge_path(
            process,
            PolicyOp::Symlink,
            paths,
            &Argument::new(Which::Second, a[2], a[1] as i32),
        ),
        S::Truncate => judge_path(
            process,
            PolicyOp::Truncate,
            paths,
            &Argument::new(Which::First, a[0], AT_FDCWD),
        ),
        S::Ftruncate => judge_fd(process, PolicyOp::Truncate, a[0] as i64),
        S::Open | S::Openat | S::Openat2 | S::Creat => {
            let (dirfd, path, flags, _) = open_args(call, syscall);
            if flags & O_DIRECTORY != 0 {
                return;
            }
            let op = if is_write(flags) {
                PolicyOp::OpenWrite
            } else {
                PolicyOp::OpenRead
            };
            judge_path(process, op, paths, &Argument::new(Which::First, path, dirfd));
        }
        _ => {}
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
    let Some((key, base)) = key_of_argument(config, &mut rec, path, argument.dirfd, op) else {
        return;
    };
    let Some(operation) = FileOperation::new(op, PathRefs { path, base }) else {
        return Default::default();
    };
    judge_key(&judging(config, process), operation, key, rec);
}

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
