//! Exec, in three programs: `sched_process_exec` starts the record (and a session, when an agent
//! profile matches); `exec_finish`, tail-called, works out what the kernel knows of the program
//! (identity, the system's own or written by the session, the script an interpreter runs),
//! stops new programs of an escalated session, and sends the record; `exec_judge`, tail-called
//! again, judges the exec for the tracepoint backend and the interpreter's script for every
//! backend (BPF LSM only sees the interpreter).

use aya_ebpf::{
    EbpfContext as _,
    cty::c_void,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns, generated::bpf_loop},
    macros::map,
    maps::PerCpuArray,
    programs::TracePointContext,
};
use sensor_common::{
    event::{
        EVENT_EXEC, EXEC_MEMFD, EXEC_TRUSTED, EXEC_WRITTEN_BY_SESSION, ExecEvent, HEADER_SESSION_START, MAX_ARGS,
        MAX_PATH, PolicyEvent, StrRef,
    },
    maps::{
        Counter, KERNEL_SESSION_BIT, TRACKED_INTERPRETER, TRACKED_NEW_SESSION, TRACKED_TRUSTED_EXE, TrackedProcess,
    },
    policy::{BACKEND_TRACEPOINT, ESCALATE_EXEC_STOPPED, MAX_TRUSTED_DIRS, PolicyConfig, PolicyOp, Workspace},
};

use crate::{
    bounds::bounded,
    counters::count,
    kernel::{self, read_ptr},
    maps::{SCRIPT_HOSTS, TRACKED, WORKSPACES},
    matching::{self, ARGS_SCAN},
    paths::{Hashing, append_path, append_path_hashed},
    policy::{
        self,
        act::{execs_stopped, kill_current, kill_if_session_killed},
        check::{FileOperation, Judging, judge_key},
        emit::PathRefs,
        path_key::PathKey,
        written,
    },
    record::{EVENT_SCRATCH, POLICY_SCRATCH, Record, Ring},
    settings::{self, offset},
    tracking,
};

/// A fresh session id for a session the kernel starts.
#[inline(always)]
fn new_session_id(tgid: u32) -> u64 {
    let now = unsafe { bpf_ktime_get_boot_ns() };
    KERNEL_SESSION_BIT | (((now << 8) ^ tgid as u64) & (KERNEL_SESSION_BIT - 1))
}

/// Where the `filename` string of `sched_process_exec` is (its `__data_loc` is `loc`).
#[inline(always)]
pub fn filename_at(ctx: &TracePointContext, loc: u32) -> u64 {
    ctx.as_ptr() as u64 + (loc & 0xffff) as u64
}

