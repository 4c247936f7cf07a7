//! BPF LSM hooks: the operation is judged before it happens, and a denial makes it fail with
//! EPERM. Untracked processes leave after one map lookup.

use aya_ebpf::{cty::c_void, helpers::bpf_get_current_pid_tgid, programs::LsmContext};
use sensor_common::{
    event::PolicyEvent,
    maps::TrackedProcess,
    policy::{APPLIED_DENIED, APPLIED_MONITOR, BACKEND_LSM, PolicyConfig, PolicyOp},
};

use super::net::destination_of;
use crate::{
    kernel::{self, read, read_ptr},
    maps::TRACKED,
    paths::{append_path, append_walk},
    policy::{
        self,
        check::{FileOperation, Judging, judge_connect, judge_file},
        emit::PathRefs,
    },
    record::{POLICY_SCRATCH, Record},
    settings::offset,
};

const EPERM: i32 = 1;
const FMODE_WRITE: u32 = 0x2;
const FMODE_EXEC: u32 = 0x20;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;

#[inline(always)]
fn tracked() -> Option<TrackedProcess> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    unsafe { TRACKED.get(&tgid) }.copied()
}

/// The hook's return value: the previous LSM's error, or ours.
#[inline(always)]
fn verdict(previous: i32, applied: Option<u32>) -> i32 {
    if previous != 0 {
        return previous;
    }
    match applied {
        Some(applied) if applied & APPLIED_DENIED != 0 && applied & APPLIED_MONITOR == 0 => -EPERM,
        _ => 0,
    }
}

#[inline(always)]
fn lsm_judging<'a>(config: &'a PolicyConfig, process: &'a TrackedProcess) -> Judging<'a> {
    Judging {
        config,
        process,
        backend: BACKEND_LSM,
    }
}

#[inline(always)]
fn pointer(ctx: &LsmContext, n: usize) -> u64 {
    ctx.arg::<*const c_void>(n) as u64
}

/// `file_open(struct file *file)`.
pub fn file_open(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    verdict(previous, on_file_open(pointer(ctx, 0)))
}

fn on_file_open(file: u64) -> Option<u32> {
    let process = tracked()?;
    let mode = read::<u32>(file + offset!(file_f_mode))?;
    if mode & FMODE_EXEC != 0 {
        // The open of a program being executed: judged by `bprm_check_security`.
        return None;
    }
    let flags = read::<u32>(file + offset!(file_f_flags))?;
    let op = if mode & FMODE_WRITE != 0 || flags & (O_CREAT | O_TRUNC) != 0 {
        PolicyOp::OpenWrite
    } else {
        PolicyOp::OpenRead
    };
    let config = policy::judging(op, BACKEND_LSM)?;
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let path = append_path(&mut rec, kernel::file_path(file));
    let operation = FileOperation {
        op,
        open_flags: flags,
        file: 0,
        refs: PathRefs::of(path),
    };
    Some(judge_file(&lsm_judging(config, &process), &operation, rec))
}

/// `path_unlink(const struct path *dir, struct dentry *dentry)` and `path_rmdir` (same arguments).
pub fn path_remove(ctx: &LsmContext, op: PolicyOp) -> i32 {
    let previous: i32 = ctx.arg(2);
    if previous != 0 {
        return previous;
    }
    verdict(previous, on_path_remove(pointer(ctx, 0), pointer(ctx, 1), op))
}

fn on_path_remove(dir: u64, dentry: u64, op: PolicyOp) -> Option<u32> {
    let process = tracked()?;
    let config = policy::judging(op, BACKEND_LSM)?;
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let vfsmount = read_ptr(dir + offset!(path_mnt));
    let path = append_walk(&mut rec, Some(dentry), vfsmount);
    let operation = FileOperation {
        op,
        open_flags: 0,
        file: 0,
        refs: PathRefs::of(path),
    };
    Some(judge_file(&lsm_judging(config, &process), &operation, rec))
}

/// `bprm_check_security(struct linux_binprm *bprm)`: once for a program, and again for the
/// interpreter of a script (so both the script and its interpreter are judged).
pub fn bprm_check_security(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    verdict(previous, on_bprm_check(pointer(ctx, 0)))
}

fn on_bprm_check(bprm: u64) -> Option<u32> {
    let process = tracked()?;
    let config = policy::judging(PolicyOp::Exec, BACKEND_LSM)?;
    let file = read_ptr(bprm + offset!(binprm_file))?;
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let path = append_path(&mut rec, kernel::file_path(file));
    let operation = FileOperation {
        op: PolicyOp::Exec,
        open_flags: 0,
        file,
        refs: PathRefs::of(path),
    };
    Some(judge_file(&lsm_judging(config, &process), &operation, rec))
}

/// `socket_connect(struct socket *sock, struct sockaddr *address, int addrlen)`.
pub fn socket_connect(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 {
        return previous;
    }
    let addrlen: i32 = ctx.arg(2);
    verdict(previous, on_socket_connect(pointer(ctx, 1), addrlen))
}

fn on_socket_connect(address: u64, addrlen: i32) -> Option<u32> {
    let process = tracked()?;
    let config = policy::judging(PolicyOp::Connect, BACKEND_LSM)?;
    let destination = destination_of(address, addrlen)?;
    let rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    Some(judge_connect(&lsm_judging(config, &process), &destination, rec))
}
