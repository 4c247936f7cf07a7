//! Command-line interface.

use std::{ffi::OsString, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::enforce::Mode;

pub mod inventory;

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
    /// Write alerts as JSON lines: a file, or `-` for standard output. Default: standard output,
    /// unless the configuration's `outputs:` take alerts.
    #[arg(long, value_name = "PATH")]
    pub alerts: Option<String>,
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
    /// The daemon's control socket (`run` listens on it, `watch` registers with the daemon
    /// there). Default: the configuration's `control.socket`.
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
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
        /// What happens to processes COMMAND leaves running in its session when it exits (a
        /// daemonised child, `nohup … &`): `wait` keeps recording them until they exit (Ctrl-C or
        /// SIGTERM then kills them), `kill` kills them at once.
        #[arg(long, value_enum, default_value = "wait")]
        on_exit: OnExit,
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
    /// Show what the running daemon is doing: sessions, rule packs, enforcement backends,
    /// counters (asks its control socket; needs root).
    Status {
        /// The daemon's control socket. Default: the configuration's `control.socket`.
        #[arg(long, value_name = "PATH")]
        control_socket: Option<PathBuf>,
        /// Configuration file (YAML), for `control.socket`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Agent sessions: list them; freeze, thaw or kill one. Goes through the running daemon, or,
    /// when none answers, acts on the session's cgroup directly (needs root).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Rule pack tools for rule authors.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Behavioural baselines of agent profiles: show, reset, export, import (docs/baselines.md).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Inventory of AI agents, skills, MCP servers and settings, with findings (docs/inventory.md).
    #[command(subcommand)]
    Inventory(inventory::InventoryCommand),
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
        /// The configuration the live run used (rules, Sigma pack, DNS resolvers, alert
        /// folding); default: the one `run` reads, or the built-in one.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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

/// What `watch` does with processes COMMAND leaves running when it exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnExit {
    /// Keep recording them until they exit; a second Ctrl-C or SIGTERM kills them.
    Wait,
    /// Kill them (`cgroup.kill`) as soon as COMMAND exits.
    Kill,
}

/// How `session` finds the daemon.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The daemon's control socket. Default: the configuration's `control.socket`.
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Configuration file (YAML), for `control.socket`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// The sessions: the daemon's (and the `watch` sessions registered with it), or, without a
    /// daemon, the session cgroups on this machine.
    List {
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Stop every process of a session where it stands (cgroup v2 freezer) until thawed or killed.
    Freeze {
        /// The session id (`gen_ai.agent.id`), or a prefix that names one session.
        id: String,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Let a frozen session run again.
    Thaw {
        /// The session id (`gen_ai.agent.id`), or a prefix that names one session.
        id: String,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Kill every process of a session (frozen first, so none can fork away, then `cgroup.kill`).
    Kill {
        /// The session id (`gen_ai.agent.id`), or a prefix that names one session.
        id: String,
        #[command(flatten)]
        control: ControlArgs,
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
    /// Print the MITRE ATT&CK coverage map of packs: each technique named in `mitre:`, the rules
    /// that name it, their action and which backend can prevent it.
    Coverage {
        /// Pack files or directories; default: the shipped packs (rules/default).
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: CoverageFormat,
        /// Rewrite the generated section (between its marker comments) of this Markdown file,
        /// e.g. docs/coverage.md, instead of printing.
        #[arg(long, value_name = "FILE", conflicts_with = "format")]
        write: Option<PathBuf>,
    },
}

/// The form of `rules coverage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CoverageFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and what it names (profiles, rule packs, outputs) without
    /// starting the sensor; every problem names its file and line.
    Check {
        /// The file; default /etc/agent-sensor/config.yaml (built-in defaults when absent).
        config: Option<PathBuf>,
    },
}

/// Where `baseline` finds the baselines.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state directory (baselines are in its `baselines/`). Default: `AGENT_SENSOR_STATE_DIR`,
    /// else the configuration's `state_dir`, else /var/lib/agent-sensor.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Configuration file (YAML), for `state_dir`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The form of an exported baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineFormat {
    /// Pretty-printed JSON (readable, editable).
    Json,
    /// MessagePack, as the sensor stores it.
    Rmp,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Summarise one profile's baseline, or list every stored profile.
    Show {
        /// The profile (agent name); all when absent.
        name: Option<String>,
        /// Everything learned, as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Forget a profile's baseline so that it learns afresh (refused while a sensor runs).
    Reset {
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Write a profile's baseline to a file or standard output.
    Export {
        name: String,
        /// Where to write; standard output when absent.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "json")]
        format: BaselineFormat,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Replace a profile's baseline with an exported one, JSON or MessagePack (refused while a
    /// sensor runs).
    Import {
        name: String,
        /// The export to read.
        file: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
}
