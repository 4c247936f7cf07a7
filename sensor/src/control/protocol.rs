//! What goes over the control socket: one JSON request line, one JSON answer line.

use serde::{Deserialize, Serialize};

use crate::{
    enforce::backends::BackendSummary,
    process::{
        agent_id,
        cgroup::{Outcome, SessionAction, SessionState},
    },
};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's state ([`StatusReport`]).
    Status,
    /// A `watch` session: listed while the connection stays open.
    Register(Registration),
    /// Freeze, thaw or kill a session (the daemon's own or a registered `watch` session).
    Session(SessionRequest),
}

/// `agent-sensor session freeze|thaw|kill ID`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRequest {
    pub action: SessionAction,
    /// `gen_ai.agent.id`, or a prefix of it that names one session.
    pub session: String,
}

/// What a session action did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionReply {
    pub session: String,
    pub agent: Option<String>,
    /// Who runs the session: `daemon` or `watch`.
    pub kind: String,
    pub action: SessionAction,
    pub state: SessionState,
    /// Processes in the session's cgroup when it was acted on (for a kill: how many were killed).
    pub processes: usize,
    /// Processes of the session that could not be moved into its cgroup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmoved: Vec<u32>,
    /// The session's cgroup, relative to the hierarchy root.
    pub cgroup: Option<String>,
    /// How it was done: `daemon` (through the control socket) or `cgroup` (on the cgroup directly).
    pub via: String,
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
    /// `running`, `freezing` or `frozen`.
    #[serde(default = "running")]
    pub state: SessionState,
    /// The session's own cgroup, once it has one (after a first freeze).
    #[serde(default)]
    pub cgroup: Option<String>,
}

impl SessionReply {
    /// The reply for what an action did to a session of `kind` (`daemon` or `watch`), done `via`
    /// the daemon or the cgroup.
    pub fn new(outcome: Outcome, kind: &str, agent: Option<String>, via: &str) -> Self {
        Self {
            session: agent_id(outcome.session),
            agent,
            kind: kind.to_string(),
            action: outcome.action,
            state: outcome.state,
            processes: outcome.processes,
            unmoved: outcome.unmoved,
            cgroup: (!outcome.cgroup.is_empty()).then(|| outcome.cgroup.to_string()),
            via: via.to_string(),
        }
    }
}

fn running() -> SessionState {
    SessionState::Running
}

/// A registered `watch` session, with its state read from its cgroup.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WatchSessionStatus {
    #[serde(flatten)]
    pub registration: Registration,
    #[serde(default = "running")]
    pub state: SessionState,
    /// Processes in its cgroup.
    #[serde(default)]
    pub processes: usize,
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
    pub watch_sessions: Vec<WatchSessionStatus>,
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
    Session(SessionReply),
    Error { message: String },
}
