//! Agent profiles: which executions start an agent session (config/agents.yaml, docs/profiles.md).
//!
//! The profile file compiles into the kernel's `EXEC_NAMES` map (hashes of base names); the same
//! rules are applied in userspace to processes already running when the daemon starts.

use std::{collections::HashMap, path::Path, sync::Arc};

use sensor_common::{
    hash::fnv1a,
    maps::{EXEC_MATCH_AGENT, EXEC_MATCH_INTERPRETER, ExecMatch, MAX_EXEC_NAMES},
};
use serde::Deserialize;

use crate::yaml;

/// The profiles shipped with the sensor.
pub const DEFAULT_PROFILES: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agents.yaml"));

/// How many leading arguments of an interpreter are looked at (the kernel does the same).
const INTERPRETER_ARGS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("{origin}: unsupported profile file version {0}; this sensor reads version 1", .version)]
    Version { origin: String, version: u32 },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    version: u32,
    #[serde(default)]
    interpreters: Vec<String>,
    agents: Vec<AgentProfile>,
}

/// One agent.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// `gen_ai.agent.name` of its sessions.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Base names of the programs that start it.
    pub commands: Vec<String>,
}

/// A validated set of profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profiles {
    pub agents: Vec<AgentProfile>,
    pub interpreters: Vec<String>,
    /// Command name to profile index.
    commands: HashMap<String, usize>,
}

impl Profiles {
    /// The shipped profiles.
    pub fn builtin() -> Result<Self, ProfileError> {
        Self::parse(DEFAULT_PROFILES, "built-in config/agents.yaml")
    }

    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = yaml::read(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let file: ProfileFile = yaml::parse(text, origin)?;
        if file.version != 1 {
            return Err(ProfileError::Version {
                origin: origin.to_string(),
                version: file.version,
            });
        }
        let invalid = |message: String| ProfileError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut commands = HashMap::new();
        let mut names = HashMap::new();
        for (index, agent) in file.agents.iter().enumerate() {
            if agent.name.trim().is_empty() {
                return Err(invalid(format!("agent #{} has an empty name", index + 1)));
            }
            if names.insert(agent.name.clone(), index).is_some() {
                return Err(invalid(format!("agent `{}` is defined twice", agent.name)));
            }
            if agent.commands.is_empty() {
                return Err(invalid(format!("agent `{}` has no commands", agent.name)));
            }
            for command in &agent.commands {
                check_name(command)
                    .map_err(|why| invalid(format!("agent `{}`: command `{command}` {why}", agent.name)))?;
                if let Some(other) = commands.insert(command.clone(), index) {
                    return Err(invalid(format!(
                        "command `{command}` belongs to both `{}` and `{}`",
                        file.agents[other].name, agent.name
                    )));
                }
            }
        }
        for interpreter in &file.interpreters {
            check_name(interpreter).map_err(|why| invalid(format!("interpreter `{interpreter}` {why}")))?;
        }
        let profiles = Self {
            agents: file.agents,
            interpreters: file.interpreters,
            commands,
        };
        let entries = profiles.kernel_entries().len();
        if entries > MAX_EXEC_NAMES as usize {
            return Err(invalid(format!(
                "{entries} command and interpreter names are more than the kernel map holds ({MAX_EXEC_NAMES})"
            )));
        }
        Ok(profiles)
    }

