//! Names and value types of the maps shared by the kernel programs and userspace.

/// Map of tracked processes: thread-group id (`u32`) to [`TrackedProcess`].
pub const TRACKED_MAP: &str = "TRACKED";
/// Map of program base-name hashes (`u64`) to [`ExecMatch`], for agent profile matching at exec.
pub const EXEC_NAMES_MAP: &str = "EXEC_NAMES";
/// Map of spawner programs: the hash of an executable's base name (`u64`, see
/// [`crate::hash::name_words_hash`]) to `SPAWNER_*` flags (`u32`). A unix connect to a socket
/// whose listener runs one of them, from outside the listener's session, is a hand-off.
pub const SPAWNERS_MAP: &str = "SPAWNERS";
/// Per-CPU counters, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// The ring buffer carrying events to userspace.
pub const EVENTS_MAP: &str = "EVENTS";
/// The small ring buffer reserved for records that hit a kernel rule or a protected file
/// (policy verdicts, tamper attempts, protected opens, session starts): ordinary events cannot
/// fill it.
pub const PRIORITY_MAP: &str = "PRIORITY";
/// Records lost per session: session id (`u64`) to count (`u64`).
pub const SESSION_LOSS_MAP: &str = "SESSION_LOSS";
/// The event ring reader's clock: an array of `u64` boot-time nanoseconds, by `WAKE_*` slot.
pub const WAKE_MAP: &str = "WAKE";
/// Slot of [`WAKE_MAP`] the programs keep: when they last woke the reader.
pub const WAKE_LAST: u32 = 0;
/// Slot of [`WAKE_MAP`] the reader writes before a timed wait: until then it looks again by
/// itself, and records are committed without waking it.
pub const WAKE_READER_DEADLINE: u32 = 1;
/// Slots of [`WAKE_MAP`].
pub const WAKE_SLOTS: u32 = 2;
/// Tracepoint programs the others tail-call (a `ProgramArray`), by the `TAIL_*` indexes.
pub const TAILS_MAP: &str = "TAILS";
/// Raw tracepoint programs `sys_enter` tail-calls (a `ProgramArray` of their own: a program
/// array holds one program type), by the `RAW_TAIL_*` indexes.
pub const RAW_TAILS_MAP: &str = "RAW_TAILS";

/// The programs behind the tail-call indexes, by map: (index, program name).
pub const TAIL_PROGRAMS: [(u32, &str); 7] = [
    (TAIL_URING_POLICY, "uring_policy"),
    (TAIL_EXEC_SCRIPT, "exec_script"),
    (TAIL_EXEC_FINISH, "exec_finish"),
    (TAIL_EXEC_JUDGE, "exec_judge"),
    (TAIL_EXIT_OPEN, "exit_open"),
    (TAIL_OPEN_POLICY, "open_policy"),
    (TAIL_EXIT_OPERATION, "exit_operation"),
];
/// The raw tracepoint tail programs, by `RAW_TAIL_*` slot, with their program names.
pub const RAW_TAIL_PROGRAMS: [(u32, &str); 3] = [
    (RAW_TAIL_ENTER_POLICY, "enter_policy"),
    (RAW_TAIL_COMPAT_RECORD, "compat_record"),
    (RAW_TAIL_ENTER_SECOND, "enter_policy_second"),
];

/// The tracepoint backend's judgement of an io_uring request.
pub const TAIL_URING_POLICY: u32 = 6;
/// The workspace of a new session and the script an interpreter runs.
pub const TAIL_EXEC_SCRIPT: u32 = 5;
/// Finishing an exec record (identity, lineage, escalation).
pub const TAIL_EXEC_FINISH: u32 = 0;
/// The tracepoint backend's judgement of an exec (and of an interpreter's script).
pub const TAIL_EXEC_JUDGE: u32 = 1;
/// The record of a finished open.
pub const TAIL_EXIT_OPEN: u32 = 2;
/// The policy's work on a finished open.
pub const TAIL_OPEN_POLICY: u32 = 3;
/// The record of a finished generic operation.
pub const TAIL_EXIT_OPERATION: u32 = 4;
/// The tracepoint backend's judgement of a call at entry, 64-bit and 32-bit alike (the pending
/// entry says which; a 32-bit call is forgotten once judged).
pub const RAW_TAIL_ENTER_POLICY: u32 = 0;
/// The record of a 32-bit call (at entry: the exit tracepoints never see them).
pub const RAW_TAIL_COMPAT_RECORD: u32 = 1;
/// The judgement of a call's second path argument at entry (the new name of a rename): its own
/// program, so each program holds one copy of the path judgement (6.1's verifier walks a
/// function once per call site).
pub const RAW_TAIL_ENTER_SECOND: u32 = 2;

