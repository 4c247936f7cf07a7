//! The judgement of one operation, from its path (or destination) to the record: shared by the
//! LSM hooks, the tracepoint fallbacks and the cgroup socket programs.
//!
//! Callers build the operation's path key while they read the path (see `paths`), so a path is
//! read once; they also pass what the kernel knows of the file's identity.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use sensor_common::{
    decide,
    event::{FileIdentity, StrRef},
    maps::TrackedProcess,
    policy::{PolicyConfig, PolicyOp},
};

use super::{
    act::apply,
    emit::{PathRefs, emit},
    judge::{SUBJECT, Subject, judge},
    path_key::PathKey,
    path_sets::path_sets,
    written::{file_written, path_written},
};
use crate::{
    capture::strings::{base_of, split},
    paths::Hashing,
    programs::net::Destination,
    record::{POLICY_SCRATCH, Record},
};

/// Who is judged, by which backend.
pub struct Judging<'a> {
    pub config: &'a PolicyConfig,
    pub process: &'a TrackedProcess,
    pub backend: u32,
}

/// A file operation to judge.
pub struct FileOperation {
    pub op: PolicyOp,
    pub open_flags: u32,
    /// The `struct file` (for exec: tells by inode whether the session wrote it); 0 when unknown.
    pub file: u64,
    /// Where the record holds the path (and, for a rename or link, the new name).
    pub refs: PathRefs,
    pub refs2: PathRefs,
    /// The file's identity, when known.
    pub object: FileIdentity,
    /// Path sets found by identity (the file, protected directories above it).
    pub identity_sets: u64,
    /// Non-zero: the file existed before the operation (opens that did not create it).
    pub existing: u32,
    /// Non-zero: the session wrote the file (known to the caller, e.g. a script at exec).
    pub written: u32,
}

/// Per-CPU file operation being judged, as its program describes it.
#[map]
pub static OPERATION: PerCpuArray<FileOperation> = PerCpuArray::with_max_entries(1, 0);

impl FileOperation {
    /// An operation on the path at `refs`, in per-CPU map memory (programs have 512 bytes of
    /// stack for their whole call chain, and the judgement's chain is deep).
    #[inline(always)]
    pub fn new(op: PolicyOp, refs: PathRefs) -> Option<&'static mut FileOperation> {
        let operation = unsafe { &mut *OPERATION.get_ptr_mut(0)? };
        // Field by field, straight into map memory: a whole struct assigned at once is built on
        // the stack first, and its caller's frame is in the judgement's 512-byte chain.
        operation.op = op;
        operation.open_flags = 0;
        operation.file = 0;
        operation.refs = refs;
        operation.refs2 = PathRefs::default();
        operation.object = FileIdentity::default();
        operation.identity_sets = 0;
        operation.existing = 1;
        operation.written = 0;
        Some(operation)
    }
}

/// Builds the path key of a path argument held at `path` in the record being built in
/// `POLICY_SCRATCH` (where the judgements build theirs), relative to `dirfd` when it is
/// relative: the base directory is walked (its components hashed, and for destructive operations
/// the protected directories on the way looked up), then the string is resolved against it.
/// Returns the key and where the base went in the record.
#[inline(always)]
pub fn key_of_argument(
    config: &PolicyConfig,
    path: StrRef,
    dirfd: i32,
    op: PolicyOp,
) -> Option<(&'static mut PathKey, StrRef)> {
    let hashing = if op.is_destructive() {
        Hashing::KeyAndBaseDirectories
    } else {
        Hashing::Key
    };
    // One global function does it all (the judgements' records are in `POLICY_SCRATCH`), and
    // the key is found again after it: nothing of this frame is kept across the call, which sits
    // in the judgements' 512-byte stack chain.
    let base = key_of_argument_global(config.seed, path.to_bits(), dirfd as u64, hashing as u64);
    if base == NO_KEY {
        return None;
    }
    Some((PathKey::current()?, StrRef::from_bits(base)))
}

/// What `key_of_argument_global` returns when the key's map is missing (never a `StrRef`: its
/// flags stop at 16 bits).
const NO_KEY: u64 = u64::MAX;

/// The body of `key_of_argument`, a global BPF function (checked once per program, not once per
/// operation the program judges): resets the per-CPU key with `seed`, appends the base directory
/// of the path at `path` (a `StrRef`'s bits) to the record in `POLICY_SCRATCH` with its hashes
/// (`hashing`), then hashes the rest of the path; returns where the base went.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn key_of_argument_global(seed: u64, path: u64, dirfd: u64, hashing: u64) -> u64 {
    let (Some(mut rec), Some(key)) = (Record::resume(POLICY_SCRATCH), PathKey::root(seed)) else {
        return NO_KEY;
    };
    let path = StrRef::from_bits(path);
    let base = base_of(
        &mut rec,
        path,
        dirfd as i32,
        Some(&mut *key),
        Hashing::from_bits(hashing),
    );
    key.push_string(&rec, split(&rec, path).1);
    base.to_bits()
}

