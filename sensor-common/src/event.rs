//! The records the kernel programs write into the ring buffer.
//!
//! Each record starts with an [`EventHeader`]; `header.kind` says which fixed-size struct follows
//! at offset zero, and the struct's [`StrRef`]s point into the variable-length data that follows
//! the struct. Offsets in a `StrRef` count from the start of the record.

/// Largest record the programs write, in bytes (the size of the per-CPU scratch buffer).
pub const SCRATCH_SIZE: usize = 32_768;
/// Strings are appended only while the write offset is below this limit; it keeps every write
/// provably inside the scratch buffer (offset masked to `SCRATCH_HALF - 1`, length at most
/// `SCRATCH_HALF`).
pub const SCRATCH_HALF: usize = SCRATCH_SIZE / 2;
/// Longest path the kernel copies, as the caller gave it.
pub const MAX_PATH: usize = 4_096;
/// Longest single path component (`NAME_MAX` plus the NUL).
pub const MAX_COMPONENT: usize = 256;
/// Deepest path the kernel reconstructs from dentries; deeper ones are marked truncated.
pub const MAX_PATH_DEPTH: usize = 48;
/// Longest argument vector the kernel copies (arguments beyond are cut and marked truncated).
pub const MAX_ARGS: usize = 8_192;
/// Longest unix socket path (`sizeof(sun_path)`).
pub const MAX_UNIX_PATH: usize = 108;

pub const EVENT_EXEC: u16 = 1;
pub const EVENT_FORK: u16 = 2;
pub const EVENT_EXIT: u16 = 3;
pub const EVENT_OPEN: u16 = 4;
pub const EVENT_CONNECT: u16 = 5;
pub const EVENT_UNLINK: u16 = 6;
pub const EVENT_CHDIR: u16 = 7;
/// A judgement of the enforcement policy ([`PolicyEvent`]).
pub const EVENT_POLICY: u16 = 8;
/// A tracked process reached for the sensor itself (signal, ptrace, bpf()).
pub const EVENT_TAMPER: u16 = 9;

/// Header flag: this exec matched an agent profile and started a new session.
pub const HEADER_SESSION_START: u16 = 1;

/// Which system call produced a file, network or working-directory event.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    Open = 1,
    Openat = 2,
    Openat2 = 3,
    Creat = 4,
    Unlink = 5,
    Unlinkat = 6,
    Rmdir = 7,
    Connect = 8,
    Chdir = 9,
    Fchdir = 10,
}

impl Syscall {
    pub const fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            1 => Self::Open,
            2 => Self::Openat,
            3 => Self::Openat2,
            4 => Self::Creat,
            5 => Self::Unlink,
            6 => Self::Unlinkat,
            7 => Self::Rmdir,
            8 => Self::Connect,
            9 => Self::Chdir,
            10 => Self::Fchdir,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Openat => "openat",
            Self::Openat2 => "openat2",
            Self::Creat => "creat",
            Self::Unlink => "unlink",
            Self::Unlinkat => "unlinkat",
            Self::Rmdir => "rmdir",
            Self::Connect => "connect",
            Self::Chdir => "chdir",
            Self::Fchdir => "fchdir",
        }
    }
}

/// Common start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// One of the `EVENT_*` constants.
    pub kind: u16,
    /// `HEADER_*` flags.
    pub flags: u16,
    /// Total size of the record in bytes.
    pub size: u32,
    /// `CLOCK_BOOTTIME` nanoseconds when the event happened.
    pub time_ns: u64,
    /// Agent session of the process.
    pub session_id: u64,
    /// Thread-group id (the process id).
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// cgroup v2 id of the task.
    pub cgroup_id: u64,
}

/// The bytes are path components, leaf first, each terminated by NUL; userspace reverses them.
pub const STR_COMPONENTS: u16 = 1;
/// The string was longer than its limit (or the path deeper than `MAX_PATH_DEPTH`) and was cut.
pub const STR_TRUNCATED: u16 = 2;
/// The string could not be read (fault, missing object).
pub const STR_MISSING: u16 = 4;

