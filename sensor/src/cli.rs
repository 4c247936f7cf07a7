//! Command-line interface.

use std::{ffi::OsString, path::PathBuf};

use clap::{Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run COMMAND as a tracked agent session in its own cgroup and record its process tree.
    Watch {
        /// Where to write events as JSON lines: a file, or `-` for standard output.
        #[arg(long, value_name = "PATH", default_value = "-")]
        events: String,
        /// Configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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
        /// Configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where to write events as JSON lines: a file, or `-` for standard output.
        #[arg(long, value_name = "PATH", default_value = "-")]
        events: String,
        /// Also track this running process and its descendants as an agent session (repeatable).
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<u32>,
        /// Agent name for the `--pid` sessions; defaults to the matching profile or the program name.
        #[arg(long)]
        name: Option<String>,
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
