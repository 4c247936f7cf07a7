//! BPF LSM hooks: the operation is judged before it happens, and a denial makes it fail with
//! EPERM. The hooks see the dentries themselves, so a file is judged by its path as the kernel
//! resolved it and by its identity (and its protected directories'), whatever name, link, bind
//! mount or io_uring request reached it. Untracked processes leave after one map lookup.

use aya_ebpf::{EbpfContext as _, cty::c_void, programs::LsmContext};
use sensor_common::{
    abi::{EPERM, O_CREAT, O_TRUNC},
    event::{FMODE_CREATED, FileIdentity, PolicyEvent},
    maps::TrackedProcess,
    policy::{
        APPLIED_DENIED, APPLIED_MONITOR, BACKEND_LSM, IdentityKey, MSGHDR_MSG_NAME, MSGHDR_MSG_NAMELEN, PolicyConfig,
        PolicyOp,
    },
};

use super::net::destination_of;
use crate::{
    kernel::{self, read, read_ptr},
    maps::PROTECTED,
    paths::{Hashing, append_path_hashed, append_walk_hashed},
    policy::{
        self,
        check::{FileOperation, Judging, judge_connect, judge_key},
        emit::PathRefs,
        path_key::PathKey,
    },
    record::{POLICY_SCRATCH, Record},
    settings::offset,
    tracking,
};

const FMODE_WRITE: u32 = 0x2;
const FMODE_EXEC: u32 = 0x20;

/// The hook's return value: the previous LSM's error, or ours.
#[inline(always)]
pub(crate) fn verdict(previous: i32, applied: Option<u32>) -> i32 {
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

/// Argument `n` read as a plain number, which a global function may be passed (the verifier
/// types the arguments `pointer` reads as kernel pointers, which it may not).
#[inline(always)]
fn pointer_value(ctx: &LsmContext, n: usize) -> u64 {
    read::<u64>(ctx.as_ptr() as u64 + 8 * n as u64).unwrap_or(0)
}

/// The `sets_self` of a protected file.
#[inline(always)]
fn protected_self(identity: &FileIdentity) -> u64 {
    let key = IdentityKey {
        dev: identity.dev,
        reserved: 0,
        ino: identity.ino,
    };
    unsafe { PROTECTED.get(&key) }.map_or(0, |protection| protection.sets_self)
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
    let process = tracking::current_in_place()?;
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
    let key = PathKey::root(config.seed)?;
    let path = append_path_hashed(&mut rec, kernel::file_path(file), key, Hashing::Key);
    let Some(operation) = FileOperation::new(op, PathRefs::of(path)) else {
        return Default::default();
    };
    operation.open_flags = flags;
    operation.object = kernel::file_identity(file);
    operation.identity_sets = protected_self(&operation.object);
    operation.existing = (mode & FMODE_CREATED == 0) as u32;
    Some(judge_key(&lsm_judging(config, process), operation, key, rec))
}

/// Judges `op` on the file at `dentry`, reached through the mount `mount` (0: unknown): its
/// path, its identity, and the protected directories above it; `other` (0: none) is the dentry
/// of the other name of a rename or link, reached through `other_mount` (reported with the
/// verdict). Everything comes in registers and the process is looked up here: the hooks keep no
/// frame of their own worth counting against 6.1's 512 bytes for the chain.
#[inline(never)]
fn judge_dentry(op: PolicyOp, dentry: u64, mount: u64, other: u64, other_mount: u64) -> u32 {
    judge_dentry_here(op, dentry, mount, other, other_mount)
}

/// `judge_dentry`'s body, inlined where it is called from a global function (a static call
/// there would add a frame to the judgement's stack chain).
#[inline(always)]
fn judge_dentry_here(op: PolicyOp, dentry: u64, mount: u64, other: u64, other_mount: u64) -> u32 {
    let Some(process) = tracking::current_in_place() else {
        return 0;
    };
    let Some(config) = policy::judging(op, BACKEND_LSM) else {
        return 0;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return 0;
    };
    let Some(key) = PathKey::root(config.seed) else {
        return 0;
    };
    // The other name of a rename or link first (without hashes), then the judged one.
    let path2 = if other != 0 {
        crate::paths::append_walk(&mut rec, Some(other), Some(other_mount))
    } else {
        Default::default()
    };
    let hashing = if op.is_destructive() {
        Hashing::KeyAndDirectories
    } else {
        Hashing::Key
    };
    let path = append_walk_hashed(&mut rec, Some(dentry), Some(mount), key, hashing);
    let Some(operation) = FileOperation::new(op, PathRefs::of(path)) else {
        return Default::default();
    };
    operation.refs2 = PathRefs::of(path2);
    operation.object = kernel::dentry_identity(dentry);
    operation.identity_sets = if operation.object.ino != 0 {
        protected_self(&operation.object)
    } else {
        0
    };
    judge_key(&lsm_judging(config, process), operation, key, rec)
}

/// `judge_dentry` for one name of a rename, as a global BPF function: the old name (`to` 0,
/// judged as `RenameFrom`) or the new one (`Rename`).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn judge_rename_side(to: u64, dentry: u64, mount: u64, other: u64, other_mount: u64) -> u64 {
    let op = if to != 0 {
        PolicyOp::Rename
    } else {
        PolicyOp::RenameFrom
    };
    judge_dentry_here(op, dentry, mount, other, other_mount) as u64
}

