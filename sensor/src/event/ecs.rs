//! The JSON form of events: one object per line, ECS field names (docs/events.md).

use serde::{Serialize, Serializer, ser::SerializeStruct};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    Action, Destination, Detail, Event, SCHEMA_VERSION,
    annotations::{BaselineFacts, DestinationInfo},
    open_flags,
};
use crate::process::agent_id;

/// ECS version whose field names the events follow.
pub const ECS_VERSION: &str = "8.17.0";

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(epoch_ns: i128) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(epoch_ns)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// What is the same for every event of one sensor run: the host, and the run's identity.
#[derive(Clone, Debug)]
pub struct SensorContext {
    pub hostname: String,
    /// Random per run (`agent.ephemeral_id`); with the sequence number it makes `event.id`.
    pub run_id: u64,
}

impl SensorContext {
    pub fn current() -> Self {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "unknown".to_string());
        Self {
            hostname,
            run_id: crate::random::random_u64(),
        }
    }
}

/// An event, ready to serialize as one ECS document.
pub struct EcsEvent<'a> {
    pub event: &'a Event,
}

impl EcsEvent<'_> {
    /// Serializes to one JSON line (without the newline).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn categories(event: &Event) -> (&'static [&'static str], &'static [&'static str]) {
    match event.action {
        Action::Exec | Action::Fork => (&["process"], &["start"]),
        Action::Exit => (&["process"], &["end"]),
        Action::Open => {
            let flags = event.file().map_or(0, |file| file.flags);
            if flags as i32 & libc::O_CREAT != 0 {
                (&["file"], &["creation"])
            } else if open_flags::is_write(flags) {
                (&["file"], &["change"])
            } else {
                (&["file"], &["access"])
            }
        }
        Action::Unlink | Action::Rmdir => (&["file"], &["deletion"]),
        Action::Rename | Action::Truncate | Action::Chmod | Action::Chown | Action::Setxattr => {
            (&["file"], &["change"])
        }
        Action::Link | Action::Symlink | Action::Mkdir => (&["file"], &["creation"]),
        Action::Mount | Action::Umount => (&["file", "configuration"], &["change"]),
        Action::Unshare | Action::Setns | Action::Ptrace | Action::ProcessVmWritev => (&["process"], &["change"]),
        Action::MemfdCreate | Action::IoUringSetup => (&["process"], &["info"]),
        Action::Bind | Action::Listen => (&["network"], &["start"]),
        Action::Connect => (&["network"], &["connection", "start"]),
    }
}

impl Serialize for EcsEvent<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.event;
        let file = event.file();
        let destination = event.destination();
        let mut doc = serializer.serialize_struct("Event", 12)?;
        doc.serialize_field("@timestamp", &rfc3339(event.timestamp_ns))?;
        doc.serialize_field("ecs", &EcsVersion { version: ECS_VERSION })?;
        let (category, kind) = categories(event);
        doc.serialize_field(
            "agent",
            &AgentFields {
                r#type: "agent-sensor",
                version: env!("CARGO_PKG_VERSION"),
                ephemeral_id: format!("{:016x}", event.run_id),
            },
        )?;
        doc.serialize_field(
            "event",
            &EventFields {
                id: event.id(),
                kind: "event",
                category,
                r#type: kind,
                action: event.action.as_str(),
                outcome: event.outcome.as_str(),
                sequence: event.sequence,
                module: "agent_sensor",
                dataset: "agent_sensor.events",
            },
        )?;
        doc.serialize_field(
            "host",
            &HostFields {
                hostname: event.hostname.as_deref().unwrap_or(""),
            },
        )?;
        doc.serialize_field("process", &ProcessFields::of(event))?;
        doc.serialize_field(
            "user",
            &UserFields {
                id: event.process.uid.to_string(),
                name: event.user_name.as_deref(),
            },
        )?;
        doc.serialize_field(
            "group",
            &GroupFields {
                id: event.process.gid.to_string(),
            },
        )?;
        if let Some(file) = file {
            doc.serialize_field("file", &FileFields::of(file))?;
        }
        if let Some(destination) = destination {
            doc.serialize_field(
                "destination",
                &DestinationFields::of(destination, event.annotations.destination.as_ref()),
            )?;
            doc.serialize_field(
                "network",
                &NetworkFields {
                    r#type: match destination {
                        Destination::Inet(address) if address.is_ipv4() => "ipv4",
                        Destination::Inet(_) => "ipv6",
                        Destination::Unix(_) => "unix",
                    },
                    transport: match &event.detail {
                        Detail::Connect { transport, .. } => transport.map(super::Transport::as_str),
                        _ => None,
                    },
                },
            )?;
        }
        if let Some(code) = event.error {
            doc.serialize_field("error", &ErrorFields { code })?;
        }
        if let Some(session) = &event.session {
            doc.serialize_field(
                "gen_ai",
                &GenAi {
                    agent: Agent {
                        name: &session.agent,
                        id: agent_id(session.id),
                    },
                },
            )?;
        }
        doc.serialize_field("agent_sensor", &SensorFields::of(event))?;
        doc.end()
    }
}

