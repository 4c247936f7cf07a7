//! The JSON form of events: one object per line, ECS field names (docs/events.md).

use serde::{Serialize, Serializer, ser::SerializeStruct};

use super::{
    Action, Destination, Detail, Event, SCHEMA_VERSION,
    annotations::{BaselineFacts, DestinationInfo},
    open_flags,
};

mod baseline;
mod escape;
mod file;
mod line;
mod network;
mod process;
mod sensor;
mod text;
mod writer;

pub use self::process::exit_code;
pub use self::text::{EventId, Hex16, Rfc3339};
use self::{baseline::*, file::*, line::Line, network::*, process::*, sensor::*, text::Shown};

/// The ECS version, as a literal for the line's constant pieces.
macro_rules! ecs_version {
    () => {
        "8.17.0"
    };
}

/// ECS version whose field names the events follow.
pub const ECS_VERSION: &str = ecs_version!();

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(epoch_ns: i128) -> String {
    Rfc3339(epoch_ns).to_string()
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
        let mut line = Vec::with_capacity(1024);
        self.write_json(&mut line);
        line
    }

    /// Appends the JSON line (without the newline) to `line`, a buffer the caller reuses: the
    /// same bytes as serde_json writes from the `Serialize` form, written field by field.
    pub fn write_json(&self, line: &mut Vec<u8>) {
        let start = line.len();
        // The sections kept in their serde form are strings, numbers and structs of them, which
        // the writer takes; should one day a field not be, the line is left out rather than
        // written half.
        if let Err(error) = write_document(&mut Line { out: line }, self.event) {
            tracing::error!(%error, "an event could not be serialized");
            line.truncate(start);
        }
    }
}

/// The document of [`EcsEvent`]'s `Serialize`, section by section.
fn write_document(line: &mut Line, event: &Event) -> Result<(), writer::WriteError> {
    let run_id = text::hex16(event.run_id);
    line.raw(br#"{"@timestamp":""#);
    line.stamp(event.timestamp_ns);
    line.raw(
        concat!(
            r#"","ecs":{"version":""#,
            ecs_version!(),
            r#""},"agent":{"type":"agent-sensor","version":""#,
            env!("CARGO_PKG_VERSION"),
            r#"","ephemeral_id":""#
        )
        .as_bytes(),
    );
    line.raw(&run_id);
    line.raw(br#""},"event":{"id":""#);
    line.raw(&run_id);
    line.raw(b"-");
    line.int(event.sequence);
    line.raw(br#"","kind":"event","category":"#);
    let (category, kind) = categories(event);
    line.names(category.iter().copied());
    line.raw(br#","type":"#);
    line.names(kind.iter().copied());
    line.raw(br#","action":"#);
    line.name(event.action.as_str());
    line.raw(br#","outcome":"#);
    line.name(event.outcome.as_str());
    line.raw(br#","sequence":"#);
    line.int(event.sequence);
    line.raw(br#","module":"agent_sensor","dataset":"agent_sensor.events"},"host":{"hostname":"#);
    line.str(event.hostname.as_deref().unwrap_or(""));
    line.raw(b"}");
    process::write(line, event);
    if let Some(file) = event.file() {
        file::write(line, file);
    }
    if let Detail::Connect {
        destination, transport, ..
    } = &event.detail
    {
        network::write(line, destination, event.annotations.destination.as_ref(), *transport);
    }
    if let Some(code) = event.error {
        line.field(br#","error":{"code":"#, code);
        line.raw(b"}");
    }
    if let Some(session) = &event.session {
        line.field(br#","gen_ai":{"agent":{"name":"#, &session.agent);
        line.raw(br#","id":""#);
        line.hex16(session.id);
        line.raw(br#""}}"#);
    }
    sensor::write(line, event)?;
    line.raw(b"}");
    Ok(())
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
        doc.serialize_field("@timestamp", &Shown(Rfc3339(event.timestamp_ns)))?;
        doc.serialize_field("ecs", &EcsVersion { version: ECS_VERSION })?;
        let (category, kind) = categories(event);
        doc.serialize_field(
            "agent",
            &AgentFields {
                r#type: "agent-sensor",
                version: env!("CARGO_PKG_VERSION"),
                ephemeral_id: Shown(Hex16(event.run_id)),
            },
        )?;
        doc.serialize_field(
            "event",
            &EventFields {
                id: Shown(EventId {
                    run_id: event.run_id,
                    sequence: event.sequence,
                }),
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
                id: Shown(event.process.uid),
                name: event.user_name.as_deref(),
            },
        )?;
        doc.serialize_field(
            "group",
            &GroupFields {
                id: Shown(event.process.gid),
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
                        id: Shown(Hex16(session.id)),
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
    ephemeral_id: Shown<Hex16>,
}

#[derive(Serialize)]
struct EventFields {
    id: Shown<EventId>,
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

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
