//! Turns ring-buffer records (see `sensor_common::event`) into owned, checked Rust values.
//!
//! Every offset and length in a record is checked against the record's size: a malformed record
//! is an error for that record, never a panic.

mod errno;
mod paths;

pub use errno::{errno_by_name, errno_name};
pub use paths::{DecodedPath, decode_components, lossy};

use sensor_common::{
    event::{
        ChdirEvent, ConnectEvent, EVENT_CHDIR, EVENT_CONNECT, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_OPEN,
        EVENT_POLICY, EVENT_REPEAT, EVENT_SYSCALL, EVENT_TAMPER, EVENT_UNLINK, EventHeader, ExecEvent, ExitEvent,
        FileIdentity, ForkEvent, HEADER_PRIORITY, HEADER_SESSION_START, OpenEvent, PolicyEvent, RESOLVED_BASE,
        RESOLVED_FILE, RepeatEvent, STR_COMPONENTS, STR_MISSING, STR_TRUNCATED, StrRef, Syscall, SyscallEvent,
        TamperEvent, UnlinkEvent,
    },
    policy::PolicyOp,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    TooShort(usize),
    #[error("record kind {0} is unknown")]
    UnknownKind(u16),
    #[error("{kind} record of {len} bytes is shorter than its fixed part")]
    Truncated { kind: &'static str, len: usize },
    #[error("string at {offset}+{len} lies outside the {size}-byte record")]
    StringOutOfBounds { offset: u16, len: u16, size: usize },
    #[error("syscall id {0} is unknown")]
    UnknownSyscall(u16),
    #[error("policy operation {0} is unknown")]
    UnknownPolicyOp(u16),
}

/// Fields every record carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    pub time_ns: u64,
    pub session_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cgroup_id: u64,
    /// The record came on the priority ring (it hit a kernel rule or a protected file).
    pub priority: bool,
}

/// A file's identity as the kernel reported it (device, inode, mode); `None` when it did not
/// know it.
pub fn identity(raw: FileIdentity) -> Option<FileIdentity> {
    (raw.ino != 0).then_some(raw)
}

/// A string from a record: its text (lossy UTF-8) and whether the kernel had to cut it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    pub truncated: bool,
    pub missing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    pub common: Common,
    pub ppid: u32,
    /// Set when this exec matched an agent profile and started a session.
    pub started_profile: Option<u32>,
    pub start_boottime_ns: u64,
    pub filename: Text,
    pub executable: DecodedPath,
    pub cwd: DecodedPath,
    pub args: Vec<String>,
    pub args_truncated: bool,
    /// The executable's identity.
    pub exe: Option<FileIdentity>,
    /// `EXEC_*` flags: written by the session, the system's own, in memory.
    pub exec_flags: u32,
    /// For an interpreter: the argument the kernel took as the script it runs (as given).
    pub script: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    pub common: Common,
    pub child_pid: u32,
    pub child_untracked: bool,
    pub clone_flags: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub common: Common,
    /// Wait status: exit status in bits 8..16, signal in bits 0..7.
    pub status: u32,
}

/// The directory a relative path starts from, or the file itself, as the kernel resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    None,
    File(DecodedPath),
    Base(DecodedPath),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub common: Common,
    pub syscall: Syscall,
    pub dirfd: i32,
    pub flags: u32,
    pub mode: u32,
    pub ret: i64,
    pub path: Text,
    pub resolved: Resolved,
    /// The opened file's identity (successful opens).
    pub object: Option<FileIdentity>,
    /// `file.f_mode` bits (`FMODE_CREATED`).
    pub fmode: u32,
    /// Operations this record stands for (see `Repeat`).
    pub repeat: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unlink {
    pub common: Common,
    pub syscall: Syscall,
    pub dirfd: i32,
    pub flags: u32,
    /// `SYSCALL_KILLED`, `SYSCALL_UNREADABLE`.
    pub call_flags: u32,
    pub ret: i64,
    pub path: Text,
    pub base: Option<DecodedPath>,
}

