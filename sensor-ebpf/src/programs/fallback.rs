//! The tracepoint backend, for kernels without BPF LSM: the syscall tracepoints cannot make a call
//! fail, so a process whose operation a rule fires on is killed with SIGKILL, which takes effect
//! before it returns to user space. What that does and does not prevent (docs/enforcement.md):
//!
//! - open: judged at syscall exit, on the file actually opened. The process never runs another
//!   instruction, so it never reads or writes through the descriptor; but the open itself
//!   happened (`O_CREAT` created the file, `O_TRUNC` emptied it).
//! - unlink, rmdir: judged at syscall entry, from the path argument resolved against the working
//!   directory or dirfd. The call itself still runs, so the first unlink of each process is done.
//! - exec: judged when the new program is loaded, before its first instruction, by the path given
//!   to execve (for a script, the script) and the executable's inode: the program never runs; the
//!   old program is already gone.
//!
//! This module also keeps the per-process state the policy needs whatever the backend: the
//! executable hashes of tracked processes, the workspace of sessions the kernel starts, and the
//! files each session writes.

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use sensor_common::{
    event::{PolicyEvent, StrRef},
    maps::{TRACKED_NEW_SESSION, TrackedProcess},
    policy::{BACKEND_TRACEPOINT, PolicyConfig, PolicyOp, Workspace},
};

use crate::{
    kernel,
    maps::{TRACKED, WORKSPACES},
    paths::append_path,
    policy::{
        self,
        check::{FileOperation, Judging, judge_file, judge_key, path_key},
        emit::PathRefs,
        path_key::PathKey,
        written,
    },
    record::{POLICY_SCRATCH, Record},
};

const O_DIRECTORY: u32 = 0o200000;
const O_WRONLY: u64 = 0o1;
const O_RDWR: u64 = 0o2;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;

/// True when `config` has a rule for any operation (the policy is in use).
#[inline(always)]
fn in_use(config: &PolicyConfig) -> bool {
    config.op_rules.iter().any(|rules| *rules != 0)
}

/// True when a successful open with `flags` needs `after_open` (a tail call of its own).
#[inline(always)]
pub fn open_needs_policy(flags: u64) -> bool {
    let Some(config) = policy::config() else {
        return false;
    };
    let write = flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) != 0;
    let op = if write { PolicyOp::OpenWrite } else { PolicyOp::OpenRead };
    policy::judging(op, BACKEND_TRACEPOINT).is_some() || (write && config.track_written != 0)
}

