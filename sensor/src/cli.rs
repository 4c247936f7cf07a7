//! Command-line interface.

use std::{ffi::OsString, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::enforce::Mode;

#[derive(Debug, Parser)]
#[command(
    name = "agent-sensor",
    version,
    about = "eBPF runtime detection and enforcement for AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where events and alerts go, and which rules apply.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write every event (the audit trail) as JSON lines: a file, or `-` for standard output.
    #[arg(long, value_name = "PATH")]
    pub events: Option<String>,
    /// Write alerts as JSON lines: a file, or `-` for standard output.
    #[arg(long, value_name = "PATH", default_value = "-")]
    pub alerts: String,
    /// Rule pack file or directory (repeatable); default: the shipped packs.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Configuration file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What deny, kill and kill-tree rules do: `monitor` reports what would have been done,
    /// `enforce` does it. Default: the configuration's `enforcement.mode` (monitor).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run COMMAND as a tracked agent session in its own cgroup and watch its process tree.
    Watch {
        #[command(flatten)]
        output: OutputArgs,
        /// Agent name of the session (`gen_ai.agent.name`); defaults to COMMAND's name.
        #[arg(long)]
        name: Option<String>,
        /// Run COMMAND as this user (uid, groups, HOME), as agents run on a workstation.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// The agent command and its arguments.
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Run the sensor daemon: agent profiles decide what is tracked.
    Run {
        #[command(flatten)]
        output: OutputArgs,
        /// Also track this running process and its descendants as an agent session (repeatable).
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<u32>,
        /// Agent name for the `--pid` sessions; defaults to the matching profile or the program name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show what this machine lets the sensor do: which backend enforces each operation, and why
    /// the stronger ones are unavailable (loads the kernel programs; needs root).
    Probe {
        /// Configuration file (YAML), for `enforcement.lsm`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Rule pack tools for rule authors.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run recorded events (the JSON lines `--events` writes) through rule packs.
    Replay {
        /// The recording.
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// Rule pack file or directory (repeatable); default: the shipped packs.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Where to write alerts: a file, or `-` for standard output.
        #[arg(long, value_name = "PATH", default_value = "-")]
        alerts: String,
    },
    /// Internal: the trampoline `watch` starts COMMAND through.
    #[command(name = "__session-exec", hide = true)]
    SessionExec {
        #[arg(long)]
        control_fd: i32,
        #[arg(long)]
        uid: Option<u32>,
        #[arg(long)]
        gid: Option<u32>,
        #[arg(long, value_delimiter = ',')]
        groups: Vec<u32>,
        #[arg(required = true, last = true)]
        command: Vec<OsString>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule packs; report every error with file, line and column.
    Check {
        /// Pack files or directories; default: the shipped packs.
        paths: Vec<PathBuf>,
    },
    /// Run the test cases kept beside packs (`*.tests.yaml`).
    Test {
        /// Pack files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}