/// `TrackedProcess::flags`: the kernel started this process's session at its last exec (the
/// exec policy program records the session's workspace, then clears it).
pub const TRACKED_NEW_SESSION: u32 = 1;
/// `TrackedProcess::flags`: the process runs the system's own executable (see
/// `event::EXEC_TRUSTED`); program exceptions by name apply to it.
pub const TRACKED_TRUSTED_EXE: u32 = 2;
/// `TrackedProcess::flags`: the process runs a known interpreter (shell, python, node, …).
pub const TRACKED_INTERPRETER: u32 = 4;

/// Maximum number of processes tracked at once across all sessions.
pub const MAX_TRACKED: u32 = 65_536;
/// Maximum number of program names the profiles can match.
pub const MAX_EXEC_NAMES: u32 = 1_024;

/// Maximum number of spawner programs (`handoff.spawner_programs` and the built-in systemd).
pub const MAX_SPAWNERS: u32 = 64;
/// `SPAWNERS` value: the program runs commands for the clients of every socket it listens on
/// (tmux, screen).
pub const SPAWNER_ANY_SOCKET: u32 = 1;
/// `SPAWNERS` value: only the program's socket whose path ends in `/private` runs commands (the
/// systemd user manager, which also holds the sockets it activates for other servers).
pub const SPAWNER_PRIVATE_SOCKET: u32 = 2;

/// Session ids with this bit set were started by the kernel (a profile matched at exec); ids
/// without it were chosen by userspace (`watch`, `--pid`).
pub const KERNEL_SESSION_BIT: u64 = 1 << 63;

/// What the kernel knows about a tracked process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackedProcess {
    /// The agent session this process belongs to.
    pub session_id: u64,
    /// The profile that started the session ([`NO_PROFILE`] when userspace started it).
    pub profile_id: u32,
    /// `TRACKED_*` flags.
    pub flags: u32,
    /// `policy::path_hash` of the executable (0 until known).
    pub exe_hash: u64,
    /// `policy::component_hash` of the executable's base name (0 until known).
    pub name_hash: u64,
}

/// Profile id of sessions started by userspace rather than by a profile match.
pub const NO_PROFILE: u32 = u32::MAX;

/// How an entry of `EXEC_NAMES` matches.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecMatch {
    /// Index of the profile this name belongs to; meaningful when [`EXEC_MATCH_AGENT`] is set.
    pub profile_id: u32,
    /// [`EXEC_MATCH_AGENT`] and/or [`EXEC_MATCH_INTERPRETER`].
    pub kind: u32,
}

/// The name is an agent's command: executing it starts a session.
pub const EXEC_MATCH_AGENT: u32 = 1;
/// The name is an interpreter (node, python3, …): its first arguments are matched too.
pub const EXEC_MATCH_INTERPRETER: u32 = 2;

/// Indexes of the per-CPU counters in `COUNTERS`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Events lost because the ring buffer was full.
    RingbufFull = 0,
    /// Children that could not be tracked because `TRACKED` was full.
    TrackedFull = 1,
    /// Syscall entries that could not be remembered until their exit (pending map full).
    PendingFull = 2,
    /// Events whose scratch buffer could not be obtained.
    ScratchMissing = 3,
    /// Events emitted (successfully written to the ring buffer).
    Emitted = 4,
    /// Operations the policy fired on.
    PolicyFired = 5,
    /// Signals the policy could not send.
    SignalFailed = 6,
    /// Paths deeper than the policy hashes (judged by their first components).
    PolicyDepth = 7,
    /// Records lost because the priority ring buffer was full.
    PriorityFull = 8,
    /// Operations counted into an earlier record instead of getting their own (repeats).
    Repeats = 9,
    /// 32-bit (ia32) syscalls of tracked processes.
    CompatCalls = 10,
    /// io_uring submissions of tracked processes.
    IoUringSubmissions = 11,
    /// Path arguments the entry policy needed but could not read (judged closed).
    UnreadableArgument = 12,
}

/// Number of counters in `COUNTERS`.
pub const COUNTER_COUNT: u32 = 13;
