//! Reading events back from their JSON form (recordings for `replay`, rule test cases).

use std::{net::SocketAddr, sync::Arc};

use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    Action, Annotations, Destination, Detail, Door, Event, FileChange, FileDetail, Outcome, ParentRef,
    ProcessOperation, SessionRef,
    annotations::{BaselineFacts, BaselineStatus, CountryCode, DestinationInfo, Scope},
};
use crate::{decode::errno_by_name, process::ProcessInfo};
use sensor_common::event::Syscall;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FromJsonError {
    #[error("`event.action` is missing")]
    NoAction,
    #[error("`event.action` is `{0}`, not one of exec, fork, exit, open, connect, unlink, rmdir")]
    UnknownAction(String),
    #[error("`{field}` is `{value}`, which is not {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

fn get<'v>(doc: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted.split('.').try_fold(doc, |value, key| value.get(key))
}

fn text<'v>(doc: &'v Value, dotted: &str) -> Option<&'v str> {
    get(doc, dotted)?.as_str()
}

fn arc(doc: &Value, dotted: &str) -> Option<Arc<str>> {
    text(doc, dotted).map(Arc::from)
}

fn number(doc: &Value, dotted: &'static str) -> Result<Option<i64>, FromJsonError> {
    match get(doc, dotted) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(dotted, n, "a whole number")),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| invalid(dotted, s, "a whole number")),
        Some(other) => Err(invalid(dotted, other, "a whole number")),
    }
}

fn invalid(field: &'static str, value: impl ToString, expected: &'static str) -> FromJsonError {
    FromJsonError::Invalid {
        field,
        value: value.to_string(),
        expected,
    }
}

