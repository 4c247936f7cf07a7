//! The arguments of `agent-sensor inventory` (run by `commands::inventory`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::StateArgs;
use crate::{inventory::report::Format, rules::Severity};

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Read agents' installs and settings (never running them) and report records and findings.
    Scan(Box<ScanArgs>),
    /// The OSV advisory database the scan matches installed versions against.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// Signature packs (YAML) that add poisoning phrases and key patterns.
    #[command(subcommand)]
    Signatures(SignaturesCommand),
}

#[derive(Debug, Subcommand)]
pub enum SignaturesCommand {
    /// Check packs; every problem with its file, line and column.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Check an OSV file (one advisory or an array) and copy it into the database
    /// (`<state_dir>/inventory/advisories/`).
    Import {
        file: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Scan this user's home (name or uid; repeatable). Default: the current user.
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Scan root's and every regular account's home.
    #[arg(long)]
    pub all_users: bool,
    /// Scan a directory as a home (a mounted image, a fixture); its owner is the user (repeatable).
    #[arg(long = "home", value_name = "DIR")]
    pub homes: Vec<PathBuf>,
    /// Also scan a project (workspace) directory: .mcp.json, .claude/, AGENTS.md, .env… (repeatable).
    #[arg(long = "project", value_name = "DIR")]
    pub projects: Vec<PathBuf>,
    /// Output form. Default: `table` on a terminal, else `jsonl`.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where to write: a file, or `-` for standard output.
    #[arg(long, short, value_name = "PATH", default_value = "-")]
    pub output: String,
    /// Also send records (as events) and findings (as alerts) through the configuration's outputs.
    #[arg(long)]
    pub send: bool,
    /// Exit with status 3 when a finding is at least this severe (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// An extra npm global prefix to look for agents in (its `lib/node_modules`; repeatable).
    #[arg(long = "prefix", value_name = "DIR")]
    pub prefixes: Vec<PathBuf>,
    /// A model endpoint host that is not a finding (`.corp.example` for subdomains; repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// OSV advisories (a file or directory). Default: `<state_dir>/inventory/advisories` when present.
    #[arg(long, value_name = "PATH")]
    pub advisories: Option<PathBuf>,
    /// A signature pack adding poisoning phrases and key patterns (repeatable; docs/inventory.md).
    #[arg(long = "signatures", value_name = "FILE")]
    pub signatures: Vec<PathBuf>,
    /// Where /etc, /usr and /proc are (for scanning a mounted image).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Configuration file (YAML), for `outputs` and `state_dir`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("expected one of {}", Severity::NAMES.join(", ")))
}
