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

/// A generic file, process or namespace operation ([`SyscallEvent`]).
pub const EVENT_SYSCALL: u16 = 10;
/// Operations identical to a thread's previous record, counted instead of reported one by one
/// ([`RepeatEvent`]).
pub const EVENT_REPEAT: u16 = 11;

/// Header flag: the record is a summary of several identical operations (`repeat` > 1).
pub const HEADER_REPEAT: u16 = 2;
/// Header flag: the record travelled on the priority ring (it hit a kernel rule or a protected
/// file), so it is never crowded out by ordinary events.
pub const HEADER_PRIORITY: u16 = 4;

/// Which system call produced a file, network, process or working-directory event. The same
/// value is used for the 64-bit call, its 32-bit (ia32 compat) counterpart and its io_uring
/// equivalent; the record's flags say which door was used.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    Rename = 11,
    Renameat = 12,
    Renameat2 = 13,
    Link = 14,
    Linkat = 15,
    Symlink = 16,
    Symlinkat = 17,
    Truncate = 18,
    Ftruncate = 19,
    Chmod = 20,
    Fchmod = 21,
    Fchmodat = 22,
    Fchmodat2 = 23,
    Chown = 24,
    Fchown = 25,
    Lchown = 26,
    Fchownat = 27,
    Setxattr = 28,
    Lsetxattr = 29,
    Fsetxattr = 30,
    Mount = 31,
    MoveMount = 32,
    Umount2 = 33,
    Unshare = 34,
    Setns = 35,
    MemfdCreate = 36,
    Execve = 37,
    Execveat = 38,
    Bind = 39,
    Listen = 40,
    Ptrace = 41,
    ProcessVmWritev = 42,
    IoUringSetup = 43,
    Mkdir = 44,
    Mkdirat = 45,
}

impl Syscall {
    /// Every call, in value order.
    pub const ALL: [Syscall; 45] = [
        Self::Open,
        Self::Openat,
        Self::Openat2,
        Self::Creat,
        Self::Unlink,
        Self::Unlinkat,
        Self::Rmdir,
        Self::Connect,
        Self::Chdir,
        Self::Fchdir,
        Self::Rename,
        Self::Renameat,
        Self::Renameat2,
        Self::Link,
        Self::Linkat,
        Self::Symlink,
        Self::Symlinkat,
        Self::Truncate,
        Self::Ftruncate,
        Self::Chmod,
        Self::Fchmod,
        Self::Fchmodat,
        Self::Fchmodat2,
        Self::Chown,
        Self::Fchown,
        Self::Lchown,
        Self::Fchownat,
        Self::Setxattr,
        Self::Lsetxattr,
        Self::Fsetxattr,
        Self::Mount,
        Self::MoveMount,
        Self::Umount2,
        Self::Unshare,
        Self::Setns,
        Self::MemfdCreate,
        Self::Execve,
        Self::Execveat,
        Self::Bind,
        Self::Listen,
        Self::Ptrace,
        Self::ProcessVmWritev,
        Self::IoUringSetup,
        Self::Mkdir,
        Self::Mkdirat,
    ];

    /// (A match, not an index into `ALL`: the kernel's verifier must see every access bounded.)
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
            11 => Self::Rename,
            12 => Self::Renameat,
            13 => Self::Renameat2,
            14 => Self::Link,
            15 => Self::Linkat,
            16 => Self::Symlink,
            17 => Self::Symlinkat,
            18 => Self::Truncate,
            19 => Self::Ftruncate,
            20 => Self::Chmod,
            21 => Self::Fchmod,
            22 => Self::Fchmodat,
            23 => Self::Fchmodat2,
            24 => Self::Chown,
            25 => Self::Fchown,
            26 => Self::Lchown,
            27 => Self::Fchownat,
            28 => Self::Setxattr,
            29 => Self::Lsetxattr,
            30 => Self::Fsetxattr,
            31 => Self::Mount,
            32 => Self::MoveMount,
            33 => Self::Umount2,
            34 => Self::Unshare,
            35 => Self::Setns,
            36 => Self::MemfdCreate,
            37 => Self::Execve,
            38 => Self::Execveat,
            39 => Self::Bind,
            40 => Self::Listen,
            41 => Self::Ptrace,
            42 => Self::ProcessVmWritev,
            43 => Self::IoUringSetup,
            44 => Self::Mkdir,
            45 => Self::Mkdirat,
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
            Self::Rename => "rename",
            Self::Renameat => "renameat",
            Self::Renameat2 => "renameat2",
            Self::Link => "link",
            Self::Linkat => "linkat",
            Self::Symlink => "symlink",
            Self::Symlinkat => "symlinkat",
            Self::Truncate => "truncate",
            Self::Ftruncate => "ftruncate",
            Self::Chmod => "chmod",
            Self::Fchmod => "fchmod",
            Self::Fchmodat => "fchmodat",
            Self::Fchmodat2 => "fchmodat2",
            Self::Chown => "chown",
            Self::Fchown => "fchown",
            Self::Lchown => "lchown",
            Self::Fchownat => "fchownat",
            Self::Setxattr => "setxattr",
            Self::Lsetxattr => "lsetxattr",
            Self::Fsetxattr => "fsetxattr",
            Self::Mount => "mount",
            Self::MoveMount => "move_mount",
            Self::Umount2 => "umount2",
            Self::Unshare => "unshare",
            Self::Setns => "setns",
            Self::MemfdCreate => "memfd_create",
            Self::Execve => "execve",
            Self::Execveat => "execveat",
            Self::Bind => "bind",
            Self::Listen => "listen",
            Self::Ptrace => "ptrace",
            Self::ProcessVmWritev => "process_vm_writev",
            Self::IoUringSetup => "io_uring_setup",
            Self::Mkdir => "mkdir",
            Self::Mkdirat => "mkdirat",
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

/// What the kernel knows of a file's identity: its device, inode number and mode. A file keeps
/// its identity whatever name it is reached by (hard links, renames, bind mounts).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileIdentity {
    /// `super_block.s_dev` (the kernel's dev_t: major << 20 | minor); 0 when unknown.
    pub dev: u32,
    /// `inode.i_mode`: file type and permission bits.
    pub mode: u32,
    /// `inode.i_ino`; 0 when unknown.
    pub ino: u64,
}