/// `sched_process_exec`: starts the exec record of a tracked process (or of a program that
/// matches an agent profile, which starts a session). Returns true when the record waits in the
/// scratch buffer for `exec_finish`.
pub fn on_exec(ctx: &TracePointContext) -> Option<bool> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if tgid == settings::sensor_tgid() {
        return None;
    }
    let known = tracking::of(tgid);
    if known.is_none() && !settings::match_profiles() {
        return None;
    }
    let mut rec = Record::start::<ExecEvent>()?;
    let task = kernel::current_task();
    let mm = kernel::mm(task);
    let args_area = mm.and_then(kernel::arg_area);

    let loc: u32 = unsafe { ctx.read_at(settings::exec_filename_offset() as usize) }.ok()?;
    let filename = rec.kernel_str::<MAX_PATH>(filename_at(ctx, loc));

    let (session_id, profile_id, header_flags) = match known {
        Some(process) => {
            kill_if_session_killed(process.session_id);
            (process.session_id, process.profile_id, 0)
        }
        None => {
            let profile_id = match_profile(&mut rec, filename, args_area)?;
            let session_id = new_session_id(tgid);
            let entry = TrackedProcess {
                session_id,
                profile_id,
                flags: TRACKED_NEW_SESSION,
                exe_hash: 0,
                name_hash: 0,
            };
            if TRACKED.insert(tgid, entry, 0).is_err() {
                count(Counter::TrackedFull);
            }
            (session_id, profile_id, HEADER_SESSION_START)
        }
    };
    let handoff = unsafe { &mut *EXEC_HANDOFF.get_ptr_mut(0)? };
    handoff.exe_hash = 0;
    handoff.name_hash = 0;
    handoff.exe_prefixes = [0; 4];
    handoff.exe_depth = 0;
    let executable = match mm.and_then(kernel::exe_path) {
        Some(path) => match policy::config().and_then(|config| PathKey::root(config.seed)) {
            Some(key) => {
                let executable = append_path_hashed(&mut rec, path, key, Hashing::Key);
                handoff.exe_hash = key.full();
                handoff.name_hash = key.leaf_hash();
                handoff.exe_depth = key.depth;
                handoff.exe_prefixes = [key.prefix(1), key.prefix(2), key.prefix(3), key.prefix(4)];
                executable
            }
            None => append_path(&mut rec, path),
        },
        None => StrRef::default(),
    };
    let cwd = match kernel::cwd_path(task) {
        Some(path) => append_path(&mut rec, path),
        None => StrRef::default(),
    };
    let (args, args_size) = match args_area {
        Some((start, end)) => (rec.user_bytes::<MAX_ARGS>(start, end - start), end - start),
        None => (StrRef::default(), 0),
    };

    let event = rec.fixed::<ExecEvent>();
    event.ppid = kernel::parent_tgid(task);
    event.profile_id = profile_id;
    event.start_boottime_ns = kernel::start_boottime(task);
    event.args_size = args_size as u32;
    event.reserved = 0;
    event.filename = filename;
    event.executable = executable;
    event.cwd = cwd;
    event.args = args;
    event.exe = Default::default();
    event.exec_flags = 0;
    event.reserved2 = 0;
    event.script = StrRef::default();
    handoff.session = session_id;
    handoff.header_flags = header_flags as u32;
    handoff.filename = filename;
    handoff.cwd = cwd;
    handoff.args = args;
    handoff.script = StrRef::default();
    handoff.exec_flags = 0;
    handoff.stopped = 0;
    Some(true)
}

/// Sends the exec record left in the scratch buffer (when `exec_finish` could not run).
#[inline(always)]
pub fn send_unfinished() {
    let Some(handoff) = EXEC_HANDOFF.get_ptr(0) else {
        return;
    };
    let handoff = unsafe { &*handoff };
    if let Some(rec) = Record::resume(EVENT_SCRATCH) {
        rec.submit(EVENT_EXEC, handoff.header_flags as u16, handoff.session);
    }
}

/// The profile an untracked exec matches, if any.
#[inline(always)]
fn match_profile(rec: &mut Record, filename: StrRef, args_area: Option<(u64, u64)>) -> Option<u32> {
    let found = matching::match_path(rec, filename)?;
    if matching::is_agent(&found) {
        return Some(found.profile_id);
    }
    if !matching::is_interpreter(&found) {
        return None;
    }
    // Peek at the first arguments without keeping them: the full vector is appended later.
    let (start, end) = args_area?;
    let at = rec.offset();
    let peek = rec.user_bytes::<ARGS_SCAN>(start, end - start);
    let result = matching::match_args(rec, peek.offset as usize, peek.len as usize);
    rec.rewind(at);
    result
}

/// `exec_script` (tail-called by `sched_process_exec`): the workspace of a session the kernel
/// just started, and the script an interpreter runs.
pub fn exec_script() -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let handoff = unsafe { &mut *EXEC_HANDOFF.get_ptr_mut(0)? };
    let process = tracking::of(tgid)?;
    let config = policy::config()?;
    let session_start = process.flags & TRACKED_NEW_SESSION != 0;
    let interpreter = handoff.name_hash != 0 && unsafe { SCRIPT_HOSTS.get(&handoff.name_hash) }.is_some();
    let find_script = interpreter && config.track_written != 0;
    if session_start || find_script {
        let rec = Record::resume(EVENT_SCRATCH)?;
        cwd_and_script(config, &rec, handoff, session_start, find_script);
    }
    Some(())
}