/// Whether some rule for `op` may fire on the path hashed into `key` (with the sets
/// `identity_sets` found by identity): the rules' path tests alone, before a record, a subject and
/// the rules one by one are set up. `judge` computes the path's sets again when it runs.
#[inline(always)]
pub fn may_fire_on_path(config: &PolicyConfig, op: PolicyOp, key: &mut PathKey, identity_sets: u64) -> bool {
    let index = super::op_index(op);
    if config.unscoped_ops >> index & 1 != 0 {
        return true;
    }
    let sets = config.always_sets | identity_sets | key.identity_sets | path_sets(key, config.dir_depths);
    decide::may_fire(config.op_sets[index], false, sets)
}

/// Judges a file operation whose path is hashed into `key` and held in `rec`; reports and
/// applies the verdict. Returns the `APPLIED_*` bits (0 when no rule fired).
#[inline(never)]
pub fn judge_key(judging: &Judging, operation: &FileOperation, key: &PathKey, rec: Record) -> u32 {
    let config = judging.config;
    let session = judging.process.session_id;
    let written = operation.written != 0
        || (operation.op == PolicyOp::Exec
            && config.track_written != 0
            && ((operation.file != 0 && file_written(session, operation.file)) || path_written(session, key.full())));
    let Some(subject) = subject(judging, operation.op) else {
        return 0;
    };
    subject.has_path = 1;
    subject.open_flags = operation.open_flags;
    subject.written = written as u32;
    subject.existing = operation.existing;
    subject.identity_sets = operation.identity_sets | key.identity_sets;
    subject.own_identity_sets = operation.identity_sets;
    subject.object = operation.object;
    finish::<false>(judging, subject, rec, &operation.refs, &operation.refs2)
}

/// The per-CPU subject, filled in for `op` of the judged process.
#[inline(always)]
fn subject(judging: &Judging, op: PolicyOp) -> Option<&'static mut Subject> {
    let subject = unsafe { &mut *SUBJECT.get_ptr_mut(0)? };
    let process = judging.process;
    subject.op = op;
    subject.session = process.session_id;
    subject.exe_hash = process.exe_hash;
    subject.name_hash = process.name_hash;
    subject.has_path = 0;
    subject.open_flags = 0;
    subject.written = 0;
    subject.existing = 1;
    subject.identity_sets = 0;
    subject.own_identity_sets = 0;
    subject.object = FileIdentity::default();
    subject.family = 0;
    subject.port = 0;
    subject.addr = [0; 16];
    Some(subject)
}

/// Judges a connection to `destination`.
#[inline(never)]
pub fn judge_connect(judging: &Judging, destination: &Destination, rec: Record) -> u32 {
    let Some(subject) = subject(judging, PolicyOp::Connect) else {
        return 0;
    };
    subject.family = destination.family;
    subject.port = destination.port;
    subject.addr = destination.addr;
    let none = PathRefs::default();
    finish::<true>(judging, subject, rec, &none, &none)
}

/// A hand-off to judge: attach access to, or a connect to a spawner's socket held by, the process
/// `peer` (its tgid, reported in the record's `flags`); `path` is where the record holds the
/// socket's path (empty for attach access).
pub struct Handoff {
    pub op: PolicyOp,
    pub peer: u32,
    pub path: StrRef,
}

/// Judges a hand-off; reports and applies the verdict. Returns the `APPLIED_*` bits.
#[inline(never)]
pub fn judge_handoff(judging: &Judging, handoff: &Handoff, rec: Record) -> u32 {
    let Some(subject) = subject(judging, handoff.op) else {
        return 0;
    };
    subject.open_flags = handoff.peer;
    let none = PathRefs::default();
    finish::<true>(judging, subject, rec, &PathRefs::of(handoff.path), &none)
}

#[inline(always)]
fn finish<const NET: bool>(
    judging: &Judging,
    subject: &Subject,
    rec: Record,
    refs: &PathRefs,
    refs2: &PathRefs,
) -> u32 {
    let verdict = judge::<NET>(judging.config, subject);
    if verdict.fired == 0 {
        return 0;
    }
    let outcome = apply(judging.config, &verdict, judging.backend, subject.session);
    emit(rec, subject, &verdict, judging.backend, &outcome, *refs, *refs2);
    outcome.applied
}