/// Where a connect went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketAddress {
    Inet(std::net::SocketAddr),
    /// A unix socket path; abstract names start with `@`.
    Unix(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub common: Common,
    pub fd: i32,
    pub ret: i64,
    pub address: SocketAddress,
    /// Where the kernel saw it (`sensor_common::event::ROUTE_*`).
    pub route: u16,
    /// The socket's IP protocol when the route knows it, else 0.
    pub protocol: u16,
    /// `sensor_common::event::CONNECT_*` flags.
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chdir {
    pub common: Common,
    pub cwd: DecodedPath,
}

/// A judgement of the enforcement policy: an operation kernel rules fired on, and what was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub common: Common,
    pub op: PolicyOp,
    /// `policy::BACKEND_*`.
    pub backend: u32,
    /// The strongest `policy::ACTION_*` of the rules that fired.
    pub action: u32,
    /// `policy::APPLIED_*` bits.
    pub applied: u32,
    /// Slots of the rules that fired.
    pub fired: u64,
    /// Open flags, for opens.
    pub flags: u32,
    pub destination: Option<std::net::SocketAddr>,
    /// The path, and for a relative path string the directory it starts from.
    pub path: Option<DecodedPath>,
    pub base: Option<DecodedPath>,
    /// The other name of a rename or link (and its base).
    pub path2: Option<DecodedPath>,
    pub base2: Option<DecodedPath>,
    /// The judged file's identity, when the kernel knew it.
    pub object: Option<FileIdentity>,
    /// `policy::ESCALATE_*` bits, and the session's denials within its escalation window.
    pub escalation: u32,
    pub denials: u32,
}

/// A generic operation (`SyscallEvent`): what each field holds depends on the call (see
/// `sensor_common::event::SyscallEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub common: Common,
    pub syscall: Syscall,
    /// `SYSCALL_*` flags: 32-bit call, io_uring submission, seen at entry only, killed.
    pub flags: u16,
    pub dirfd: i32,
    pub dirfd2: i32,
    pub ret: i64,
    pub args: [u64; 4],
    pub object: Option<FileIdentity>,
    /// A path as the caller passed it (or, for calls on a descriptor, the file's path as
    /// components), and the directory a relative one starts from.
    pub path: Option<DecodedPath>,
    pub base: Option<DecodedPath>,
    pub path2: Option<DecodedPath>,
    pub base2: Option<DecodedPath>,
    /// Raw bytes: a name, a filesystem type, a symlink's target or a socket address.
    pub text: Vec<u8>,
}

/// The thread repeated its previous open `count` more times (see `sensor_common::event::RepeatEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    pub common: Common,
    pub kind: u16,
    pub count: u32,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// A tracked process reached for the sensor (`sensor_common::event::TAMPER_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tamper {
    pub common: Common,
    pub kind: u32,
    /// Signal number, ptrace request (or LSM access mode), or bpf() command.
    pub detail: u32,
    /// The sensor process aimed at (0 for bpf()).
    pub target: u32,
    /// `TAMPER_SEEN`, `TAMPER_DENIED` or `TAMPER_WOULD_DENY`.
    pub verdict: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawEvent {
    Exec(Exec),
    Fork(Fork),
    Exit(Exit),
    Open(Open),
    Connect(Connect),
    Unlink(Unlink),
    Chdir(Chdir),
    Policy(Policy),
    Tamper(Tamper),
    Operation(Operation),
    Repeat(Repeat),
}

