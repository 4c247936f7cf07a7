//! The enriched event: a kernel record joined with what the process table and the session
//! registry know, with absolute paths. This is what rules, baselines and outputs see.

pub mod annotations;
pub mod ecs;
mod enrich;
pub mod from_json;
pub mod open_flags;

use std::{net::SocketAddr, sync::Arc};

pub use annotations::Annotations;
pub use enrich::Enricher;
use sensor_common::event::Syscall;

use crate::process::ProcessInfo;

/// Version of the JSON event schema (`agent_sensor.schema_version`); see docs/events.md.
pub const SCHEMA_VERSION: u32 = 1;

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
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Exec,
        Action::Fork,
        Action::Exit,
        Action::Open,
        Action::Connect,
        Action::Unlink,
        Action::Rmdir,
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
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

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
}

impl FileDetail {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn directory(&self) -> &str {
        match self.path.rfind('/') {
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

/// What is particular to each action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    Exec {
        /// The path given to execve (for scripts, the script), made absolute.
        filename: String,
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
    },
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

    pub fn destination(&self) -> Option<&Destination> {
        match &self.detail {
            Detail::Connect { destination, .. } => Some(destination),
            _ => None,
        }
    }
}
