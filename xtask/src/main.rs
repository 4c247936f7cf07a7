//! Project tasks. `cargo xtask setup` installs what building needs; `run` starts the daemon with
//! the default configuration; `test` runs every check and test CI runs.

mod cmd;
mod setup;
mod tasks;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Agent Sensor project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building and testing need (rust-src, bpf-linker) and mount tracefs, securityfs
    /// and bpffs when they are absent. Fast when everything is there.
    Setup,
    /// Set up, then build the sensor (release).
    Build,
    /// Set up, build, and run the daemon with the default configuration (as root).
    Run {
        /// Arguments passed to `agent-sensor run`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, then run formatting and lint checks, unit tests and end-to-end tests.
    Test,
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Build => tasks::build(),
        Task::Run { args } => tasks::run_sensor(&args),
        Task::Test => tasks::test(),
    }
}