#[derive(Serialize)]
struct EcsVersion {
    version: &'static str,
}

#[derive(Serialize)]
struct AgentFields {
    r#type: &'static str,
    version: &'static str,
    ephemeral_id: String,
}

#[derive(Serialize)]
struct EventFields {
    id: String,
    kind: &'static str,
    category: &'static [&'static str],
    r#type: &'static [&'static str],
    action: &'static str,
    outcome: &'static str,
    sequence: u64,
    module: &'static str,
    dataset: &'static str,
}

#[derive(Serialize)]
struct HostFields<'a> {
    hostname: &'a str,
}

#[derive(Serialize)]
struct ProcessFields<'a> {
    pid: u32,
    name: &'a str,
    executable: &'a str,
    args: &'a [String],
    args_count: usize,
    command_line: &'a str,
    working_directory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    thread: Thread,
    parent: Parent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
}

impl<'a> ProcessFields<'a> {
    fn of(event: &'a Event) -> Self {
        let process = &event.process;
        let exit_code = match event.detail {
            Detail::Exit { status } => Some(exit_code(status)),
            _ => None,
        };
        Self {
            pid: process.pid,
            name: process.name(),
            executable: &process.executable,
            args: &process.args,
            args_count: process.args.len(),
            command_line: &process.command_line,
            working_directory: &process.cwd,
            start: event.process_start_ns.map(rfc3339),
            thread: Thread { id: event.tid },
            parent: Parent {
                pid: event.parent.as_ref().map_or(process.ppid, |parent| parent.pid),
                executable: event.parent.as_ref().and_then(|parent| parent.executable.as_deref()),
                command_line: event.parent.as_ref().and_then(|parent| parent.command_line.as_deref()),
            },
            exit_code,
        }
    }
}

/// ECS `process.exit_code`: the exit status, or 128 + signal for a process killed by a signal.
pub fn exit_code(status: u32) -> i64 {
    let signal = status & 0x7f;
    if signal == 0 {
        ((status >> 8) & 0xff) as i64
    } else {
        128 + signal as i64
    }
}

#[derive(Serialize)]
struct Thread {
    id: u32,
}

#[derive(Serialize)]
struct Parent<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<&'a str>,
}

#[derive(Serialize)]
struct UserFields<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct GroupFields {
    id: String,
}

#[derive(Serialize)]
struct FileFields<'a> {
    path: &'a str,
    name: &'a str,
    directory: &'a str,
    /// The inode and device the kernel saw (ECS keywords).
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    /// A symbolic link's target, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_path: Option<&'a str>,
    /// chmod's new mode, chown's new owner (octal, numeric ids: ECS keywords).
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<String>,
}

impl<'a> FileFields<'a> {
    fn of(file: &'a super::FileDetail) -> Self {
        use super::FileChange as C;
        let identity = file.identity.filter(|identity| identity.ino != 0);
        let mut fields = Self {
            path: &file.path,
            name: file.name(),
            directory: file.directory(),
            inode: identity.map(|identity| identity.ino.to_string()),
            device: identity.map(|identity| format!("{}:{}", identity.dev >> 20, identity.dev & 0xfffff)),
            target_path: None,
            mode: None,
            uid: None,
            gid: None,
        };
        match &file.change {
            C::Symlink { target } => fields.target_path = Some(target),
            C::Chmod { mode } | C::Mkdir { mode } => fields.mode = Some(format!("{:04o}", mode & 0o7777)),
            C::Chown { uid, gid } => {
                fields.uid = uid.map(|uid| uid.to_string());
                fields.gid = gid.map(|gid| gid.to_string());
            }
            _ => {}
        }
        fields
    }
}

