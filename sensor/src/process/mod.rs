//! Processes and agent sessions: the process table, /proc, sessions, cgroups, path resolution.

pub mod cgroup;
pub mod procfs;
pub mod resolve;
pub mod sessions;
pub mod table;
pub mod users;
pub mod workspace;

pub use procfs::Procfs;
pub use sessions::{Origin, Session, SessionChange, SessionHome, Sessions, agent_id, new_session_id};
pub use table::{ProcessInfo, ProcessTable};
