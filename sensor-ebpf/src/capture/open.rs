//! Opens: the record of a finished open (tail-called by the exit program), and the policy's
//! work on it (tail-called in turn), with the path read once.
//!
//! A successful open is reported with the file actually opened (symbolic links, `..` and
//! relative paths resolved, from the new descriptor) and its identity; an open of a protected
//! file travels on the priority ring. A thread repeating the same open is counted (`repeat`).

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use aya_ebpf::programs::TracePointContext;
use aya_ebpf::{macros::map, maps::PerCpuArray};
use sensor_common::{
    abi,
    event::{
        EVENT_OPEN, FMODE_CREATED, FileIdentity, MAX_PATH, OpenEvent, PolicyEvent, RESOLVED_BASE, RESOLVED_FILE,
        RESOLVED_NONE, StrRef, Syscall,
    },
    policy::{BACKEND_TRACEPOINT, IdentityKey, PolicyConfig, PolicyOp},
};

use super::{
    exit::{finish, handed_over, ret},
    strings::append_base,
};
use crate::{
    kernel::{self, AT_FDCWD},
    maps::PROTECTED,
    paths::{Hashing, append_walk, append_walk_hashed},
    pending::PendingCall,
    policy::{
        self,
        check::{FileOperation, Judging, judge_key, may_fire_on_path},
        emit::PathRefs,
        handoff::{HANDOFF, OpenHandoff},
        path_key::{PATH_KEY, PathKey},
        written,
    },
    record::{self, EVENT_SCRATCH, POLICY_SCRATCH, Record, Ring},
    repeat::{self, Repeat, RepeatKey},
    tracking,
};

// The open flags as the capture reads them (64-bit syscall arguments).
pub const O_WRONLY: u64 = abi::O_WRONLY as u64;
pub const O_RDWR: u64 = abi::O_RDWR as u64;
pub const O_CREAT: u64 = abi::O_CREAT as u64;
pub const O_TRUNC: u64 = abi::O_TRUNC as u64;
pub const O_DIRECTORY: u64 = abi::O_DIRECTORY as u64;
/// A handle that cannot read or write: a later real open of the same file is a new record.
pub const O_PATH: u64 = abi::O_PATH as u64;

/// Repeat classes of opens (above every open flag the key keeps).
const CLASS_OPEN_OK: u64 = 1 << 40;
const CLASS_OPEN_FAILED: u64 = 2 << 40;

/// dirfd, path pointer, flags and mode of a pending open.
#[inline(always)]
pub fn open_args(call: &PendingCall, syscall: Syscall) -> (i32, u64, u64, u64) {
    let a = call.args;
    match syscall {
        Syscall::Open => (AT_FDCWD, a[0], a[1], a[2]),
        Syscall::Creat => (AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]),
        _ => (a[0] as i32, a[1], a[2], a[3]),
    }
}

/// Write access, `O_CREAT` or `O_TRUNC`.
#[inline(always)]
pub fn is_write(flags: u64) -> bool {
    flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) != 0
}

/// The exit of an open. Returns true when the policy's program must run next (the caller
/// tail-calls it; it forgets the pending call).
pub fn on_exit_open(ctx: &TracePointContext) -> Option<bool> {
    let (pid_tgid, call, _) = handed_over()?;
    let result = ret(ctx);
    let next = if result >= 0 {
        succeeded(call, result)
    } else {
        failed(call, result);
        false
    };
    if !next {
        finish(pid_tgid, call);
    }
    Some(next)
}

/// The record of an open that failed: the path as passed, and the directory it is relative to.
#[inline(never)]
fn failed(call: &PendingCall, result: i64) {
    let Some(syscall) = Syscall::from_u16(call.syscall) else {
        return;
    };
    let (dirfd, path_ptr, flags, mode) = open_args(call, syscall);
    let Some(mut rec) = Record::start::<OpenEvent>() else {
        return;
    };
    let path = rec.user_str::<MAX_PATH>(path_ptr);
    let key = failed_key(&rec, path, path_ptr ^ ((dirfd as u32 as u64) << 32), result);
    let now = record::now();
    if let Repeat::Counted | Repeat::Judge = repeat::check(&key, call.session_id, 0, now) {
        return;
    }
    let base = append_base(&mut rec, path, dirfd, None, Hashing::None);
    let event = rec.fixed::<OpenEvent>();
    event.syscall = call.syscall;
    event.resolved_kind = if base.len > 0 { RESOLVED_BASE } else { RESOLVED_NONE };
    event.dirfd = dirfd;
    event.flags = flags as u32;
    event.mode = mode as u32;
    event.ret = result;
    event.path = path;
    event.resolved = base;
    event.object = FileIdentity::default();
    event.fmode = 0;
    event.repeat = 1;
    rec.submit_at(Ring::Events, EVENT_OPEN, 0, call.session_id, now);
}