/// `agent_sensor.file`: what a file operation did beyond its path.
#[derive(Serialize, Default)]
struct FileChangeFields<'a> {
    /// A rename's or hard link's old name.
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<OriginalPath<'a>>,
    /// An open that created the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncate_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xattr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount: Option<MountFields<'a>>,
}

#[derive(Serialize)]
struct OriginalPath<'a> {
    path: &'a str,
}

#[derive(Serialize)]
struct MountFields<'a> {
    source: &'a str,
    fstype: &'a str,
    flags: u64,
}

impl<'a> FileChangeFields<'a> {
    fn of(change: &'a super::FileChange) -> Option<Self> {
        use super::FileChange as C;
        let mut fields = Self::default();
        match change {
            C::From { original } => fields.original = Some(OriginalPath { path: original }),
            C::Created => fields.created = true,
            C::Truncate { length } => fields.truncate_length = Some(*length),
            C::Xattr { name } => fields.xattr = Some(name),
            C::Mount { source, fstype, flags } => {
                fields.mount = Some(MountFields {
                    source,
                    fstype,
                    flags: *flags,
                })
            }
            _ => return None,
        }
        Some(fields)
    }
}

#[derive(Serialize)]
struct DestinationFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Option<GeoFields>,
}

#[derive(Serialize)]
struct GeoFields {
    country_iso_code: String,
}

impl DestinationFields {
    fn of(destination: &Destination, info: Option<&DestinationInfo>) -> Self {
        match destination {
            Destination::Inet(address) => Self {
                ip: Some(address.ip().to_string()),
                port: Some(address.port()),
                address: address.ip().to_string(),
                geo: info.and_then(|info| info.country).map(|country| GeoFields {
                    country_iso_code: country.to_string(),
                }),
            },
            Destination::Unix(path) => Self {
                ip: None,
                port: None,
                address: path.clone(),
                geo: None,
            },
        }
    }
}

/// `agent_sensor.destination`.
#[derive(Serialize)]
struct SensorDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<bool>,
}

/// `agent_sensor.baseline`: the facts, and for a baseline alert what made the event unusual.
#[derive(Serialize)]
struct BaselineFields<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_executable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_exec_pair: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_file_area: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_area: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_destination: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_country: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deviation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    known: Option<BaselineKnown<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<BaselineRate>,
}

#[derive(Serialize)]
struct BaselineKnown<'a> {
    values: u64,
    observations: u64,
    sessions: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    similar: &'a [String],
}

#[derive(Serialize)]
struct BaselineRate {
    action: &'static str,
    count: u64,
    mean: f64,
    stddev: f64,
    threshold: f64,
    minutes: u64,
}

impl<'a> BaselineFields<'a> {
    fn of(facts: &'a BaselineFacts) -> Self {
        let finding = facts.finding.as_ref();
        let round = |value: f64| (value * 100.0).round() / 100.0;
        Self {
            status: facts.status.as_str(),
            new_executable: facts.new_executable,
            new_exec_pair: facts.new_exec_pair,
            new_file_area: facts.new_file_area,
            file_area: facts.file_area.as_deref(),
            new_destination: facts.new_destination,
            new_country: facts.new_country,
            deviation: finding.map(|finding| finding.kind),
            value: finding.map(|finding| finding.value.as_str()),
            score: finding.map(|finding| finding.score),
            reason: finding.map(|finding| finding.reason.as_str()),
            known: finding.map(|finding| BaselineKnown {
                values: finding.known,
                observations: finding.observations,
                sessions: finding.sessions,
                similar: &finding.similar,
            }),
            rate: finding
                .and_then(|finding| finding.rate.as_ref())
                .map(|rate| BaselineRate {
                    action: rate.action,
                    count: rate.count,
                    mean: round(rate.mean),
                    stddev: round(rate.stddev),
                    threshold: round(rate.threshold),
                    minutes: rate.minutes,
                }),
        }
    }
}

