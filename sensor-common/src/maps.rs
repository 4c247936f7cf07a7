//! Names and value types of the maps shared by the kernel programs and userspace.

/// Map of tracked processes: thread-group id (`u32`) to [`TrackedProcess`].
pub const TRACKED_MAP: &str = "TRACKED";
/// Map of program base-name hashes (`u64`) to [`ExecMatch`], for agent profile matching at exec.
pub const EXEC_NAMES_MAP: &str = "EXEC_NAMES";
/// Per-CPU counters, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// The ring buffer carrying events to userspace.
pub const EVENTS_MAP: &str = "EVENTS";
/// Programs the others tail-call (a `ProgramArray`), by the `TAIL_*` indexes.
pub const TAILS_MAP: &str = "TAILS";
/// `TAILS` index of the program that judges an unlink or rmdir from its pending call (shared by
/// the three syscall entries, so the kernel verifies the judgement once).
pub const TAIL_REMOVE_POLICY: u32 = 0;
/// The program at `TAIL_REMOVE_POLICY`.
pub const REMOVE_POLICY_PROGRAM: &str = "remove_policy";
/// `TAILS` index of the program that does the policy's work at exec (executable hashes, the
/// workspace of a new session, the exec fallback): a program of its own, so it has its own stack.
pub const TAIL_EXEC_POLICY: u32 = 1;
/// The program at `TAIL_EXEC_POLICY`.
pub const EXEC_POLICY_PROGRAM: &str = "exec_policy";
/// `TAILS` index of the policy work of a successful open (judging it, remembering a write).
pub const TAIL_OPEN_POLICY: u32 = 2;
/// The program at `TAIL_OPEN_POLICY`.
pub const OPEN_POLICY_PROGRAM: &str = "open_policy";

/// `TrackedProcess::flags`: the kernel started this process's session at its last exec (the
/// exec policy program records the session's workspace, then clears it).
pub const TRACKED_NEW_SESSION: u32 = 1;

/// Maximum number of processes tracked at once across all sessions.
pub const MAX_TRACKED: u32 = 65_536;
/// Maximum number of program names the profiles can match.
pub const MAX_EXEC_NAMES: u32 = 1_024;

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
}

/// Number of counters in `COUNTERS`.
pub const COUNTER_COUNT: u32 = 8;