fn hex_id(doc: &Value, dotted: &'static str) -> Result<Option<u64>, FromJsonError> {
    match text(doc, dotted) {
        Some(text) => u64::from_str_radix(text, 16)
            .map(Some)
            .map_err(|_| invalid(dotted, text, "a hexadecimal id")),
        None => Ok(None),
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Open flags from `agent_sensor.open.flags`, else from `.access` and `.write`.
fn open_flags(doc: &Value) -> Result<u32, FromJsonError> {
    if let Some(Value::Array(names)) = get(doc, "agent_sensor.open.flags") {
        let mut flags = 0u32;
        for name in names {
            let name = name.as_str().unwrap_or_default();
            match super::open_flags::flag_test(name) {
                Some(super::open_flags::FlagTest::AccessMode(mode)) => flags |= mode,
                Some(super::open_flags::FlagTest::Bits(bits)) => flags |= bits,
                None => return Err(invalid("agent_sensor.open.flags", name, "an open flag name")),
            }
        }
        return Ok(flags);
    }
    let write = get(doc, "agent_sensor.open.write")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(match text(doc, "agent_sensor.open.access") {
        Some("write") => libc::O_WRONLY as u32,
        Some("read-write") => libc::O_RDWR as u32,
        Some("read") | None if !write => libc::O_RDONLY as u32,
        Some("read") | None => libc::O_WRONLY as u32,
        Some(other) => return Err(invalid("agent_sensor.open.access", other, "read, write or read-write")),
    })
}

fn default_syscall(action: Action) -> Syscall {
    match action {
        Action::Unlink => Syscall::Unlinkat,
        Action::Rmdir => Syscall::Rmdir,
        _ => Syscall::Openat,
    }
}

fn syscall(doc: &Value, action: Action) -> Syscall {
    let named = text(doc, "agent_sensor.syscall");
    (1..=10)
        .filter_map(Syscall::from_u16)
        .find(|syscall| Some(syscall.name()) == named)
        .unwrap_or_else(|| default_syscall(action))
}

/// An event from its ECS document. Absent fields take neutral defaults.
pub fn event_from_json(doc: &Value) -> Result<Event, FromJsonError> {
    let action_name = text(doc, "event.action").ok_or(FromJsonError::NoAction)?;
    let action = Action::parse(action_name).ok_or_else(|| FromJsonError::UnknownAction(action_name.into()))?;
    let outcome = match text(doc, "event.outcome") {
        None | Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        Some("unknown") => Outcome::Unknown,
        Some(other) => return Err(invalid("event.outcome", other, "success, failure or unknown")),
    };
    let timestamp_ns = match text(doc, "@timestamp") {
        Some(stamp) => parse_time(stamp).ok_or_else(|| invalid("@timestamp", stamp, "an RFC 3339 time"))?,
        None => 0,
    };
    let (run_from_id, sequence_from_id) = text(doc, "event.id")
        .and_then(|id| id.split_once('-'))
        .map(|(run, seq)| (u64::from_str_radix(run, 16).ok(), seq.parse::<u64>().ok()))
        .unwrap_or((None, None));
    let run_id = hex_id(doc, "agent.ephemeral_id")?.or(run_from_id).unwrap_or(0);
    let sequence = number(doc, "event.sequence")?
        .map(|n| n as u64)
        .or(sequence_from_id)
        .unwrap_or(0);

    let args: Vec<String> = match get(doc, "process.args") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    let executable = text(doc, "process.executable")
        .or_else(|| text(doc, "process.name"))
        .unwrap_or_default();
    let command_line = text(doc, "process.command_line").map_or_else(|| args.join(" "), str::to_string);
    let pid = number(doc, "process.pid")?.unwrap_or(1000) as u32;
    let ppid = number(doc, "process.parent.pid")?.unwrap_or(1) as u32;
    let uid = number(doc, "user.id")?.unwrap_or(1000) as u32;
    let gid = number(doc, "group.id")?.unwrap_or(uid as i64) as u32;
    let session_id = hex_id(doc, "gen_ai.agent.id")?.unwrap_or(1);
    let process = ProcessInfo {
        pid,
        ppid,
        executable: Arc::from(executable),
        args: Arc::from(args),
        command_line: Arc::from(command_line),
        args_truncated: get(doc, "agent_sensor.args_truncated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cwd: arc(doc, "process.working_directory").unwrap_or_else(|| Arc::from("")),
        uid,
        gid,
        start_boottime_ns: 0,
        cgroup_id: 0,
        cgroup: arc(doc, "agent_sensor.cgroup"),
        session_id: Some(session_id),
        // Recorded events say; a hand-written one is the system's own program when its
        // executable lies below a system binary directory, or when it names no path at all.
        trusted: get(doc, "agent_sensor.process.trusted")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| {
                !executable.starts_with('/')
                    || crate::enforce::trusted::SYSTEM_DIRS
                        .iter()
                        .any(|dir| crate::rules::eval::is_under(executable, dir) && executable != *dir)
            }),
    };

    let detail = match action {
        Action::Exec => Detail::Exec {
            filename: text(doc, "agent_sensor.exec.filename")
                .unwrap_or(executable)
                .to_string(),
            script: text(doc, "agent_sensor.exec.script").map(str::to_string),
            exec_flags: 0,
            identity: None,
        },
        Action::Fork => Detail::Fork {
            child_pid: number(doc, "agent_sensor.fork.child_pid")?.unwrap_or(0) as u32,
        },
        Action::Exit => {
            let signal = number(doc, "agent_sensor.exit.signal")?;
            let code = number(doc, "agent_sensor.exit.status")?
                .or(number(doc, "process.exit_code")?)
                .unwrap_or(0);
            let status = match signal {
                Some(signal) => signal as u32 & 0x7f,
                None => ((code as u32) & 0xff) << 8,
            };
            Detail::Exit { status }
        }
        Action::Open
        | Action::Unlink
        | Action::Rmdir
        | Action::Rename
        | Action::Link
        | Action::Symlink
        | Action::Truncate
        | Action::Chmod
        | Action::Chown
        | Action::Setxattr
        | Action::Mkdir
        | Action::Mount
        | Action::Umount => {
            let path = text(doc, "file.path").unwrap_or_default().to_string();
            Detail::File(FileDetail {
                path_argument: text(doc, "agent_sensor.path_argument").map_or_else(|| path.clone(), str::to_string),
                path,
                syscall: syscall(doc, action),
                dirfd: number(doc, "agent_sensor.dirfd")?.unwrap_or(-100) as i32,
                flags: if action == Action::Open { open_flags(doc)? } else { 0 },
                mode: text(doc, "agent_sensor.open.mode")
                    .and_then(|mode| u32::from_str_radix(mode, 8).ok())
                    .unwrap_or(0),
                truncated: get(doc, "agent_sensor.path_truncated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                identity: None,
                change: file_change(doc, action),
            })
        }
        Action::Unshare
        | Action::Setns
        | Action::MemfdCreate
        | Action::Ptrace
        | Action::ProcessVmWritev
        | Action::IoUringSetup => Detail::Process(ProcessOperation::Unshare { flags: 0 }),
        Action::Bind | Action::Listen => Detail::Socket {
            address: None,
            fd: -1,
            backlog: None,
        },
        Action::Connect => {
            let destination = match (text(doc, "destination.ip"), number(doc, "destination.port")?) {
                (Some(ip), port) => {
                    let ip = ip.parse().map_err(|_| invalid("destination.ip", ip, "an IP address"))?;
                    Destination::Inet(SocketAddr::new(ip, port.unwrap_or(0) as u16))
                }
                (None, _) => Destination::Unix(text(doc, "destination.address").unwrap_or_default().to_string()),
            };
            let transport = match text(doc, "network.transport") {
                Some(name) => Some(
                    super::Transport::parse(name).ok_or_else(|| invalid("network.transport", name, "tcp or udp"))?,
                ),
                None => None,
            };
            Detail::Connect {
                destination,
                fd: 3,
                transport,
            }
        }
    };
    let annotations = annotations(doc, &detail)?;
    let error = match text(doc, "error.code") {
        Some(code) => {
            Some(errno_by_name(code).ok_or_else(|| invalid("error.code", code, "an errno name such as ENOENT"))?)
        }
        None => None,
    };
    Ok(Event {
        door: text(doc, "agent_sensor.call.door")
            .and_then(Door::parse)
            .unwrap_or_default(),
        repeat: number(doc, "agent_sensor.repeat.count")?.map_or(1, |count| count.max(1) as u32),
        syscall_flags: super::SyscallFlags {
            unreadable_argument: get(doc, "agent_sensor.call.unreadable_argument")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            killed: get(doc, "agent_sensor.call.killed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        run_id,
        sequence,
        hostname: arc(doc, "host.hostname"),
        timestamp_ns,
        action,
        outcome,
        error,
        tid: number(doc, "process.thread.id")?.unwrap_or(pid as i64) as u32,
        process,
        process_start_ns: text(doc, "process.start").and_then(parse_time),
        parent: Some(ParentRef {
            pid: ppid,
            executable: arc(doc, "process.parent.executable"),
            command_line: arc(doc, "process.parent.command_line"),
        }),
        user_name: arc(doc, "user.name"),
        user_home: arc(doc, "agent_sensor.user.home"),
        session: Some(SessionRef {
            id: session_id,
            agent: arc(doc, "gen_ai.agent.name").unwrap_or_else(|| Arc::from("unknown")),
            working_directory: arc(doc, "agent_sensor.session.working_directory"),
        }),
        detail,
        annotations,
    })
}

/// What a recorded file operation did besides naming the file (the fields rules read:
/// `agent_sensor.file.original.path`, `file.target_path`, `agent_sensor.file.created`).
fn file_change(doc: &Value, action: Action) -> FileChange {
    match action {
        Action::Rename | Action::Link => {
            text(doc, "agent_sensor.file.original.path").map_or(FileChange::None, |original| FileChange::From {
                original: original.to_string(),
            })
        }
        Action::Symlink => text(doc, "file.target_path").map_or(FileChange::None, |target| FileChange::Symlink {
            target: target.to_string(),
        }),
        Action::Open if get(doc, "agent_sensor.file.created").and_then(Value::as_bool) == Some(true) => {
            FileChange::Created
        }
        _ => FileChange::None,
    }
}

fn boolean(doc: &Value, dotted: &'static str) -> Result<Option<bool>, FromJsonError> {
    match get(doc, dotted) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(other) => Err(invalid(dotted, other, "true or false")),
    }
}

/// Destination scope and country, and baseline facts, as recorded (or as a rule test sets them).
fn annotations(doc: &Value, detail: &Detail) -> Result<Annotations, FromJsonError> {
    let mut annotations = Annotations::default();
    if let Detail::Connect {
        destination: Destination::Inet(_),
        ..
    } = detail
    {
        let scope = match text(doc, "agent_sensor.destination.scope") {
            Some(name) => Some(
                Scope::parse(name).ok_or_else(|| invalid("agent_sensor.destination.scope", name, "a scope name"))?,
            ),
            None => None,
        };
        let country = match text(doc, "destination.geo.country_iso_code") {
            Some(code) => Some(
                CountryCode::parse(code)
                    .ok_or_else(|| invalid("destination.geo.country_iso_code", code, "a two-letter country code"))?,
            ),
            None => None,
        };
        let allowed = boolean(doc, "agent_sensor.destination.allowed")?;
        if scope.is_some() || country.is_some() || allowed.is_some() {
            annotations.destination = Some(DestinationInfo {
                scope,
                country,
                allowed,
            });
        }
    }
    if let Some(in_session) = boolean(doc, "agent_sensor.peer.in_session")? {
        annotations.peer = Some(super::peer::PeerInfo {
            pid: number(doc, "agent_sensor.peer.pid")?.unwrap_or(0) as u32,
            name: text(doc, "agent_sensor.peer.name").unwrap_or_default().to_string(),
            in_session,
        });
    }
    if get(doc, "agent_sensor.baseline").is_some() {
        let status = match text(doc, "agent_sensor.baseline.status") {
            Some(name) => BaselineStatus::parse(name)
                .ok_or_else(|| invalid("agent_sensor.baseline.status", name, "learning or enforcing"))?,
            None => BaselineStatus::Enforcing,
        };
        annotations.baseline = Some(Box::new(BaselineFacts {
            status,
            new_executable: boolean(doc, "agent_sensor.baseline.new_executable")?,
            new_exec_pair: boolean(doc, "agent_sensor.baseline.new_exec_pair")?,
            new_file_area: boolean(doc, "agent_sensor.baseline.new_file_area")?,
            file_area: text(doc, "agent_sensor.baseline.file_area").map(str::to_string),
            new_destination: boolean(doc, "agent_sensor.baseline.new_destination")?,
            new_country: boolean(doc, "agent_sensor.baseline.new_country")?,
            finding: None,
        }));
    }
    Ok(annotations)
}

/// Turns `{"file.path": "/x", "event.action": "open"}` into nested objects.
pub fn nest_dotted(flat: &serde_json::Map<String, Value>) -> Value {
    let mut root = Value::Object(serde_json::Map::new());
    for (key, value) in flat {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for (index, part) in parts.iter().enumerate() {
            let Value::Object(map) = node else {
                break;
            };
            if index + 1 == parts.len() {
                map.insert((*part).to_string(), value.clone());
                break;
            }
            node = map
                .entry((*part).to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ecs::EcsEvent;

    #[test]
    fn a_recorded_event_reads_back_to_the_same_event() {
        let doc = serde_json::json!({
            "@timestamp": "2026-11-21T19:28:17.852867584Z",
            "agent": {"ephemeral_id": "00000000000000ff"},
            "event": {"action": "open", "outcome": "failure", "sequence": 9},
            "error": {"code": "ENOENT"},
            "host": {"hostname": "ws"},
            "process": {"pid": 5, "executable": "/usr/bin/cat", "args": ["cat", "x"], "working_directory": "/w",
                        "parent": {"pid": 4, "executable": "/bin/sh"}, "thread": {"id": 6}},
            "user": {"id": "1000", "name": "dev"}, "group": {"id": "1000"},
            "file": {"path": "/w/x"},
            "gen_ai": {"agent": {"name": "codex", "id": "00000000000000aa"}},
            "agent_sensor": {"open": {"flags": ["O_WRONLY", "O_CREAT"]}, "path_argument": "x",
                             "user": {"home": "/home/dev"}, "session": {"working_directory": "/w"}}
        });
        let event = event_from_json(&doc).expect("event");
        assert_eq!(event.id(), "00000000000000ff-9");
        assert_eq!(event.error, Some("ENOENT"));
        assert_eq!(
            event.file().map(|f| f.flags),
            Some((libc::O_WRONLY | libc::O_CREAT) as u32)
        );
        assert_eq!(event.session.as_ref().map(|s| s.id), Some(0xaa));
        // And writing it again gives these fields (written out here, not taken from the input),
        // and the derived ones from what was read.
        let again: Value = serde_json::from_slice(&EcsEvent { event: &event }.to_json()).expect("json");
        let expected = [
            ("@timestamp", serde_json::json!("2026-11-21T19:28:17.852867584Z")),
            ("event.action", serde_json::json!("open")),
            ("event.outcome", serde_json::json!("failure")),
            ("process.pid", serde_json::json!(5)),
            ("file.path", serde_json::json!("/w/x")),
            ("agent_sensor.path_argument", serde_json::json!("x")),
            ("gen_ai.agent.id", serde_json::json!("00000000000000aa")),
            ("agent_sensor.user.home", serde_json::json!("/home/dev")),
            ("agent_sensor.session.working_directory", serde_json::json!("/w")),
        ];
        for (field, value) in &expected {
            assert_eq!(get(&again, field), Some(value), "{field}");
        }
        assert_eq!(text(&again, "event.id"), Some("00000000000000ff-9"));
        assert_eq!(text(&again, "process.command_line"), Some("cat x"));
    }

    #[test]
    fn missing_and_unknown_actions_are_errors() {
        assert_eq!(event_from_json(&serde_json::json!({})), Err(FromJsonError::NoAction));
        assert!(matches!(
            event_from_json(&serde_json::json!({"event": {"action": "execve"}})),
            Err(FromJsonError::UnknownAction(_))
        ));
    }

    #[test]
    fn file_changes_read_back() {
        let rename = serde_json::json!({"event": {"action": "rename"}, "file": {"path": "/h/.bashrc"},
            "agent_sensor": {"file": {"original": {"path": "/h/.bashrc.tmp"}}}});
        let event = event_from_json(&rename).expect("rename");
        assert_eq!(
            event.file().map(|f| f.change.clone()),
            Some(FileChange::From {
                original: "/h/.bashrc.tmp".into()
            })
        );
        let symlink =
            serde_json::json!({"event": {"action": "symlink"}, "file": {"path": "/h/x", "target_path": "/dev/null"}});
        let event = event_from_json(&symlink).expect("symlink");
        assert_eq!(
            event.file().map(|f| f.change.clone()),
            Some(FileChange::Symlink {
                target: "/dev/null".into()
            })
        );
        let open = serde_json::json!({"event": {"action": "open"}, "file": {"path": "/h/x"},
            "agent_sensor": {"file": {"created": true}}});
        let event = event_from_json(&open).expect("open");
        assert_eq!(event.file().map(|f| f.change.clone()), Some(FileChange::Created));
    }

    #[test]
    fn dotted_keys_nest() {
        let mut flat = serde_json::Map::new();
        flat.insert("file.path".into(), serde_json::json!("/x"));
        flat.insert("process.parent.pid".into(), serde_json::json!(3));
        flat.insert("event.action".into(), serde_json::json!("open"));
        let nested = nest_dotted(&flat);
        assert_eq!(nested["file"]["path"], "/x");
        assert_eq!(nested["process"]["parent"]["pid"], 3);
    }
}
