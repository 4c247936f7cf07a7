//! The daemon's control socket: `agent-sensor status` asks it what the daemon is doing,
//! `agent-sensor session` freezes, thaws and kills sessions through it, and
//! `agent-sensor watch` registers its session with it. A unix socket only root may open, whose
//! peers' credentials are checked on every connection.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::PathBuf;

pub use protocol::{Registration, Request, StatusReport};

/// Where the daemon listens unless the configuration says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/agent-sensor/control.sock";

/// `control:` in the configuration.
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// The control socket (its directory is created with mode 0700, the socket 0600).
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
        }
    }
}