/// The mount of a `struct path` (0 when it cannot be read).
#[inline(always)]
fn mount_of(path: u64) -> u64 {
    read_ptr(path + offset!(path_mnt)).unwrap_or(0)
}

/// True when the current process is tracked (untracked ones leave after this one lookup).
#[inline(always)]
fn tracked() -> bool {
    tracking::current_in_place().is_some()
}

/// `path_unlink(const struct path *dir, struct dentry *dentry)` and `path_rmdir` (same arguments).
pub fn path_remove(ctx: &LsmContext, op: PolicyOp) -> i32 {
    let previous: i32 = ctx.arg(2);
    if previous != 0 || !tracked() {
        return previous;
    }
    let applied = judge_dentry(op, pointer(ctx, 1), mount_of(pointer(ctx, 0)), 0, 0);
    verdict(previous, Some(applied))
}

/// `path_rename(old_dir, old_dentry, new_dir, new_dentry, flags)`: judged on the old name (what
/// is taken away) and on the new one (what appears or is replaced there).
pub fn path_rename(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(5);
    if previous != 0 || !tracked() {
        return previous;
    }
    let (old, old_mount) = (pointer_value(ctx, 1), mount_of(pointer(ctx, 0)));
    let (new, new_mount) = (pointer_value(ctx, 3), mount_of(pointer(ctx, 2)));
    // Both names through one global function, which the verifier checks once, not once per name.
    let from = judge_rename_side(0, old, old_mount, new, new_mount) as u32;
    let to = judge_rename_side(1, new, new_mount, old, old_mount) as u32;
    verdict(previous, Some(from | to))
}

/// `path_link(struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)`.
pub fn path_link(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 || !tracked() {
        return previous;
    }
    let mount = mount_of(pointer(ctx, 1));
    let applied = judge_dentry(PolicyOp::Link, pointer(ctx, 2), mount, pointer(ctx, 0), mount);
    verdict(previous, Some(applied))
}

/// `path_symlink(const struct path *dir, struct dentry *dentry, const char *old_name)`.
pub fn path_symlink(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 || !tracked() {
        return previous;
    }
    let applied = judge_dentry(PolicyOp::Symlink, pointer(ctx, 1), mount_of(pointer(ctx, 0)), 0, 0);
    verdict(previous, Some(applied))
}

/// `path_truncate(const struct path *path)` (truncate(2), and before 6.2 also ftruncate and
/// `O_TRUNC`).
pub fn path_truncate(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    let applied = truncate(pointer(ctx, 0));
    verdict(previous, applied)
}

/// `file_truncate(struct file *file)` (6.2+: ftruncate and `O_TRUNC`).
pub fn file_truncate(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    let applied = truncate(kernel::file_path(pointer(ctx, 0)));
    verdict(previous, applied)
}

/// Judges the truncation of the file at the `struct path` at `path`.
#[inline(always)]
fn truncate(path: u64) -> Option<u32> {
    if !tracked() {
        return None;
    }
    let dentry = read_ptr(path + offset!(path_dentry))?;
    Some(judge_dentry(PolicyOp::Truncate, dentry, mount_of(path), 0, 0))
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
    let process = tracking::current_in_place()?;
    let config = policy::judging(PolicyOp::Exec, BACKEND_LSM)?;
    let file = read_ptr(bprm + offset!(binprm_file))?;
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let key = PathKey::root(config.seed)?;
    let path = append_path_hashed(&mut rec, kernel::file_path(file), key, Hashing::Key);
    let Some(operation) = FileOperation::new(PolicyOp::Exec, PathRefs::of(path)) else {
        return Default::default();
    };
    operation.file = file;
    operation.object = kernel::file_identity(file);
    operation.identity_sets = protected_self(&operation.object);
    Some(judge_key(&lsm_judging(config, process), operation, key, rec))
}

/// `socket_connect(struct socket *sock, struct sockaddr *address, int addrlen)`.
pub fn socket_connect(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 {
        return previous;
    }
    let addrlen: i32 = ctx.arg(2);
    verdict(previous, judge_destination(pointer(ctx, 1), addrlen))
}

/// `socket_sendmsg(struct socket *sock, struct msghdr *msg, int size)`: the destination of a
/// datagram (sendto, sendmsg; TCP Fast Open), judged as a connect to it. Sends without an
/// address (connected sockets) were judged at their connect. `msg_name` points to the kernel's
/// copy of the address; userspace checked the `msghdr` offsets in this kernel's BTF before
/// attaching the hook.
pub fn socket_sendmsg(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(3);
    if previous != 0 {
        return previous;
    }
    verdict(previous, on_socket_sendmsg(pointer(ctx, 1)))
}

fn on_socket_sendmsg(msg: u64) -> Option<u32> {
    let name = read_ptr(msg + MSGHDR_MSG_NAME as u64)?;
    let namelen = read::<i32>(msg + MSGHDR_MSG_NAMELEN as u64)?;
    judge_destination(name, namelen)
}

/// Judges a connection to the `struct sockaddr` at `address` (kernel memory).
#[inline(always)]
fn judge_destination(address: u64, addrlen: i32) -> Option<u32> {
    let process = tracking::current_in_place()?;
    let config = policy::judging(PolicyOp::Connect, BACKEND_LSM)?;
    let destination = destination_of(address, addrlen)?;
    let rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    Some(judge_connect(&lsm_judging(config, process), &destination, rec))
}
