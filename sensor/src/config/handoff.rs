//! `handoff:` — the servers that run commands for the clients of their unix sockets (spawners):
//! a connect to one from outside its session is a hand-off out of the session (`session-escape`,
//! docs/enforcement.md). The lists replace the built-in ones when given.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// The longest program name: what the kernel keeps of a process's name (`comm`), which is also
/// what the sensor compares with.
pub const PROGRAM_NAME_MAX: usize = 15;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// Executable base names whose server runs commands for any client of any unix socket it
    /// listens on, wherever the socket is bound (`tmux -S PATH`). Judged by the kernel with BPF
    /// LSM and by the sensor everywhere. The systemd user manager is always a spawner, through its
    /// private socket only.
    pub spawner_programs: Vec<String>,
    /// Unix socket paths (globs) at spawners' usual places: the sensor looks up the listener of
    /// a socket there whatever program it runs.
    pub spawner_sockets: Vec<String>,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        Self {
            spawner_programs: ["tmux", "screen"].map(String::from).to_vec(),
            spawner_sockets: [
                "/tmp/tmux-*/*",
                "/run/user/*/tmux-*/*",
                "/run/screen/S-*/*",
                "/var/run/screen/S-*/*",
                "/run/user/*/screen/*",
                "/run/user/*/systemd/private",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A `handoff:` entry the sensor cannot use.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("handoff.spawner_programs: `{0}` is not a program's base name (1 to {PROGRAM_NAME_MAX} bytes, no `/`)")]
    Program(String),
    #[error("handoff.spawner_sockets: `{glob}` is not a glob: {source}")]
    Socket { glob: String, source: globset::Error },
}

impl HandoffConfig {
    /// Checks the lists: program names the kernel can compare, socket globs that compile.
    pub fn validate(&self) -> Result<(), HandoffError> {
        if let Some(bad) = self
            .spawner_programs
            .iter()
            .find(|name| name.is_empty() || name.len() > PROGRAM_NAME_MAX || name.contains('/') || name.contains('\0'))
        {
            return Err(HandoffError::Program(bad.clone()));
        }
        self.socket_set().map(|_| ())
    }

    /// The socket globs, compiled.
    pub fn socket_set(&self) -> Result<GlobSet, HandoffError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &self.spawner_sockets {
            let glob = Glob::new(pattern).map_err(|source| HandoffError::Socket {
                glob: pattern.clone(),
                source,
            })?;
            builder.add(glob);
        }
        builder.build().map_err(|source| HandoffError::Socket {
            glob: self.spawner_sockets.join(", "),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_lists_are_valid_and_bad_entries_are_named() {
        assert!(HandoffConfig::default().validate().is_ok());
        for bad in ["", "a/b", "a-name-of-sixteen"] {
            let config = HandoffConfig {
                spawner_programs: vec![bad.to_string()],
                ..Default::default()
            };
            let error = config.validate().expect_err(bad).to_string();
            assert!(error.contains("handoff.spawner_programs"), "{error}");
        }
        let config = HandoffConfig {
            spawner_sockets: vec!["/run/[bad".to_string()],
            ..Default::default()
        };
        let error = config.validate().expect_err("bad glob").to_string();
        assert!(error.contains("/run/[bad"), "{error}");
    }
}