impl RawEvent {
    pub fn common(&self) -> &Common {
        match self {
            Self::Operation(e) => &e.common,
            Self::Repeat(e) => &e.common,
            Self::Exec(e) => &e.common,
            Self::Fork(e) => &e.common,
            Self::Exit(e) => &e.common,
            Self::Open(e) => &e.common,
            Self::Connect(e) => &e.common,
            Self::Unlink(e) => &e.common,
            Self::Chdir(e) => &e.common,
            Self::Policy(e) => &e.common,
            Self::Tamper(e) => &e.common,
        }
    }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    let header: EventHeader = read_fixed(bytes, "header")?;
    let record = Record { bytes };
    let common = Common {
        time_ns: header.time_ns,
        session_id: header.session_id,
        pid: header.tgid,
        tid: header.tid,
        uid: header.uid,
        gid: header.gid,
        cgroup_id: header.cgroup_id,
        priority: header.flags & HEADER_PRIORITY != 0,
    };
    Ok(match header.kind {
        EVENT_EXEC => {
            let raw: ExecEvent = read_fixed(bytes, "exec")?;
            let args = record.bytes(raw.args)?;
            let args_truncated = raw.args.flags & STR_TRUNCATED != 0 || (args.len() as u32) < raw.args_size;
            RawEvent::Exec(Exec {
                common,
                ppid: raw.ppid,
                started_profile: (header.flags & HEADER_SESSION_START != 0).then_some(raw.profile_id),
                start_boottime_ns: raw.start_boottime_ns,
                filename: record.text(raw.filename)?,
                executable: record.path(raw.executable)?,
                cwd: record.path(raw.cwd)?,
                args: split_args(args),
                args_truncated,
                exe: identity(raw.exe),
                exec_flags: raw.exec_flags,
                script: (raw.script.len > 0)
                    .then(|| record.text(raw.script).map(|text| text.value))
                    .transpose()?,
            })
        }
        EVENT_FORK => {
            let raw: ForkEvent = read_fixed(bytes, "fork")?;
            RawEvent::Fork(Fork {
                common,
                child_pid: raw.child_tgid,
                child_untracked: raw.untracked != 0,
                clone_flags: raw.clone_flags,
            })
        }
        EVENT_EXIT => {
            let raw: ExitEvent = read_fixed(bytes, "exit")?;
            RawEvent::Exit(Exit {
                common,
                status: raw.exit_code,
            })
        }
        EVENT_OPEN => {
            let raw: OpenEvent = read_fixed(bytes, "open")?;
            let resolved = match raw.resolved_kind {
                RESOLVED_FILE => Resolved::File(record.path(raw.resolved)?),
                RESOLVED_BASE => Resolved::Base(record.path(raw.resolved)?),
                _ => Resolved::None,
            };
            RawEvent::Open(Open {
                common,
                syscall: syscall(raw.syscall)?,
                dirfd: raw.dirfd,
                flags: raw.flags,
                mode: raw.mode,
                ret: raw.ret,
                path: record.text(raw.path)?,
                resolved,
                object: identity(raw.object),
                fmode: raw.fmode,
                repeat: raw.repeat.max(1),
            })
        }
        EVENT_UNLINK => {
            let raw: UnlinkEvent = read_fixed(bytes, "unlink")?;
            let base = if raw.resolved_kind == RESOLVED_BASE {
                Some(record.path(raw.base)?)
            } else {
                None
            };
            RawEvent::Unlink(Unlink {
                common,
                syscall: syscall(raw.syscall)?,
                dirfd: raw.dirfd,
                flags: raw.flags,
                call_flags: raw.call_flags,
                ret: raw.ret,
                path: record.text(raw.path)?,
                base,
            })
        }
        EVENT_CONNECT => {
            let raw: ConnectEvent = read_fixed(bytes, "connect")?;
            let address = match raw.family as i32 {
                libc::AF_INET => {
                    let ip = std::net::Ipv4Addr::new(raw.addr[0], raw.addr[1], raw.addr[2], raw.addr[3]);
                    SocketAddress::Inet((ip, u16::from_be(raw.port_be)).into())
                }
                libc::AF_INET6 => {
                    let ip = std::net::Ipv6Addr::from(raw.addr);
                    SocketAddress::Inet((ip, u16::from_be(raw.port_be)).into())
                }
                _ => SocketAddress::Unix(unix_path(record.bytes(raw.unix_path)?)),
            };
            RawEvent::Connect(Connect {
                common,
                fd: raw.fd,
                ret: raw.ret,
                address,
                route: raw.route,
                protocol: raw.protocol,
                flags: raw.flags,
            })
        }
        EVENT_CHDIR => {
            let raw: ChdirEvent = read_fixed(bytes, "chdir")?;
            RawEvent::Chdir(Chdir {
                common,
                cwd: record.path(raw.cwd)?,
            })
        }
        EVENT_POLICY => {
            let raw: PolicyEvent = read_fixed(bytes, "policy")?;
            let op = PolicyOp::from_u16(raw.op).ok_or(DecodeError::UnknownPolicyOp(raw.op))?;
            let destination = (op == PolicyOp::Connect).then(|| {
                let ip = std::net::Ipv6Addr::from(raw.addr);
                let port = u16::from_be(raw.port_be);
                match ip.to_ipv4_mapped() {
                    Some(v4) if raw.family as i32 == libc::AF_INET => (v4, port).into(),
                    _ => (ip, port).into(),
                }
            });
            let path = record.optional_path(raw.path)?;
            let base = record.optional_path(raw.base)?;
            RawEvent::Policy(Policy {
                path2: record.optional_path(raw.path2)?,
                base2: record.optional_path(raw.base2)?,
                object: identity(raw.object),
                escalation: raw.escalation,
                denials: raw.denials,
                common,
                op,
                backend: raw.backend,
                action: raw.action,
                applied: raw.applied,
                fired: raw.fired,
                flags: raw.flags,
                destination,
                path,
                base,
            })
        }
        EVENT_TAMPER => {
            let raw: TamperEvent = read_fixed(bytes, "tamper")?;
            RawEvent::Tamper(Tamper {
                common,
                kind: raw.kind,
                detail: raw.detail,
                target: raw.target,
                verdict: raw.verdict,
            })
        }
        EVENT_SYSCALL => {
            let raw: SyscallEvent = read_fixed(bytes, "syscall")?;
            RawEvent::Operation(Operation {
                common,
                syscall: syscall(raw.syscall)?,
                flags: raw.flags,
                dirfd: raw.dirfd,
                dirfd2: raw.dirfd2,
                ret: raw.ret,
                args: raw.args,
                object: identity(raw.object),
                path: record.optional_path(raw.path)?,
                base: record.optional_path(raw.base)?,
                path2: record.optional_path(raw.path2)?,
                base2: record.optional_path(raw.base2)?,
                text: record.bytes(raw.text)?.to_vec(),
            })
        }
        EVENT_REPEAT => {
            let raw: RepeatEvent = read_fixed(bytes, "repeat")?;
            RawEvent::Repeat(Repeat {
                common,
                kind: raw.kind,
                count: raw.count,
                first_ns: raw.first_ns,
                last_ns: raw.last_ns,
            })
        }
        kind => return Err(DecodeError::UnknownKind(kind)),
    })
}