/// After a successful open of `file` by a tracked process: remember writes, judge the open.
#[inline(never)]
pub fn after_open(session: u64, file: u64, flags: u32, write: bool) {
    let Some(config) = policy::config() else {
        return;
    };
    let op = if write { PolicyOp::OpenWrite } else { PolicyOp::OpenRead };
    let judged = policy::judging(op, BACKEND_TRACEPOINT).is_some();
    let remember = write && config.track_written != 0 && flags & O_DIRECTORY == 0;
    if !judged && !remember {
        return;
    }
    // The exec fallback knows a script only by its path, so it needs the path hash of writes.
    let exec_by_path = policy::judging(PolicyOp::Exec, BACKEND_TRACEPOINT).is_some();
    if !judged && !exec_by_path {
        written::remember(session, file, None);
        return;
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Some(process) = (unsafe { TRACKED.get(&tgid) }).copied() else {
        return;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let refs = PathRefs::of(append_path(&mut rec, kernel::file_path(file)));
    let Some(key) = path_key(config, &rec, refs) else {
        return;
    };
    if remember {
        written::remember(session, file, exec_by_path.then(|| key.full()));
    }
    if judged {
        let operation = FileOperation {
            op,
            open_flags: flags,
            file: 0,
            refs,
        };
        judge_key(&tracepoint_judging(config, &process), &operation, key, rec);
    }
}

#[inline(always)]
fn tracepoint_judging<'a>(config: &'a PolicyConfig, process: &'a TrackedProcess) -> Judging<'a> {
    Judging {
        config,
        process,
        backend: BACKEND_TRACEPOINT,
    }
}

/// Before an unlink or rmdir of a tracked process: `path` is the argument, already in `rec`.
#[inline(always)]
pub fn before_remove(process: &TrackedProcess, op: PolicyOp, dirfd: i32, mut rec: Record, path: StrRef) {
    let Some(config) = policy::judging(op, BACKEND_TRACEPOINT) else {
        return;
    };
    let relative = !(path.len > 0 && rec.byte_at(path.offset as usize) == b'/');
    let base = if relative {
        match kernel::base_dir_path(kernel::current_task(), dirfd) {
            Some(dir) => append_path(&mut rec, dir),
            None => StrRef::default(),
        }
    } else {
        StrRef::default()
    };
    let operation = FileOperation {
        op,
        open_flags: 0,
        file: 0,
        refs: PathRefs { path, base },
    };
    judge_file(&tracepoint_judging(config, process), &operation, rec);
}

/// At exec of a tracked process (after its exec record is out): computes the executable's hashes
/// for the policy's program exceptions, the workspace of a session the kernel just started, and,
/// as the exec backend, judges the path given to execve (for a script, the script) resolved
/// against the working directory, with the executable's inode for "written by the session".
#[inline(never)]
pub fn at_exec(tgid: u32, filename_at: u64) {
    let Some(config) = policy::config() else {
        return;
    };
    if !in_use(config) {
        return;
    }
    let Some(process) = TRACKED.get_ptr_mut(&tgid) else {
        return;
    };
    let process = unsafe { &mut *process };
    let session_start = process.flags & TRACKED_NEW_SESSION != 0;
    process.flags &= !TRACKED_NEW_SESSION;
    let exe_file = kernel::mm(kernel::current_task()).and_then(kernel::exe_file);
    if let Some(exe_file) = exe_file {
        record_program(config, process, exe_file);
    }
    let judging = policy::judging(PolicyOp::Exec, BACKEND_TRACEPOINT).is_some();
    if session_start || judging {
        judge_exec(config, process, session_start, exe_file.unwrap_or(0), filename_at);
    }
}

/// Stores the hashes of the executable `exe_file` in the process's entry.
#[inline(never)]
fn record_program(config: &PolicyConfig, process: &mut TrackedProcess, exe_file: u64) {
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let refs = PathRefs::of(append_path(&mut rec, kernel::file_path(exe_file)));
    if let Some(key) = path_key(config, &rec, refs) {
        process.exe_hash = key.full();
        process.name_hash = key.leaf_hash();
    }
}

/// Records the workspace of a new session (the working directory), and judges the exec when the
/// tracepoint backend judges execs. `exe_file` is 0 when unknown.
#[inline(never)]
fn judge_exec(config: &PolicyConfig, process: &TrackedProcess, session_start: bool, exe_file: u64, filename_at: u64) {
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let base = match kernel::cwd_path(kernel::current_task()) {
        Some(cwd) => append_path(&mut rec, cwd),
        None => StrRef::default(),
    };
    let path = rec.kernel_str::<{ sensor_common::event::MAX_PATH }>(filename_at);
    let Some(key) = PathKey::root(config.seed) else {
        return;
    };
    key.push_components(&rec, base);
    if session_start {
        let workspace = Workspace {
            hash: key.full(),
            depth: key.depth,
            reserved: 0,
        };
        let _ = WORKSPACES.insert(&process.session_id, &workspace, 0);
    }
    let Some(config) = policy::judging(PolicyOp::Exec, BACKEND_TRACEPOINT) else {
        return;
    };
    key.push_string(&rec, path);
    let operation = FileOperation {
        op: PolicyOp::Exec,
        open_flags: 0,
        file: exe_file,
        refs: PathRefs { path, base },
    };
    judge_key(&tracepoint_judging(config, process), &operation, key, rec);
}