/// The record of an open that succeeded: the file actually opened and its identity (a
/// protected one on the priority ring). Returns true when the policy must judge it.
#[inline(never)]
fn succeeded(call: &PendingCall, result: i64) -> bool {
    let Some(syscall) = Syscall::from_u16(call.syscall) else {
        return false;
    };
    let (dirfd, path_ptr, flags, mode) = open_args(call, syscall);
    let write = is_write(flags);
    let op = if write { PolicyOp::OpenWrite } else { PolicyOp::OpenRead };
    let config = policy::config();
    let generation = config.map_or(0, |config| config.generation);
    let seed = config.map_or(0, |config| config.seed);
    let judged = policy::judging(op, BACKEND_TRACEPOINT).is_some();
    let remember = write && flags & O_DIRECTORY == 0 && config.is_some_and(|config| config.track_written != 0);
    let wants_key = judged || remember;
    let Some(file) = kernel::fd_file(kernel::current_task(), result) else {
        return false;
    };
    let Some(opened) = OPENED.get_ptr_mut(0) else {
        return false;
    };
    let opened = unsafe { &mut *opened };
    opened.file = file;
    opened.identity = kernel::file_identity(file);
    opened.fmode = kernel::file_mode(file);
    opened.op = op;
    opened.flags = flags;
    (opened.dentry, opened.mount) = kernel::file_dentry_mount(file);
    let repeat_key = RepeatKey {
        class: CLASS_OPEN_OK | (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_DIRECTORY | O_PATH)),
        a: opened.dentry,
        b: opened.mount,
        c: opened.identity.ino,
    };
    let Some(mut rec) = Record::start::<OpenEvent>() else {
        return false;
    };
    // One clock read for the repeat check and the record (kept in map memory: this function's
    // stack frame is on the walk's call chain, which is at the verifier's limit).
    opened.now = record::now();
    let repeat = repeat::check(&repeat_key, call.session_id, generation, opened.now);
    let judge_again = match repeat {
        Repeat::Counted => return false,
        Repeat::Judge if !wants_key => return false,
        Repeat::Judge => true,
        Repeat::New => false,
    };
    // Looked up once the open is known not to be a plain repeat.
    opened.protected = protected_self(&opened.identity);
    if judge_again {
        // Counted, but judged again: walk for the key without a record of its own.
        opened.path = walk_file(&mut rec, opened.dentry, opened.mount, seed);
        opened.reported = false;
        return handoff(call, opened);
    }
    let path = rec.user_str::<MAX_PATH>(path_ptr);
    let resolved = if wants_key {
        walk_file(&mut rec, opened.dentry, opened.mount, seed)
    } else {
        append_walk(&mut rec, Some(opened.dentry), Some(opened.mount))
    };
    let event = rec.fixed::<OpenEvent>();
    event.syscall = call.syscall;
    event.resolved_kind = RESOLVED_FILE;
    event.dirfd = dirfd;
    event.flags = flags as u32;
    event.mode = mode as u32;
    event.ret = result;
    event.path = path;
    event.resolved = resolved;
    // Field by field: a copy of the whole struct between two map values (which may overlap, as
    // far as the compiler knows) becomes a call of a byte-by-byte `memmove`.
    event.object = FileIdentity {
        dev: opened.identity.dev,
        mode: opened.identity.mode,
        ino: opened.identity.ino,
    };
    event.fmode = opened.fmode;
    event.repeat = 1;
    // Protected for this operation: a file some rule covers for another one (a write-protected
    // system header read by a build) is an ordinary record.
    let op_sets = config.map_or(0, |config| config.op_sets[policy::op_index(op)]);
    let ring = if opened.protected & op_sets != 0 {
        Ring::Priority
    } else {
        Ring::Events
    };
    rec.submit_at(ring, EVENT_OPEN, 0, call.session_id, opened.now);
    if !wants_key {
        return false;
    }
    opened.path = resolved;
    opened.reported = true;
    handoff(call, opened)
}

/// The `sets_self` of a protected file (0 when it is not protected).
#[inline(always)]
fn protected_self(identity: &FileIdentity) -> u64 {
    let key = IdentityKey {
        dev: identity.dev,
        reserved: 0,
        ino: identity.ino,
    };
    unsafe { PROTECTED.get(&key) }.map_or(0, |protection| protection.sets_self)
}

/// Walks the opened file's path (its dentry and mount, as read for the repeat key) into the
/// record, hashing it into the per-CPU key.
#[inline(never)]
fn walk_file(rec: &mut Record, dentry: u64, mount: u64, seed: u64) -> StrRef {
    match PathKey::root(seed) {
        Some(key) => append_walk_hashed(rec, Some(dentry), Some(mount), key, Hashing::Key),
        None => append_walk(rec, Some(dentry), Some(mount)),
    }
}