    /// Profile names in kernel index order.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.agents.iter().map(|agent| Arc::from(agent.name.as_str())).collect()
    }

    /// The entries of the kernel's `EXEC_NAMES` map.
    pub fn kernel_entries(&self) -> Vec<(u64, ExecMatch)> {
        let mut entries: HashMap<u64, ExecMatch> = HashMap::new();
        for (command, &index) in &self.commands {
            let entry = entries.entry(fnv1a(command.as_bytes())).or_default();
            entry.profile_id = index as u32;
            entry.kind |= EXEC_MATCH_AGENT;
        }
        for interpreter in &self.interpreters {
            entries.entry(fnv1a(interpreter.as_bytes())).or_default().kind |= EXEC_MATCH_INTERPRETER;
        }
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by_key(|(hash, _)| *hash);
        entries
    }

    /// The profile a running process matches, judged by its executable and arguments as /proc
    /// shows them (the same rules as the kernel applies at exec; `argv[0]` stands for the path
    /// that was executed).
    pub fn match_process(&self, executable: &str, args: &[String]) -> Option<usize> {
        let program = args.first().map_or(executable, String::as_str);
        for candidate in [basename(program), basename(executable)] {
            if let Some(&index) = self.commands.get(candidate) {
                return Some(index);
            }
        }
        let interpreted = [basename(program), basename(executable)]
            .iter()
            .any(|name| self.interpreters.iter().any(|i| i == name));
        if !interpreted {
            return None;
        }
        args.iter()
            .skip(1)
            .take(INTERPRETER_ARGS)
            .find_map(|arg| self.commands.get(basename(arg)).copied())
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.contains('/') {
        Err("must be a base name, without `/`")
    } else if name.len() > 255 {
        Err("is longer than 255 bytes")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("contains white space or control characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn builtin_profiles_cover_the_required_agents() {
        let profiles = Profiles::builtin().expect("built-in profiles parse");
        for name in [
            "openclaw",
            "claude-code",
            "codex",
            "gemini-cli",
            "aider",
            "goose",
            "opencode",
        ] {
            assert!(profiles.agents.iter().any(|a| a.name == name), "missing {name}");
        }
    }

    #[test]
    fn matches_commands_interpreters_and_ignores_the_rest() {
        let profiles = Profiles::builtin().expect("profiles");
        let claude = profiles.agents.iter().position(|a| a.name == "claude-code");
        let aider = profiles.agents.iter().position(|a| a.name == "aider");
        let gemini = profiles.agents.iter().position(|a| a.name == "gemini-cli");
        assert_eq!(
            profiles.match_process("/home/u/.local/share/claude/versions/2.0.1", &args(&["claude"])),
            claude
        );
        assert_eq!(
            profiles.match_process("/usr/bin/python3.11", &args(&["python3", "-m", "aider"])),
            aider
        );
        assert_eq!(
            profiles.match_process(
                "/usr/bin/node",
                &args(&["node", "/usr/local/lib/node_modules/.bin/gemini", "-p"])
            ),
            gemini
        );
        assert_eq!(
            profiles.match_process("/usr/bin/vim", &args(&["vim", "claude"])),
            None,
            "only interpreters look at arguments"
        );
        assert_eq!(
            profiles.match_process("/usr/bin/node", &args(&["node", "server.js", "x", "y", "claude"])),
            None,
            "only the first three arguments count"
        );
    }

    #[test]
    fn kernel_entries_hash_commands_and_interpreters() {
        let profiles = Profiles::builtin().expect("profiles");
        let entries = profiles.kernel_entries();
        let find = |name: &str| {
            entries
                .iter()
                .find(|(hash, _)| *hash == fnv1a(name.as_bytes()))
                .map(|(_, e)| *e)
        };
        let codex = find("codex").expect("codex entry");
        assert_eq!(codex.kind, EXEC_MATCH_AGENT);
        assert_eq!(profiles.agents[codex.profile_id as usize].name, "codex");
        assert_eq!(find("node").expect("node entry").kind, EXEC_MATCH_INTERPRETER);
        assert!(find("bash").is_none());
    }

    #[test]
    fn rejects_bad_profile_files_with_their_origin() {
        let cases = [
            ("version: 2\nagents: []\n", "unsupported profile file version 2"),
            (
                "version: 1\nagents:\n  - name: a\n    commands: [x/y]\n",
                "must be a base name",
            ),
            (
                "version: 1\nagents:\n  - name: a\n    commands: [x]\n  - name: b\n    commands: [x]\n",
                "belongs to both",
            ),
            (
                "version: 1\nagents:\n  - name: a\n    commands: []\n",
                "has no commands",
            ),
            (
                "version: 1\nagents:\n  - name: a\n    commands: [x]\n    colour: red\n",
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let error = Profiles::parse(text, "test.yaml").expect_err(text).to_string();
            assert!(error.contains(expected), "{error:?} should mention {expected:?}");
            assert!(error.contains("test.yaml"), "{error:?} should name the file");
        }
    }
}