/// `ExecEvent::exec_flags`: the executed file (or the interpreter's script) was written by the
/// session.
pub const EXEC_WRITTEN_BY_SESSION: u32 = 1;
/// `ExecEvent::exec_flags`: the executable is the system's own: under a system binary directory
/// and not written by the session (program exceptions by name apply to such executables only).
pub const EXEC_TRUSTED: u32 = 2;
/// `ExecEvent::exec_flags`: the executable lives in memory (`memfd_create`), not on a disk.
pub const EXEC_MEMFD: u32 = 4;

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
    /// The executable's identity.
    pub exe: FileIdentity,
    /// `EXEC_*` flags.
    pub exec_flags: u32,
    pub reserved2: u32,
    /// For an interpreter (`sh`, `python3`, …): the argument it runs as a script, as given (empty
    /// when the kernel found none the session wrote).
    pub script: StrRef,
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
    /// The opened file's identity (successful opens).
    pub object: FileIdentity,
    /// `file.f_mode` bits of the opened file (`FMODE_CREATED`: the open created it).
    pub fmode: u32,
    /// How many identical opens of this process this record stands for (1, or more when the
    /// kernel counted repeats: see `HEADER_REPEAT`).
    pub repeat: u32,
}

/// `OpenEvent::fmode`: the open created the file.
pub const FMODE_CREATED: u32 = 0x0010_0000;

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
    /// `SYSCALL_KILLED`, `SYSCALL_UNREADABLE`: what the kernel did at the call's entry.
    pub call_flags: u32,
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
    /// Where the kernel saw it (`ROUTE_*`).
    pub route: u16,
    /// The socket's IP protocol (`IPPROTO_TCP`, `IPPROTO_UDP`) when the route knows it, else 0.
    pub protocol: u16,
    /// `CONNECT_*` flags.
    pub flags: u32,
}

/// The connect call's address could not be read at its entry (memory the process never
/// touched, a bad pointer): this record holds the kernel's own copy (IP, from the cgroup
/// programs) or what was read after the call (unix sockets).
pub const CONNECT_UNREADABLE: u32 = 1;

/// A connect seen at the exit of the `connect` call (its result is known).
pub const ROUTE_SYSCALL: u16 = 0;
/// A connection seen by the cgroup `connect4/6` programs and no connect call: TCP Fast Open
/// (`sendto` with `MSG_FASTOPEN`), an io_uring connect. Seen before it happens: no result.
pub const ROUTE_SOCKET_CONNECT: u16 = 1;
/// A datagram sent to an address (`sendto`/`sendmsg` on an unconnected UDP socket, io_uring
/// sends) seen by the cgroup `sendmsg4/6` programs. Seen before it is sent: no result.
pub const ROUTE_SOCKET_SEND: u16 = 2;

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
    /// The judged file's identity, when the kernel knew it.
    pub object: FileIdentity,
    /// The second path of a rename or link (the new name), and its base.
    pub path2: StrRef,
    pub base2: StrRef,
    /// `policy::ESCALATE_*` bits: what the verdict did to the session beyond this operation.
    pub escalation: u32,
    /// Operations of the session denied within the escalation window, this one included.
    pub denials: u32,
}