/// `exec_finish`: what the kernel knows of the program, the escalation stop, the record.
/// Returns true when `exec_judge` must run next.
pub fn exec_finish() -> Option<bool> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let handoff = unsafe { &mut *EXEC_HANDOFF.get_ptr_mut(0)? };
    let mut rec = Record::resume(EVENT_SCRATCH)?;
    let Some(process) = TRACKED.get_ptr_mut(&tgid) else {
        rec.submit(EVENT_EXEC, handoff.header_flags as u16, handoff.session);
        return None;
    };
    let process = unsafe { &mut *process };
    let session = process.session_id;
    let session_start = process.flags & TRACKED_NEW_SESSION != 0;
    let config = policy::config();
    let exe_file = kernel::mm(kernel::current_task()).and_then(kernel::exe_file);
    let identity = exe_file.map(kernel::file_identity).unwrap_or_default();
    let track_written = config.is_some_and(|config| config.track_written != 0);
    let written_exe = track_written && exe_file.is_some_and(|file| written::file_written(session, file));
    let mut exec_flags = 0;
    if written_exe {
        exec_flags |= EXEC_WRITTEN_BY_SESSION;
    }
    if exe_file.is_some_and(is_memfd) {
        exec_flags |= EXEC_MEMFD;
    }
    let trusted =
        !written_exe && exec_flags & EXEC_MEMFD == 0 && config.is_some_and(|config| in_trusted_dir(config, handoff));
    if trusted {
        exec_flags |= EXEC_TRUSTED;
    }
    let interpreter = handoff.name_hash != 0 && unsafe { SCRIPT_HOSTS.get(&handoff.name_hash) }.is_some();
    process.flags &= !(TRACKED_NEW_SESSION | TRACKED_TRUSTED_EXE | TRACKED_INTERPRETER);
    if trusted {
        process.flags |= TRACKED_TRUSTED_EXE;
    }
    if interpreter {
        process.flags |= TRACKED_INTERPRETER;
    }
    process.exe_hash = handoff.exe_hash;
    // Exceptions by program name apply to the system's own programs only: a copy of `ssh` in
    // the workspace does not inherit what `ssh` may do.
    process.name_hash = if trusted { handoff.name_hash } else { 0 };
    exec_flags |= handoff.exec_flags;
    let stopped = config.is_some_and(|config| config.enforce != 0) && execs_stopped(session).is_some();
    let event = rec.fixed::<ExecEvent>();
    event.exe = identity;
    event.exec_flags = exec_flags;
    event.script = handoff.script;
    handoff.exec_flags = exec_flags;
    let ring = if session_start || stopped {
        Ring::Priority
    } else {
        Ring::Events
    };
    rec.submit_to(ring, EVENT_EXEC, handoff.header_flags as u16, session);
    if stopped {
        handoff.stopped = 1;
        kill_current();
        report_stop(process, handoff);
        return None;
    }
    let exec_judged = policy::judging(PolicyOp::Exec, BACKEND_TRACEPOINT).is_some();
    let script_judged = handoff.script.len > 0 && exec_rules(config);
    Some(exec_judged || script_judged)
}

/// True when some kernel rule judges execs (whichever backend).
#[inline(always)]
fn exec_rules(config: Option<&PolicyConfig>) -> bool {
    config.is_some_and(|config| config.op_rules[policy::op_index(PolicyOp::Exec)] != 0)
}

/// True when the executable lies below one of the system's binary directories.
#[inline(always)]
fn in_trusted_dir(config: &PolicyConfig, handoff: &ExecHandoff) -> bool {
    let mut found = false;
    for i in 0..MAX_TRUSTED_DIRS {
        let dir = config.trusted_dirs[i];
        let depth = config.trusted_depths[i];
        if dir != 0 && depth >= 1 && depth <= 4 && depth < handoff.exe_depth {
            found |= handoff.exe_prefixes[bounded(depth as usize - 1, 3)] == dir;
        }
    }
    found
}

/// True when the file lives in memory (`memfd_create`): its name starts with `memfd:`.
#[inline(always)]
fn is_memfd(file: u64) -> bool {
    let path = kernel::file_path(file);
    let name = read_ptr(path + offset!(path_dentry))
        .and_then(|dentry| read_ptr(dentry + offset!(dentry_d_name) + offset!(qstr_name)))
        .and_then(|name| kernel::read::<[u8; 6]>(name));
    name == Some(*b"memfd:")
}

