//! Installing real coding agent CLIs from the npm registry, pinned, into a prefix the project owns
//! (`$AGENT_SENSOR_TOOLS/agents/NAME`, default `~/.cache/agent-sensor/agents/NAME`), so the
//! end-to-end tests (tests/agents.rs) can drive their own tools under the sensor.
//! docs/agents-testing.md says how they are driven and what they do at the syscall level.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::{
    cmd::{self, output},
    setup::tools_dir,
};

#[derive(Subcommand)]
pub enum Action {
    /// Install the pinned agent CLIs with npm (idempotent: an agent whose pinned version answers
    /// `--version` is left alone) and print where each binary is.
    Install {
        /// Agents to install (claude, codex, gemini, qwen). Default: all four.
        names: Vec<String>,
    },
    /// Print the pinned agents, their versions and binaries, and whether each is installed.
    List,
}

/// One agent CLI: its short name (also the name of its binary), npm package and pinned version.
pub struct Agent {
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
}

/// The pinned versions (the newest on the registry when docs/agents-testing.md was measured).
pub const AGENTS: [Agent; 4] = [
    Agent {
        name: "claude",
        package: "@anthropic-ai/claude-code",
        version: "2.1.332",
    },
    Agent {
        name: "codex",
        package: "@openai/codex",
        version: "0.171.0",
    },
    Agent {
        name: "gemini",
        package: "@google/gemini-cli",
        version: "0.61.0",
    },
    Agent {
        name: "qwen",
        package: "@qwen-code/qwen-code",
        version: "0.24.4",
    },
];

/// The agents the end-to-end tests drive, which `cargo xtask setup` installs.
pub const TESTED: [&str; 2] = ["claude", "codex"];

impl Agent {
    pub fn prefix(&self) -> PathBuf {
        tools_dir().join("agents").join(self.name)
    }

    pub fn binary(&self) -> PathBuf {
        self.prefix().join("bin").join(self.name)
    }

    /// True when the pinned version's package is in the prefix and its binary is there (cheap:
    /// starting Gemini CLI or Qwen Code takes seconds).
    fn is_installed(&self) -> bool {
        let manifest = self
            .prefix()
            .join("lib/node_modules")
            .join(self.package)
            .join("package.json");
        let version = std::fs::read_to_string(manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["version"].as_str().map(str::to_owned));
        version.as_deref() == Some(self.version) && self.binary().exists()
    }

    /// True when the binary runs and reports the pinned version.
    fn runs(&self) -> bool {
        output(Command::new(self.binary()).arg("--version")).is_some_and(|text| text.contains(self.version))
    }
}

pub fn run(action: &Action) -> Result<()> {
    match action {
        Action::Install { names } => {
            let names: Vec<&str> = if names.is_empty() {
                AGENTS.iter().map(|agent| agent.name).collect()
            } else {
                names.iter().map(String::as_str).collect()
            };
            install(&names)?;
            list();
            Ok(())
        }
        Action::List => {
            list();
            Ok(())
        }
    }
}

fn find(name: &str) -> Result<&'static Agent> {
    AGENTS.iter().find(|agent| agent.name == name).with_context(|| {
        let known: Vec<&str> = AGENTS.iter().map(|agent| agent.name).collect();
        format!("unknown agent {name:?}; known: {}", known.join(", "))
    })
}

/// Installs the named agents that are missing or at another version.
pub fn install(names: &[&str]) -> Result<()> {
    for name in names {
        let agent = find(name)?;
        if agent.is_installed() {
            continue;
        }
        check_npm()?;
        let started = Instant::now();
        install_one(agent)?;
        eprintln!(
            "agents: {} {} installed in {:.1} s",
            agent.package,
            agent.version,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn check_npm() -> Result<()> {
    if output(Command::new("npm").arg("--version")).is_none() {
        bail!("npm is missing: the agent CLIs install from the npm registry (install Node.js 20 or newer with npm)");
    }
    Ok(())
}

fn install_one(agent: &Agent) -> Result<()> {
    let prefix = agent.prefix();
    // A fresh prefix: nothing of an older version stays behind.
    if prefix.exists() {
        std::fs::remove_dir_all(&prefix).with_context(|| format!("cannot remove {}", prefix.display()))?;
    }
    std::fs::create_dir_all(&prefix).with_context(|| format!("cannot create {}", prefix.display()))?;
    cmd::run(
        Command::new("npm")
            .args(["install", "--global", "--prefix"])
            .arg(&prefix)
            .args(["--no-fund", "--no-audit", "--loglevel=error", "--update-notifier=false"])
            .arg(format!("{}@{}", agent.package, agent.version)),
    )?;
    if !agent.runs() {
        place_native_binary(agent, &prefix)?;
    }
    if !agent.runs() {
        bail!(
            "{} {} was installed into {} but `{} --version` does not report that version",
            agent.package,
            agent.version,
            prefix.display(),
            agent.binary().display()
        );
    }
    Ok(())
}

/// Claude Code ships its native binary in a per-platform package and puts it in place with its
/// own install script, which npm 11 may not run (install scripts need approval there).
fn place_native_binary(agent: &Agent, prefix: &Path) -> Result<()> {
    let script = prefix.join("lib/node_modules").join(agent.package).join("install.cjs");
    if !script.exists() {
        return Ok(());
    }
    cmd::run(
        Command::new("node")
            .arg(&script)
            .current_dir(script.parent().unwrap_or(prefix)),
    )
}

fn list() {
    for agent in &AGENTS {
        let state = if agent.is_installed() { "installed" } else { "missing" };
        println!(
            "{:<7} {:<26} {:<9} {:<9} {}",
            agent.name,
            agent.package,
            agent.version,
            state,
            agent.binary().display()
        );
    }
}