/// The opened file, as the policy needs it: `path` is the walked path in the event scratch
/// buffer (whose hashes are in the per-CPU key), `reported` whether its record went out. Kept
/// per CPU in map memory: the open's call chain is deep and programs have 512 bytes of stack.
#[repr(C)]
pub struct Opened {
    file: u64,
    /// `sets_self` when the file is protected.
    protected: u64,
    fmode: u32,
    identity: FileIdentity,
    op: PolicyOp,
    flags: u64,
    path: StrRef,
    reported: bool,
    /// When the open was seen (the record's time).
    now: u64,
    /// The file's dentry and mount (0 when unreadable).
    dentry: u64,
    mount: u64,
}

/// Per-CPU description of the file an open just opened (see `capture::open`).
#[map]
pub static OPENED: PerCpuArray<Opened> = PerCpuArray::with_max_entries(1, 0);

/// Hands what the policy program needs to it.
#[inline(never)]
fn handoff(call: &PendingCall, opened: &Opened) -> bool {
    let Some(handoff) = HANDOFF.get_ptr_mut(0) else {
        return false;
    };
    unsafe {
        *handoff = OpenHandoff {
            session: call.session_id,
            file: opened.file,
            identity_sets: opened.protected,
            flags: opened.flags as u32,
            op: opened.op as u32,
            path: opened.path,
            reported: opened.reported as u32,
            fmode: opened.fmode,
            object: opened.identity,
        };
    }
    true
}

/// The policy's work on a finished open (tail-called by the open program): remember a write,
/// judge the open with the path hashed by the walk.
pub fn open_policy() -> Option<()> {
    let (pid_tgid, call, _) = handed_over()?;
    judge_open(call);
    finish(pid_tgid, call);
    Some(())
}

#[inline(always)]
fn judge_open(call: &PendingCall) -> Option<()> {
    let handoff = unsafe { &*HANDOFF.get_ptr(0)? };
    let config = policy::config()?;
    let op = PolicyOp::from_u16(handoff.op as u16)?;
    let key = unsafe { &mut *PATH_KEY.get_ptr_mut(0)? };
    let flags = handoff.flags as u64;
    if op == PolicyOp::OpenWrite && config.track_written != 0 && flags & O_DIRECTORY == 0 {
        // A script given to an interpreter is known only by its path, so the path hash too.
        let by_path = policy::scripts_judged(config);
        written::remember(call.session_id, handoff.file, by_path.then(|| key.full()));
    }
    let config = policy::judging(op, BACKEND_TRACEPOINT)?;
    if !may_fire_on_path(config, op, key, handoff.identity_sets) {
        // The common case: a file no rule for the operation covers.
        clean(config, op);
        return Some(());
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let process = tracking::of(tgid)?;
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let path = rec.copy_from(EVENT_SCRATCH, handoff.path);
    let Some(operation) = FileOperation::new(op, PathRefs::of(path)) else {
        return Default::default();
    };
    operation.open_flags = handoff.flags;
    operation.file = handoff.file;
    operation.object = handoff.object;
    operation.identity_sets = handoff.identity_sets;
    operation.existing = (handoff.fmode & FMODE_CREATED == 0) as u32;
    let judging = Judging {
        config,
        process: &process,
        backend: BACKEND_TRACEPOINT,
    };
    if judge_key(&judging, operation, key, rec) == 0 {
        clean(config, op);
    }
    Some(())
}

/// No rule fired on the open: a repeat of it need not be judged again under this policy, unless
/// a rule for the operation counts every one.
#[inline(always)]
fn clean(config: &PolicyConfig, op: PolicyOp) {
    if config.counting[policy::op_index(op)] == 0 {
        repeat::mark_clean(config.generation);
    }
}

/// The repeat key of a failed open: the path as passed (buffer, length, first and last bytes),
/// the directory it is relative to, and the error.
#[inline(never)]
fn failed_key(rec: &Record, path: StrRef, where_from: u64, result: i64) -> RepeatKey {
    let at = path.offset as usize;
    let len = path.len as usize;
    let mut head = 0u64;
    let mut tail = 0u64;
    for i in 0..8 {
        head |= (rec.byte_at(at + i) as u64) << (8 * i);
        tail |= (rec.byte_at((at + len).wrapping_sub(8) + i) as u64) << (8 * i);
    }
    RepeatKey {
        class: CLASS_OPEN_FAILED | ((result as u64) & 0xff),
        a: where_from,
        b: head ^ ((len as u64) << 48),
        c: tail,
    }
}