/// Records the workspace of a session the kernel just started, and finds the script an
/// interpreter runs: the first two arguments that are not options, resolved against the working
/// directory; one the session wrote (the second only with a script's suffix) is the script.
#[inline(never)]
fn cwd_and_script(
    config: &PolicyConfig,
    rec: &Record,
    handoff: &mut ExecHandoff,
    session_start: bool,
    find_script: bool,
) {
    let session = handoff.session;
    let Some(mut scratch) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let Some(key) = PathKey::root(config.seed) else {
        return;
    };
    let Some(cwd) = kernel::cwd_path(kernel::current_task()) else {
        return;
    };
    append_path_hashed(&mut scratch, cwd, key, Hashing::Key);
    let depth = key.depth;
    let cwd_hash = key.full();
    if session_start {
        let workspace = Workspace {
            hash: cwd_hash,
            depth,
            reserved: 0,
        };
        let _ = WORKSPACES.insert(&session, &workspace, 0);
    }
    if !find_script {
        return;
    }
    let [first, second] = script_candidates(rec, handoff);
    if try_candidate(rec, handoff, first, depth, cwd_hash) {
        return;
    }
    if has_script_suffix(rec, second) {
        try_candidate(rec, handoff, second, depth, cwd_hash);
    }
    let _ = session;
}

/// Resolves `candidate` against the working directory (its hashes in the per-CPU key, `depth`
/// deep): when the session wrote it, it is the script.
#[inline(never)]
fn try_candidate(rec: &Record, handoff: &mut ExecHandoff, candidate: StrRef, depth: u32, cwd_hash: u64) -> bool {
    if candidate.len == 0 {
        return false;
    }
    let Some(key) = PathKey::current() else {
        return false;
    };
    if key.prefix(depth) != cwd_hash {
        // A `..` in an earlier candidate rewrote the working directory's prefixes.
        return false;
    }
    key.depth = depth;
    key.push_string(rec, candidate);
    if written::path_written(handoff.session, key.full()) {
        handoff.script = candidate;
        handoff.exec_flags |= EXEC_WRITTEN_BY_SESSION;
        return true;
    }
    false
}

/// What `sched_process_exec` hands to the programs that finish the exec record and judge it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecHandoff {
    pub session: u64,
    /// Hashes of the executable's path (0 when no policy is loaded): the whole path, its base
    /// name, and its first three directories (for the system binary directories).
    pub exe_hash: u64,
    pub name_hash: u64,
    pub exe_prefixes: [u64; 4],
    pub exe_depth: u32,
    /// `HEADER_*` flags of the exec record.
    pub header_flags: u32,
    /// Where the record holds the filename, the working directory and the arguments.
    pub filename: StrRef,
    pub cwd: StrRef,
    pub args: StrRef,
    /// The interpreter's script argument the session wrote (empty when none).
    pub script: StrRef,
    /// `EXEC_*` flags found so far.
    pub exec_flags: u32,
    /// Non-zero: the exec was stopped (an escalated session).
    pub stopped: u32,
    /// The scan for the script's candidates.
    pub scan: ArgScanState,
}

/// Per-CPU hand-off between the exec programs.
#[map]
pub static EXEC_HANDOFF: PerCpuArray<ExecHandoff> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct ArgScan {
    rec: *const Record,
    /// The loop's state, in map memory (see `ExecHandoff::scan`): the verifier follows stack
    /// values precisely, and counters there would make every iteration a new state.
    state: *mut ArgScanState,
}

/// The state of the scan for script candidates.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ArgScanState {
    pub start: u64,
    pub len: u64,
    /// Index of the argument being scanned (argv[0] is 0), and where it starts.
    pub arg: u32,
    pub found: u32,
    pub arg_start: u64,
    pub candidates: [StrRef; 2],
}

/// The first two arguments after argv[0] that do not start with `-`.
#[inline(never)]
fn script_candidates(rec: &Record, handoff: &mut ExecHandoff) -> [StrRef; 2] {
    let args = handoff.args;
    handoff.scan = ArgScanState {
        start: args.offset as u64,
        len: args.len as u64,
        arg: 0,
        found: 0,
        arg_start: args.offset as u64,
        candidates: [StrRef::default(); 2],
    };
    let mut scan = ArgScan {
        rec: rec as *const Record,
        state: &mut handoff.scan as *mut ArgScanState,
    };
    let limit = if (args.len as usize) < ARGS_SCAN {
        args.len as u32
    } else {
        ARGS_SCAN as u32
    };
    unsafe {
        bpf_loop(
            limit,
            arg_step as *mut c_void,
            &mut scan as *mut ArgScan as *mut c_void,
            0,
        );
    }
    handoff.scan.candidates
}

