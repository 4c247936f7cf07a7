//! The enriched event: a kernel record joined with what the process table and the session
//! registry know, with absolute paths. This is what rules, baselines and outputs see.

pub mod annotations;
pub mod ecs;
mod enrich;
pub mod from_json;
mod inline_text;
pub mod open_flags;
mod operations;
pub mod peer;

use std::{net::SocketAddr, sync::Arc};

pub use annotations::Annotations;
pub use enrich::Enricher;
pub use inline_text::InlineText;
pub use sensor_common::event::FileIdentity;
use sensor_common::event::Syscall;

use crate::process::ProcessInfo;

/// Version of the JSON event schema (`agent_sensor.schema_version`); see docs/events.md.
pub const SCHEMA_VERSION: u32 = 2;

/// `event.id` of the event `sequence` of run `run_id`.
pub fn event_id(run_id: u64, sequence: u64) -> String {
    format!("{run_id:016x}-{sequence}")
}

/// `event.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Exec,
    Fork,
    Exit,
    Open,
    Connect,
    Unlink,
    Rmdir,
    Rename,
    Link,
    Symlink,
    Truncate,
    Chmod,
    Chown,
    Setxattr,
    Mkdir,
    Mount,
    Umount,
    Unshare,
    Setns,
    #[serde(rename = "memfd_create")]
    MemfdCreate,
    Bind,
    Listen,
    Ptrace,
    #[serde(rename = "process_vm_writev")]
    ProcessVmWritev,
    #[serde(rename = "io_uring_setup")]
    IoUringSetup,
}

impl Action {
    pub const ALL: [Action; 25] = [
        Action::Exec,
        Action::Fork,
        Action::Exit,
        Action::Open,
        Action::Connect,
        Action::Unlink,
        Action::Rmdir,
        Action::Rename,
        Action::Link,
        Action::Symlink,
        Action::Truncate,
        Action::Chmod,
        Action::Chown,
        Action::Setxattr,
        Action::Mkdir,
        Action::Mount,
        Action::Umount,
        Action::Unshare,
        Action::Setns,
        Action::MemfdCreate,
        Action::Bind,
        Action::Listen,
        Action::Ptrace,
        Action::ProcessVmWritev,
        Action::IoUringSetup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exec => "exec",
            Self::Fork => "fork",
            Self::Exit => "exit",
            Self::Open => "open",
            Self::Connect => "connect",
            Self::Unlink => "unlink",
            Self::Rmdir => "rmdir",
            Self::Rename => "rename",
            Self::Link => "link",
            Self::Symlink => "symlink",
            Self::Truncate => "truncate",
            Self::Chmod => "chmod",
            Self::Chown => "chown",
            Self::Setxattr => "setxattr",
            Self::Mkdir => "mkdir",
            Self::Mount => "mount",
            Self::Umount => "umount",
            Self::Unshare => "unshare",
            Self::Setns => "setns",
            Self::MemfdCreate => "memfd_create",
            Self::Bind => "bind",
            Self::Listen => "listen",
            Self::Ptrace => "ptrace",
            Self::ProcessVmWritev => "process_vm_writev",
            Self::IoUringSetup => "io_uring_setup",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

/// The number of actions.
pub const ACTION_COUNT: usize = Action::ALL.len();

/// `event.outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Unknown => "unknown",
        }
    }

    /// From a syscall return value: negative is a failure.
    pub fn of_return(ret: i64) -> Self {
        if ret < 0 { Self::Failure } else { Self::Success }
    }
}

/// The agent session an event belongs to (`gen_ai.agent.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRef {
    pub id: u64,
    pub agent: Arc<str>,
    /// The directory the agent started in.
    pub working_directory: Option<Arc<str>>,
}

/// The parent of the acting process (`process.parent.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentRef {
    pub pid: u32,
    pub executable: Option<Arc<str>>,
    /// The parent's arguments joined with spaces (`process.parent.command_line`), when known.
    pub command_line: Option<Arc<str>>,
}