/// `SyscallEvent::flags`: a 32-bit (ia32 compat) syscall of a 64-bit kernel.
pub const SYSCALL_COMPAT: u16 = 1;
/// `SyscallEvent::flags`: an io_uring submission (captured when it was submitted; the operation
/// runs afterwards, so the outcome is unknown).
pub const SYSCALL_IO_URING: u16 = 2;
/// `SyscallEvent::flags`: captured at syscall entry only: `ret` is meaningless.
pub const SYSCALL_AT_ENTRY: u16 = 4;
/// `SyscallEvent::flags`: the kernel killed the process for this call (in enforce mode, an
/// io_uring set-up by a session whose file operations only the tracepoint backend judges: a
/// ring's batched requests cannot be stopped one by one there).
pub const SYSCALL_KILLED: u16 = 8;
/// `SyscallEvent::flags`: a path argument the kernel rules judge at entry could not be read
/// there (a page the process never touched, a bad pointer): the call went unjudged, so in
/// enforce mode the process was killed (fail closed) and its session's new programs are
/// stopped for a while. The path in the record was read at exit.
pub const SYSCALL_UNREADABLE: u16 = 16;

/// A file, process or namespace operation of a tracked process, for the calls without a record
/// of their own. What each field holds depends on the call:
///
/// | call | `path` / `base` | `path2` / `base2` | `text` | `args` | `dirfd`, `dirfd2` |
/// |---|---|---|---|---|---|
/// | rename, renameat, renameat2 | old name | new name | | `[flags]` | old, new dirfd |
/// | link, linkat | existing name | new name | | `[flags]` | old, new dirfd |
/// | symlink, symlinkat | | link path | target (as given) | | -, new dirfd |
/// | truncate | file | | | `[length]` | |
/// | ftruncate, fchmod, fchown, fsetxattr | the file (components) | | xattr name | as below | fd |
/// | chmod, fchmodat, fchmodat2 | file | | | `[mode, flags]` | dirfd |
/// | chown, lchown, fchownat | file | | | `[uid, gid, flags]` | dirfd |
/// | setxattr, lsetxattr | file | | name | `[size, flags]` | |
/// | mount | source | target | filesystem type | `[flags]` | |
/// | move_mount | from | to | | `[flags]` | from, to dirfd |
/// | umount2 | target | | | `[flags]` | |
/// | mkdir, mkdirat | directory | | | `[mode]` | dirfd |
/// | unshare | | | | `[flags]` | |
/// | setns | | | | `[nstype]` | fd |
/// | memfd_create | | | name | `[flags]` | |
/// | execve, execveat (failures only) | filename | | | `[flags]` | dirfd |
/// | bind, listen | | | socket address bytes (`sockaddr_*`) | `[backlog]` for listen | fd |
/// | ptrace | | | | `[request, pid]` | |
/// | process_vm_writev | | | | `[pid]` | |
/// | io_uring_setup | | | | `[entries, flags]` | |
///
/// io_uring submissions use the record of the equivalent call (`openat2` for
/// `IORING_OP_OPENAT2`, …) with `SYSCALL_IO_URING` set and the opcode in `args[3]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallEvent {
    pub header: EventHeader,
    /// A [`Syscall`] value.
    pub syscall: u16,
    /// `SYSCALL_*` flags.
    pub flags: u16,
    pub dirfd: i32,
    pub dirfd2: i32,
    pub reserved: u32,
    /// Return value (a negative errno on failure); see `SYSCALL_AT_ENTRY`.
    pub ret: i64,
    pub args: [u64; 4],
    /// The identity of the file the call acted on, when the kernel knew it.
    pub object: FileIdentity,
    pub path: StrRef,
    pub base: StrRef,
    pub path2: StrRef,
    pub base2: StrRef,
    pub text: StrRef,
}

/// The thread repeated its previous operation (the last record of kind `kind` it produced)
/// `count` more times between `first_ns` and `last_ns`, and the kernel counted them instead of
/// writing a record for each. Sent when the thread does something else, when the repeat window
/// ends, or when the thread exits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RepeatEvent {
    pub header: EventHeader,
    /// The kind of the repeated record (`EVENT_OPEN`).
    pub kind: u16,
    pub reserved: u16,
    pub count: u32,
    pub first_ns: u64,
    pub last_ns: u64,
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
/// `TamperEvent::verdict`: an attempt the kernel refused on its own (an unprivileged process
/// signalling the root sensor gets EPERM); reported from the syscall's entry.
pub const TAMPER_ATTEMPT: u32 = 3;

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
    /// One of `TAMPER_SEEN`, `TAMPER_DENIED`, `TAMPER_WOULD_DENY`, `TAMPER_ATTEMPT`.
    pub verdict: u32,
}