extern "C" fn arg_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut ArgScan) };
    let state = unsafe { &mut *scan.state };
    if index >= state.len || state.found >= 2 {
        return 1;
    }
    let at = state.start + index;
    let rec = unsafe { &*scan.rec };
    if rec.byte_at(at as usize) != 0 {
        return 0;
    }
    let len = at - state.arg_start;
    let first = rec.byte_at(state.arg_start as usize);
    if state.arg > 0 && len > 0 && first != b'-' {
        let found = bounded(state.found as usize, 1);
        state.candidates[found] = StrRef {
            offset: state.arg_start as u16,
            len: len as u16,
            flags: 0,
            reserved: 0,
        };
        state.found += 1;
    }
    state.arg += 1;
    state.arg_start = at + 1;
    0
}

/// True when the argument ends like a script (`.sh`, `.py`, `.js`, `.pl`, `.rb`, `.php`, …).
#[inline(never)]
fn has_script_suffix(rec: &Record, s: StrRef) -> bool {
    if s.len < 4 {
        return false;
    }
    let end = s.offset as usize + s.len as usize;
    let last = |back: usize| rec.byte_at(end.wrapping_sub(back));
    let three = [last(3), last(2), last(1)];
    let four = [last(4), last(3), last(2), last(1)];
    matches!(&three, b".sh" | b".py" | b".js" | b".pl" | b".rb" | b".ts" | b".pm")
        || matches!(&four, b".php" | b".lua" | b".mjs" | b".cjs" | b".tcl")
        || (s.len >= 5 && matches!(&[last(5), last(4), last(3), last(2), last(1)], b".bash"))
}

/// Reports a new program of an escalated session that was stopped before it ran.
#[inline(always)]
fn report_stop(process: &TrackedProcess, handoff: &ExecHandoff) {
    let Some(config) = policy::config() else {
        return;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let path = rec.copy_from(EVENT_SCRATCH, handoff.filename);
    let event = rec.fixed::<PolicyEvent>();
    *event = PolicyEvent::default();
    event.op = PolicyOp::Exec as u16;
    event.backend = BACKEND_TRACEPOINT;
    event.applied = sensor_common::policy::APPLIED_KILLED;
    event.escalation = ESCALATE_EXEC_STOPPED | sensor_common::policy::ESCALATE_WINDOW;
    event.denials = execs_stopped(process.session_id).map_or(0, |state| state.denials);
    event.path = path;
    let _ = config;
    rec.submit_to(
        Ring::Priority,
        sensor_common::event::EVENT_POLICY,
        0,
        process.session_id,
    );
}

/// `exec_judge`: the tracepoint backend's judgement of the exec (the path given to execve,
/// resolved against the working directory, and for an interpreter its script).
pub fn exec_judge() -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let handoff = unsafe { &*EXEC_HANDOFF.get_ptr(0)? };
    let process = tracking::of(tgid)?;
    let config = policy::config()?;
    let backend_judges = policy::judging(PolicyOp::Exec, BACKEND_TRACEPOINT).is_some();
    let (target, written) = if handoff.script.len > 0 {
        (handoff.script, 1)
    } else if backend_judges {
        (
            handoff.filename,
            (handoff.exec_flags & EXEC_WRITTEN_BY_SESSION != 0) as u32,
        )
    } else {
        return None;
    };
    let mut rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let base = match kernel::cwd_path(kernel::current_task()) {
        Some(cwd) => {
            let key = PathKey::root(config.seed)?;
            let base = append_path_hashed(&mut rec, cwd, key, Hashing::Key);
            base
        }
        None => StrRef::default(),
    };
    let path = rec.copy_from(EVENT_SCRATCH, target);
    let key = PathKey::current()?;
    key.push_string(&rec, path);
    let exe_file = kernel::mm(kernel::current_task()).and_then(kernel::exe_file);
    let Some(operation) = FileOperation::new(PolicyOp::Exec, PathRefs { path, base }) else {
        return Default::default();
    };
    operation.file = if handoff.script.len > 0 {
        0
    } else {
        exe_file.unwrap_or(0)
    };
    operation.written = written;
    let judging = Judging {
        config,
        process: &process,
        backend: BACKEND_TRACEPOINT,
    };
    judge_key(&judging, operation, key, rec);
    Some(())
}