/// Which door of the kernel an operation came through (`agent_sensor.call.door`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Door {
    /// A 64-bit system call.
    #[default]
    Syscall,
    /// A 32-bit (ia32) system call of a 64-bit kernel (`int 0x80`, a 32-bit program): seen at
    /// entry, so its outcome is unknown.
    Compat,
    /// An io_uring request, seen when it was submitted (its outcome is unknown).
    IoUring,
    /// A route to the network that no connect call shows, seen at the socket layer by the cgroup
    /// socket programs before it happened: a datagram sent to an address (`sendto`, `sendmsg`,
    /// io_uring sends), a TCP Fast Open connect, an io_uring connect.
    Socket,
}

/// The transport protocol of a connection (`network.transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// From an IP protocol number (`IPPROTO_TCP`, `IPPROTO_UDP`).
    pub fn from_protocol(protocol: u16) -> Option<Self> {
        match protocol as i32 {
            libc::IPPROTO_TCP => Some(Self::Tcp),
            libc::IPPROTO_UDP => Some(Self::Udp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Tcp, Self::Udp].into_iter().find(|t| t.as_str() == text)
    }
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syscall => "syscall",
            Self::Compat => "compat",
            Self::IoUring => "io_uring",
            Self::Socket => "socket",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Syscall, Self::Compat, Self::IoUring, Self::Socket]
            .into_iter()
            .find(|door| door.as_str() == text)
    }
}

/// What a file operation says about the file besides its path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FileChange {
    #[default]
    None,
    /// An open that created the file.
    Created,
    /// A rename or hard link: the old name (absolute).
    From { original: String },
    /// A symbolic link: its target, as given.
    Symlink { target: String },
    /// Truncation to `length` bytes.
    Truncate { length: u64 },
    /// A mode change (`chmod`).
    Chmod { mode: u32 },
    /// An owner change (`chown`; -1, not changed, is `None`).
    Chown { uid: Option<u32>, gid: Option<u32> },
    /// An extended attribute set (`security.capability` gives a program capabilities).
    Xattr { name: String },
    /// A mount at the path (`mount`, `move_mount`): its source, filesystem type and flags.
    Mount { source: String, fstype: String, flags: u64 },
    /// A directory created with `mode`.
    Mkdir { mode: u32 },
}

/// A path argument of a file syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDetail {
    /// Absolute path (`file.path`).
    pub path: String,
    /// The path argument exactly as the process passed it.
    pub path_argument: String,
    pub syscall: Syscall,
    pub dirfd: i32,
    /// `O_*` flags for opens; `AT_REMOVEDIR` and friends for unlinkat.
    pub flags: u32,
    pub mode: u32,
    /// The kernel had to cut the path (too long or too deep).
    pub truncated: bool,
    /// The file's identity (`file.inode`, `file.device`, `file.mode`), when the kernel knew it.
    pub identity: Option<FileIdentity>,
    /// What the operation did besides naming the file.
    pub change: FileChange,
}

impl FileDetail {
    pub fn name(&self) -> &str {
        crate::process::resolve::last_component(&self.path)
    }

    pub fn directory(&self) -> &str {
        match crate::process::resolve::last_slash(&self.path) {
            Some(0) => "/",
            Some(index) => &self.path[..index],
            None => "",
        }
    }
}

/// Where a connect went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Inet(SocketAddr),
    Unix(String),
}

/// A process or namespace operation (no file involved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessOperation {
    /// `unshare(flags)`: `CLONE_NEW*` flags.
    Unshare { flags: u64 },
    /// `setns(fd, nstype)`.
    Setns { fd: i32, nstype: u64 },
    /// `memfd_create(name, flags)`; `fd` is the new descriptor.
    Memfd { name: String, flags: u64, fd: i64 },
    /// `ptrace(request, pid)`.
    Ptrace { request: u64, pid: u32 },
    /// `process_vm_writev(pid, …)`.
    ProcessVmWritev { pid: u32 },
    /// `io_uring_setup(entries, params)`: the ring's size and `IORING_SETUP_*` flags.
    IoUringSetup { entries: u64, flags: u64 },
}

