//! The judgement of one operation, from its path (or destination) to the record: shared by the
//! LSM hooks, the tracepoint fallbacks and the cgroup socket programs.

use sensor_common::{
    event::{STR_COMPONENTS, StrRef},
    maps::TrackedProcess,
    policy::{PolicyConfig, PolicyOp},
};

use super::{
    act::apply,
    emit::{PathRefs, emit},
    judge::{Subject, judge},
    path_key::PathKey,
    written::{file_written, path_written},
};
use crate::{maps::SUBJECT, programs::net::Destination, record::Record};

/// The path hashes of the path at `refs` in `rec`: components, or a string relative to components.
#[inline(always)]
pub fn path_key(config: &PolicyConfig, rec: &Record, refs: PathRefs) -> Option<&'static mut PathKey> {
    let key = PathKey::root(config.seed)?;
    if refs.path.flags & STR_COMPONENTS != 0 {
        key.push_components(rec, refs.path);
    } else {
        if refs.base.len > 0 {
            key.push_components(rec, refs.base);
        }
        key.push_string(rec, refs.path);
    }
    Some(key)
}

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
    /// Where the record holds the path.
    pub refs: PathRefs,
}

/// Judges a file operation whose path `rec` holds; reports and applies the verdict.
/// Returns the `APPLIED_*` bits (0 when no rule fired).
#[inline(always)]
pub fn judge_file(judging: &Judging, operation: &FileOperation, rec: Record) -> u32 {
    let Some(key) = path_key(judging.config, &rec, operation.refs) else {
        return 0;
    };
    judge_key(judging, operation, key, rec)
}

/// Like `judge_file`, with the path already hashed into `key`.
#[inline(never)]
pub fn judge_key(judging: &Judging, operation: &FileOperation, key: &PathKey, rec: Record) -> u32 {
    let config = judging.config;
    let session = judging.process.session_id;
    let written = operation.op == PolicyOp::Exec
        && config.track_written != 0
        && ((operation.file != 0 && file_written(session, operation.file)) || path_written(session, key.full()));
    let Some(subject) = subject(judging, operation.op) else {
        return 0;
    };
    subject.has_path = 1;
    subject.open_flags = operation.open_flags;
    subject.written = written as u32;
    finish::<false>(judging, subject, rec, &operation.refs)
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
    let refs = PathRefs {
        path: StrRef::default(),
        base: StrRef::default(),
    };
    finish::<true>(judging, subject, rec, &refs)
}

#[inline(always)]
fn finish<const NET: bool>(judging: &Judging, subject: &Subject, rec: Record, refs: &PathRefs) -> u32 {
    let verdict = judge::<NET>(judging.config, subject);
    if verdict.fired == 0 {
        return 0;
    }
    let applied = apply(judging.config, &verdict, judging.backend, subject.session);
    emit(rec, subject, &verdict, judging.backend, applied, *refs);
    applied
}