fn syscall(value: u16) -> Result<Syscall, DecodeError> {
    Syscall::from_u16(value).ok_or(DecodeError::UnknownSyscall(value))
}

/// Copies the fixed-size struct at the start of a record.
fn read_fixed<T: Copy>(bytes: &[u8], kind: &'static str) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(if bytes.len() < size_of::<EventHeader>() {
            DecodeError::TooShort(bytes.len())
        } else {
            DecodeError::Truncated { kind, len: bytes.len() }
        });
    }
    // SAFETY: the length was checked above, T is a plain-data `#[repr(C)]` record type from
    // sensor_common (every bit pattern is valid), and read_unaligned copes with any alignment.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

struct Record<'a> {
    bytes: &'a [u8],
}

impl<'a> Record<'a> {
    fn bytes(&self, s: StrRef) -> Result<&'a [u8], DecodeError> {
        let start = s.offset as usize;
        self.bytes
            .get(start..start + s.len as usize)
            .ok_or(DecodeError::StringOutOfBounds {
                offset: s.offset,
                len: s.len,
                size: self.bytes.len(),
            })
    }

    fn text(&self, s: StrRef) -> Result<Text, DecodeError> {
        let bytes = self.bytes(s)?;
        let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
        Ok(Text {
            value: lossy(&bytes[..end]),
            truncated: s.flags & STR_TRUNCATED != 0,
            missing: s.flags & STR_MISSING != 0,
        })
    }

    /// The path at `s`, or `None` for an empty, unread string.
    fn optional_path(&self, s: StrRef) -> Result<Option<DecodedPath>, DecodeError> {
        if s.len == 0 && s.flags & STR_COMPONENTS == 0 {
            return Ok(None);
        }
        self.path(s).map(Some)
    }

    fn path(&self, s: StrRef) -> Result<DecodedPath, DecodeError> {
        let bytes = self.bytes(s)?;
        if s.flags & STR_COMPONENTS != 0 {
            Ok(decode_components(bytes, s.flags))
        } else {
            let text = self.text(s)?;
            Ok(DecodedPath {
                path: text.value,
                truncated: text.truncated,
                missing: text.missing,
            })
        }
    }
}

/// Splits a NUL-separated argument area into arguments.
fn split_args(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&b| b == 0).map(lossy).collect()
}

/// The address in raw `sockaddr_in`, `sockaddr_in6` or `sockaddr_un` bytes.
pub fn socket_address(bytes: &[u8]) -> Option<SocketAddress> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    let port = |bytes: &[u8]| u16::from_be_bytes([bytes[2], bytes[3]]);
    match family as i32 {
        libc::AF_INET if bytes.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Some(SocketAddress::Inet((ip, port(bytes)).into()))
        }
        libc::AF_INET6 if bytes.len() >= 24 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            Some(SocketAddress::Inet(
                (std::net::Ipv6Addr::from(octets), port(bytes)).into(),
            ))
        }
        libc::AF_UNIX => Some(SocketAddress::Unix(unix_path(&bytes[2..]))),
        _ => None,
    }
}

/// A unix socket path from `sun_path`: up to the first NUL, or `@name` for abstract sockets.
fn unix_path(bytes: &[u8]) -> String {
    match bytes.split_first() {
        Some((0, rest)) => {
            let name = rest
                .iter()
                .rposition(|&b| b != 0)
                .map_or(&rest[..0], |end| &rest[..=end]);
            format!("@{}", String::from_utf8_lossy(name))
        }
        _ => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        }
    }
}

#[cfg(test)]
mod tests;
