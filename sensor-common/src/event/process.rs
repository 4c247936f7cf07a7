//! Process records: exec, fork, exit and working-directory changes.

use super::{EventHeader, FileIdentity, StrRef};

/// `ExecEvent::exec_flags`: the executed file (or the interpreter's script) was written by the
/// session.
pub const EXEC_WRITTEN_BY_SESSION: u32 = 1;
/// `ExecEvent::exec_flags`: the executable is the system's own: under a system binary directory
/// and not written by the session (program exceptions by name apply to such executables only).
pub const EXEC_TRUSTED: u32 = 2;
/// `ExecEvent::exec_flags`: the executable lives in memory (`memfd_create`), not on a disk.
pub const EXEC_MEMFD: u32 = 4;

/// An exec (`EVENT_EXEC`): what was executed, by whom, where, with which arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// Thread-group id of the real parent.
    pub ppid: u32,
    /// Index of the matched profile when `HEADER_SESSION_START` is set.
    pub profile_id: u32,
    /// When the process started (`CLOCK_BOOTTIME` ns), from `task_struct`.
    pub start_boottime_ns: u64,
    /// Size of the whole argument area (`arg_end - arg_start`), to tell truncation.
    pub args_size: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
    /// The path given to execve (for scripts, the script).
    pub filename: StrRef,
    /// The file actually executed (`mm->exe_file`), as components.
    pub executable: StrRef,
    /// The working directory, as components.
    pub cwd: StrRef,
    /// The argument vector, NUL-separated.
    pub args: StrRef,
    /// The executable's identity.
    pub exe: FileIdentity,
    /// `EXEC_*` flags.
    pub exec_flags: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved2: u32,
    /// For an interpreter (`sh`, `python3`, …): the argument it runs as a script, as given (empty
    /// when the kernel found none the session wrote).
    pub script: StrRef,
}

/// A fork or clone of a tracked process (`EVENT_FORK`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// Thread-group id of the new process.
    pub child_tgid: u32,
    /// Non-zero when the child could not be tracked (map full).
    pub untracked: u32,
    /// The `clone` flags (`CLONE_*`).
    pub clone_flags: u64,
}

/// A tracked process exited (`EVENT_EXIT`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// The wait status: exit status in bits 8..16, terminating signal in bits 0..7.
    pub exit_code: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
}

/// A chdir or fchdir call (`EVENT_CHDIR`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ChdirEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// A [`Syscall`](super::Syscall) value.
    pub syscall: u16,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: [u16; 3],
    /// Return value: 0, or a negative errno.
    pub ret: i64,
    /// The new working directory, as components.
    pub cwd: StrRef,
}