#[derive(Serialize)]
struct NetworkFields {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorFields {
    code: &'static str,
}

#[derive(Serialize)]
struct GenAi<'a> {
    agent: Agent<'a>,
}

#[derive(Serialize)]
struct Agent<'a> {
    name: &'a str,
    id: String,
}

#[derive(Serialize)]
struct SensorFields<'a> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserHome<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_argument: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dirfd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open: Option<OpenFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<ExecFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fork: Option<ForkFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit: Option<ExitFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<SensorDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<BaselineFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<RepeatFields>,
    /// `agent_sensor.call`: the door the call came through and what the kernel did about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<CallFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a super::peer::PeerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileChangeFields<'a>>,
}

#[derive(Serialize)]
struct CallFields {
    door: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unreadable_argument: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    killed: bool,
}

#[derive(Serialize)]
struct RepeatFields {
    count: u32,
}

#[derive(Serialize)]
struct UserHome<'a> {
    home: &'a str,
}

#[derive(Serialize)]
struct SessionFields<'a> {
    working_directory: &'a str,
}

#[derive(Serialize)]
struct OpenFields {
    flags: Vec<&'static str>,
    access: &'static str,
    write: bool,
    /// Only for opens that can create a file (`O_CREAT`, `O_TMPFILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
}

#[derive(Serialize)]
struct ExecFields<'a> {
    filename: &'a str,
}

#[derive(Serialize)]
struct ForkFields {
    child_pid: u32,
}

#[derive(Serialize)]
struct ExitFields {
    status: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<u32>,
}