/// A string inside a record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrRef {
    /// Offset from the start of the record.
    pub offset: u16,
    /// Length in bytes.
    pub len: u16,
    /// `STR_*` flags.
    pub flags: u16,
    pub reserved: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Thread-group id of the real parent.
    pub ppid: u32,
    /// Index of the matched profile when `HEADER_SESSION_START` is set.
    pub profile_id: u32,
    /// When the process started (`CLOCK_BOOTTIME` ns), from `task_struct`.
    pub start_boottime_ns: u64,
    /// Size of the whole argument area (`arg_end - arg_start`), to tell truncation.
    pub args_size: u32,
    pub reserved: u32,
    /// The path given to execve (for scripts, the script).
    pub filename: StrRef,
    /// The file actually executed (`mm->exe_file`), as components.
    pub executable: StrRef,
    /// The working directory, as components.
    pub cwd: StrRef,
    /// The argument vector, NUL-separated.
    pub args: StrRef,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkEvent {
    pub header: EventHeader,
    /// Thread-group id of the new process.
    pub child_tgid: u32,
    /// Non-zero when the child could not be tracked (map full).
    pub untracked: u32,
    pub clone_flags: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitEvent {
    pub header: EventHeader,
    /// The wait status: exit status in bits 8..16, terminating signal in bits 0..7.
    pub exit_code: u32,
    pub reserved: u32,
}

/// `OpenEvent::resolved` holds nothing.
pub const RESOLVED_NONE: u16 = 0;
/// `OpenEvent::resolved` is the path of the file the call opened (from the new descriptor).
pub const RESOLVED_FILE: u16 = 1;
/// `resolved` is the directory a relative path starts from (`dirfd` or the working directory).
pub const RESOLVED_BASE: u16 = 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenEvent {
    pub header: EventHeader,
    /// A [`Syscall`] value.
    pub syscall: u16,
    /// One of the `RESOLVED_*` constants.
    pub resolved_kind: u16,
    pub dirfd: i32,
    /// Open flags as given (`O_*`).
    pub flags: u32,
    pub mode: u32,
    /// Return value: the new descriptor, or a negative errno.
    pub ret: i64,
    /// The path as the caller gave it.
    pub path: StrRef,
    /// See `resolved_kind`.
    pub resolved: StrRef,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UnlinkEvent {
    pub header: EventHeader,
    /// A [`Syscall`] value.
    pub syscall: u16,
    /// `RESOLVED_BASE` when `base` holds the starting directory of a relative path.
    pub resolved_kind: u16,
    pub dirfd: i32,
    /// `unlinkat` flags (`AT_REMOVEDIR`).
    pub flags: u32,
    pub reserved: u32,
    pub ret: i64,
    pub path: StrRef,
    pub base: StrRef,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectEvent {
    pub header: EventHeader,
    pub fd: i32,
    /// `sa_family` of the address (`AF_INET`, `AF_INET6`, `AF_UNIX`, …).
    pub family: u16,
    /// Port in network byte order, as in the sockaddr.
    pub port_be: u16,
    pub ret: i64,
    /// IPv4 (first 4 bytes) or IPv6 address.
    pub addr: [u8; 16],
    /// For `AF_UNIX`, the socket path (abstract sockets start with NUL).
    pub unix_path: StrRef,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ChdirEvent {
    pub header: EventHeader,
    pub syscall: u16,
    pub reserved: [u16; 3],
    pub ret: i64,
    /// The new working directory, as components.
    pub cwd: StrRef,
}

/// An operation of a tracked process that kernel policy rules fired on, and what was done.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyEvent {
    pub header: EventHeader,
    /// A `policy::PolicyOp` value.
    pub op: u16,
    /// Which family `addr` holds (`AF_INET`, `AF_INET6`) for connect.
    pub family: u16,
    /// The `policy::BACKEND_*` that judged it.
    pub backend: u32,
    /// The strongest `policy::ACTION_*` among the rules that fired.
    pub action: u32,
    /// `policy::APPLIED_*` bits.
    pub applied: u32,
    /// The rules that fired (bits of rule slots).
    pub fired: u64,
    /// Open flags (`O_*`) for opens.
    pub flags: u32,
    /// Destination port, network byte order, for connect.
    pub port_be: u16,
    pub reserved: u16,
    /// Destination address for connect, as IPv6 (IPv4 as `::ffff:a.b.c.d`).
    pub addr: [u8; 16],
    /// The path: components, leaf first (`STR_COMPONENTS`), or a string as the caller gave it.
    pub path: StrRef,
    /// When `path` is a relative string: the directory it starts from, as components.
    pub base: StrRef,
}

/// `TamperEvent::kind`: a signal sent to the sensor.
pub const TAMPER_SIGNAL: u32 = 1;
/// `TamperEvent::kind`: ptrace aimed at the sensor.
pub const TAMPER_PTRACE: u32 = 2;
/// `TamperEvent::kind`: the bpf() syscall (loading, detaching or inspecting BPF programs).
pub const TAMPER_BPF: u32 = 3;

/// `TamperEvent::verdict`: seen (the operation went ahead; no BPF LSM).
pub const TAMPER_SEEN: u32 = 0;
/// `TamperEvent::verdict`: denied by a BPF LSM hook (EPERM).
pub const TAMPER_DENIED: u32 = 1;
/// `TamperEvent::verdict`: a BPF LSM hook would have denied it (monitor mode).
pub const TAMPER_WOULD_DENY: u32 = 2;

/// A tracked process reached for the sensor (docs/enforcement.md, "Protecting the sensor").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TamperEvent {
    pub header: EventHeader,
    /// One of the `TAMPER_*` kinds.
    pub kind: u32,
    /// The signal number, the ptrace request or the bpf() command.
    pub detail: u32,
    /// The sensor process (or thread) aimed at; 0 for bpf().
    pub target: u32,
    /// One of `TAMPER_SEEN`, `TAMPER_DENIED`, `TAMPER_WOULD_DENY`.
    pub verdict: u32,
}