/// What is particular to each action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    Exec {
        /// The path given to execve (for scripts, the script), made absolute.
        filename: String,
        /// For an interpreter, the script it runs (an argument the session wrote), made absolute.
        script: Option<String>,
        /// `EXEC_*` flags of the kernel: written by the session, the system's own, in memory.
        exec_flags: u32,
        /// The executable's identity.
        identity: Option<FileIdentity>,
    },
    Fork {
        child_pid: u32,
    },
    Exit {
        /// Wait status: exit status in bits 8..16, signal in bits 0..7.
        status: u32,
    },
    File(FileDetail),
    Connect {
        destination: Destination,
        fd: i32,
        /// `network.transport`, when the kernel saw the socket's protocol (the socket routes).
        transport: Option<Transport>,
    },
    /// `bind` or `listen`: the socket's local address (`server.*`).
    Socket {
        address: Option<Destination>,
        fd: i32,
        /// `listen`'s backlog.
        backlog: Option<u64>,
    },
    Process(ProcessOperation),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The sensor run that produced the event (`agent.ephemeral_id`).
    pub run_id: u64,
    /// Position in that run's stream (`event.sequence`); with `run_id` it makes `event.id`.
    pub sequence: u64,
    pub hostname: Option<Arc<str>>,
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i128,
    pub action: Action,
    pub outcome: Outcome,
    /// Symbolic errno of a failed syscall (`error.code`).
    pub error: Option<&'static str>,
    pub tid: u32,
    pub process: ProcessInfo,
    /// When the process started, in nanoseconds since the Unix epoch (`process.start`).
    pub process_start_ns: Option<i128>,
    pub parent: Option<ParentRef>,
    pub user_name: Option<Arc<str>>,
    /// Home directory of the user (`agent_sensor.user.home`), for `~` in rules.
    pub user_home: Option<Arc<str>>,
    pub session: Option<SessionRef>,
    pub detail: Detail,
    /// The door the operation came through.
    pub door: Door,
    /// How many identical operations this event stands for (`agent_sensor.repeat.count`; 1 for
    /// most, more when the kernel counted repeats of the same open).
    pub repeat: u32,
    /// What the kernel said about the call itself (`agent_sensor.syscall.*`).
    pub syscall_flags: SyscallFlags,
    /// Destination scope and country, baseline facts (see `annotations`).
    pub annotations: Annotations,
}

impl Event {
    /// `event.id`: the run id and the sequence number.
    pub fn id(&self) -> String {
        event_id(self.run_id, self.sequence)
    }

    pub fn command_line(&self) -> &str {
        &self.process.command_line
    }

    pub fn file(&self) -> Option<&FileDetail> {
        match &self.detail {
            Detail::File(file) => Some(file),
            _ => None,
        }
    }

    /// True when the kernel rules could not judge this call: its argument was unreadable at
    /// entry. Connections are judged on the kernel's own copy of the address even then.
    pub fn unjudged_by_kernel(&self) -> bool {
        self.syscall_flags.unreadable_argument && self.action != Action::Connect
    }

    pub fn destination(&self) -> Option<&Destination> {
        match &self.detail {
            Detail::Connect { destination, .. } => Some(destination),
            _ => None,
        }
    }
}

/// What the kernel said about a call beyond its arguments and result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallFlags {
    /// A path argument the kernel rules judge at entry could not be read there
    /// (`agent_sensor.call.unreadable_argument`): the process was killed in enforce mode.
    pub unreadable_argument: bool,
    /// The kernel killed the process for this call (`agent_sensor.call.killed`).
    pub killed: bool,
}

impl SyscallFlags {
    /// From a record's `SYSCALL_KILLED` and `SYSCALL_UNREADABLE` bits.
    pub fn from_bits(bits: u32) -> Self {
        Self {
            unreadable_argument: bits & sensor_common::event::SYSCALL_UNREADABLE as u32 != 0,
            killed: bits & sensor_common::event::SYSCALL_KILLED as u32 != 0,
        }
    }
}
