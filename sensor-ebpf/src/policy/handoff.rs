//! What a capture program hands to the policy program it tail-calls (per CPU: a tail call runs
//! on the same CPU, right after).

use sensor_common::event::StrRef;

/// An open the policy judges: the path is in the event scratch buffer (its hashes in the per-CPU
/// `PathKey`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenHandoff {
    pub session: u64,
    /// The `struct file`.
    pub file: u64,
    /// `sets_self` of the file when it is protected.
    pub identity_sets: u64,
    pub flags: u32,
    /// A `PolicyOp` value.
    pub op: u32,
    pub path: StrRef,
    /// Non-zero: the open's own record went out (it is not a counted repeat).
    pub reported: u32,
    /// `file.f_mode` (`FMODE_CREATED`: the open created the file).
    pub fmode: u32,
    /// The file's identity.
    pub object: sensor_common::event::FileIdentity,
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
    pub scan: crate::capture::exec::ArgScanState,
}
