//! What goes over the control socket: one JSON request line, one JSON answer line.

use serde::{Deserialize, Serialize};

use crate::enforce::backends::BackendSummary;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's state ([`StatusReport`]).
    Status,
    /// A `watch` session: listed while the connection stays open.
    Register(Registration),
}

/// A `watch` session, as it registers itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    /// `gen_ai.agent.id`.
    pub session: String,
    pub agent: String,
    /// The agent's first process.
    pub root_pid: u32,
    /// The `agent-sensor watch` process.
    pub watcher_pid: u32,
    pub cgroup: Option<String>,
    pub mode: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionStatus {
    pub session: String,
    pub agent: String,
    pub root_pid: u32,
    /// `profile` (matched at exec), `adopted` (running at start or `--pid`), `watch`.
    pub origin: String,
    pub live_processes: u64,
    pub working_directory: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackStatus {
    pub files: Vec<String>,
    pub rules: usize,
    pub kernel_rules: usize,
    pub disabled: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputStatus {
    pub name: String,
    pub kind: String,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub started: String,
    pub kernel: String,
    pub config: Option<String>,
    pub mode: String,
    pub rules: PackStatus,
    pub backends: Vec<BackendSummary>,
    pub backend_problems: Vec<String>,
    pub sessions: Vec<SessionStatus>,
    /// Sessions of `agent-sensor watch` processes that registered.
    pub watch_sessions: Vec<Registration>,
    /// Kernel counters (emitted, ringbuf_full, …) and pipeline counters.
    pub counters: serde_json::Map<String, serde_json::Value>,
    pub outputs: Vec<OutputStatus>,
    pub metrics: Option<String>,
}

/// The answer to a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Status(Box<StatusReport>),
    Registered,
    Error { message: String },
}