impl<'a> SensorFields<'a> {
    fn of(event: &'a Event) -> Self {
        let mut fields = Self {
            schema_version: SCHEMA_VERSION,
            user: event.user_home.as_deref().map(|home| UserHome { home }),
            session: event
                .session
                .as_ref()
                .and_then(|session| session.working_directory.as_deref())
                .map(|working_directory| SessionFields { working_directory }),
            syscall: None,
            path_argument: None,
            dirfd: None,
            open: None,
            path_truncated: None,
            args_truncated: event.process.args_truncated.then_some(true),
            exec: None,
            fork: None,
            exit: None,
            cgroup: event.process.cgroup.as_deref(),
            destination: event
                .annotations
                .destination
                .as_ref()
                .filter(|info| info.scope.is_some() || info.allowed.is_some())
                .map(|info| SensorDestination {
                    scope: info.scope.map(|scope| scope.as_str()),
                    allowed: info.allowed,
                }),
            baseline: event.annotations.baseline.as_deref().map(BaselineFields::of),
            repeat: (event.repeat > 1).then_some(RepeatFields { count: event.repeat }),
            peer: event.annotations.peer.as_ref(),
            file: None,
            call: (event.door != super::Door::Syscall || event.syscall_flags != super::SyscallFlags::default()).then(
                || CallFields {
                    door: event.door.as_str(),
                    unreadable_argument: event.syscall_flags.unreadable_argument,
                    killed: event.syscall_flags.killed,
                },
            ),
        };
        match &event.detail {
            Detail::File(file) => {
                fields.syscall = Some(file.syscall.name());
                fields.path_argument = Some(&file.path_argument);
                fields.dirfd = Some(file.dirfd);
                fields.file = FileChangeFields::of(&file.change);
                fields.path_truncated = file.truncated.then_some(true);
                if event.action == Action::Open {
                    let access = open_flags::Access::of(file.flags);
                    fields.open = Some(OpenFields {
                        flags: open_flags::names(file.flags),
                        access: access.as_str(),
                        write: open_flags::is_write(file.flags),
                        mode: open_flags::creates(file.flags).then(|| format!("{:04o}", file.mode & 0o7777)),
                    });
                }
            }
            Detail::Exec { filename, .. } => fields.exec = Some(ExecFields { filename }),
            Detail::Fork { child_pid } => fields.fork = Some(ForkFields { child_pid: *child_pid }),
            Detail::Exit { status } => {
                let signal = status & 0x7f;
                fields.exit = Some(ExitFields {
                    status: (status >> 8) & 0xff,
                    signal: (signal != 0).then_some(signal),
                });
            }
            Detail::Connect { .. } => fields.syscall = Some("connect"),
            Detail::Socket { .. } | Detail::Process(_) => {}
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sensor_common::event::Syscall;
    use serde_json::Value;

    use super::*;
    use crate::{
        event::{FileDetail, Outcome, ParentRef, SessionRef},
        process::ProcessInfo,
    };

    fn process() -> ProcessInfo {
        ProcessInfo {
            pid: 4242,
            ppid: 4200,
            executable: Arc::from("/usr/bin/cat"),
            args: Arc::from(vec!["cat".to_string(), "notes.txt".to_string()]),
            command_line: Arc::from("cat notes.txt"),
            args_truncated: false,
            cwd: Arc::from("/home/dev/project"),
            uid: 1000,
            gid: 1000,
            start_boottime_ns: 1,
            cgroup_id: 9,
            cgroup: Some(Arc::from("/agent-sensor/watch-1")),
            session_id: Some(0x1234),
            trusted: false,
        }
    }

    fn event(detail: Detail, action: Action) -> Event {
        Event {
            door: Default::default(),
            repeat: 1,
            syscall_flags: Default::default(),
            run_id: 0xfeed,
            sequence: 7,
            hostname: Some(Arc::from("workstation")),
            timestamp_ns: 1_763_750_000_123_456_789,
            action,
            outcome: Outcome::Success,
            error: None,
            tid: 4243,
            process: process(),
            process_start_ns: Some(1_763_749_999_000_000_000),
            parent: Some(ParentRef {
                pid: 4200,
                executable: Some(Arc::from("/usr/bin/bash")),
                command_line: Some(Arc::from("bash -l")),
            }),
            user_name: Some(Arc::from("dev")),
            user_home: Some(Arc::from("/home/dev")),
            session: Some(SessionRef {
                id: 0x1234,
                agent: Arc::from("claude-code"),
                working_directory: Some(Arc::from("/home/dev/project")),
            }),
            detail,
            annotations: Default::default(),
        }
    }

    fn json(event: &Event) -> Value {
        serde_json::from_slice(&EcsEvent { event }.to_json()).expect("valid JSON")
    }

    #[test]
    fn an_open_has_the_ecs_fields_and_the_sensor_fields() {
        let doc = json(&event(
            Detail::File(FileDetail {
                path: "/home/dev/project/notes.txt".into(),
                path_argument: "notes.txt".into(),
                syscall: Syscall::Openat,
                dirfd: -100,
                flags: libc::O_RDONLY as u32,
                mode: 0,
                truncated: false,
                identity: None,
                change: Default::default(),
            }),
            Action::Open,
        ));
        assert_eq!(doc["@timestamp"], "2025-11-21T18:33:20.123456789Z");
        assert_eq!(doc["event"]["action"], "open");
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["event"]["category"][0], "file");
        assert_eq!(doc["event"]["type"][0], "access");
        assert_eq!(doc["event"]["id"], "000000000000feed-7");
        assert_eq!(doc["agent"]["ephemeral_id"], "000000000000feed");
        assert_eq!(doc["host"]["hostname"], "workstation");
        assert_eq!(doc["process"]["pid"], 4242);
        assert_eq!(doc["process"]["parent"]["pid"], 4200);
        assert_eq!(doc["process"]["parent"]["executable"], "/usr/bin/bash");
        assert_eq!(doc["process"]["parent"]["command_line"], "bash -l");
        assert_eq!(doc["process"]["command_line"], "cat notes.txt");
        assert_eq!(doc["process"]["working_directory"], "/home/dev/project");
        assert_eq!(doc["process"]["thread"]["id"], 4243);
        assert_eq!(doc["user"]["id"], "1000");
        assert_eq!(doc["user"]["name"], "dev");
        assert_eq!(doc["file"]["path"], "/home/dev/project/notes.txt");
        assert_eq!(doc["file"]["name"], "notes.txt");
        assert_eq!(doc["file"]["directory"], "/home/dev/project");
        assert_eq!(doc["gen_ai"]["agent"]["name"], "claude-code");
        assert_eq!(doc["gen_ai"]["agent"]["id"], "0000000000001234");
        assert_eq!(doc["agent_sensor"]["schema_version"], SCHEMA_VERSION);
        assert_eq!(doc["agent_sensor"]["open"]["access"], "read");
        assert_eq!(doc["agent_sensor"]["open"]["write"], false);
        assert_eq!(doc["agent_sensor"]["open"]["flags"][0], "O_RDONLY");
        assert!(
            doc["agent_sensor"]["open"].get("mode").is_none(),
            "no mode without O_CREAT"
        );
        assert_eq!(doc["agent_sensor"]["path_argument"], "notes.txt");
        assert!(doc.get("destination").is_none());
    }

    #[test]
    fn a_creating_open_shows_its_mode_and_type() {
        let doc = json(&event(
            Detail::File(FileDetail {
                path: "/tmp/x".into(),
                path_argument: "/tmp/x".into(),
                syscall: Syscall::Openat,
                dirfd: -100,
                flags: (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32,
                mode: 0o644,
                truncated: true,
                identity: None,
                change: Default::default(),
            }),
            Action::Open,
        ));
        assert_eq!(doc["event"]["type"][0], "creation");
        assert_eq!(doc["agent_sensor"]["open"]["mode"], "0644");
        assert_eq!(doc["agent_sensor"]["open"]["write"], true);
        assert_eq!(doc["agent_sensor"]["path_truncated"], true);
    }

    #[test]
    fn connect_and_exit_fields() {
        let doc = json(&event(
            Detail::Connect {
                destination: Destination::Inet("[2001:db8::1]:443".parse().expect("addr")),
                fd: 3,
                transport: None,
            },
            Action::Connect,
        ));
        assert_eq!(doc["destination"]["ip"], "2001:db8::1");
        assert!(doc["destination"].get("geo").is_none(), "no country without a lookup");
        assert!(doc["agent_sensor"].get("destination").is_none());
        assert_eq!(doc["destination"]["port"], 443);
        assert_eq!(doc["network"]["type"], "ipv6");
        assert!(doc["network"].get("transport").is_none());
        assert_eq!(doc["event"]["category"][0], "network");

        let mut annotated = event(
            Detail::Connect {
                destination: Destination::Inet("8.8.8.8:4444".parse().expect("addr")),
                fd: 3,
                transport: Some(crate::event::Transport::Udp),
            },
            Action::Connect,
        );
        annotated.annotations.destination = Some(DestinationInfo {
            scope: Some(crate::event::annotations::Scope::Public),
            country: crate::event::annotations::CountryCode::parse("US"),
            allowed: Some(false),
        });
        annotated.annotations.baseline = Some(Box::new(BaselineFacts {
            status: crate::event::annotations::BaselineStatus::Enforcing,
            new_destination: Some(true),
            new_country: Some(false),
            ..BaselineFacts::default()
        }));
        let doc = json(&annotated);
        assert_eq!(doc["destination"]["geo"]["country_iso_code"], "US");
        assert_eq!(doc["network"]["transport"], "udp");
        assert_eq!(doc["agent_sensor"]["destination"]["scope"], "public");
        assert_eq!(doc["agent_sensor"]["destination"]["allowed"], false);
        assert_eq!(doc["agent_sensor"]["baseline"]["status"], "enforcing");
        assert_eq!(doc["agent_sensor"]["baseline"]["new_destination"], true);
        assert_eq!(doc["agent_sensor"]["baseline"]["new_country"], false);
        assert!(doc["agent_sensor"]["baseline"].get("new_executable").is_none());
        assert!(doc["agent_sensor"]["baseline"].get("score").is_none());

        let doc = json(&event(Detail::Exit { status: 9 }, Action::Exit));
        assert_eq!(doc["process"]["exit_code"], 137);
        assert_eq!(doc["agent_sensor"]["exit"]["signal"], 9);
        let doc = json(&event(Detail::Exit { status: 3 << 8 }, Action::Exit));
        assert_eq!(doc["process"]["exit_code"], 3);
    }
}
