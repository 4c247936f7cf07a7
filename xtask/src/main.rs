//! Project tasks. `cargo xtask setup` installs what building needs; `run` starts the daemon with
//! the default configuration; `test` runs every check and test CI runs; `vm-test` runs end-to-end
//! tests under Debian kernels with BPF LSM in QEMU.

mod cmd;
mod setup;
mod tasks;
mod vm;

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
    /// Set up, then run formatting and lint checks, unit tests and end-to-end tests, here and
    /// under Debian kernels with BPF LSM (`vm-test`).
    Test,
    /// Run an end-to-end test target under Debian cloud kernels with BPF LSM enabled, in QEMU.
    /// Installs QEMU and busybox and downloads the kernels (cached) when missing.
    VmTest {
        /// A kernel version to boot (repeatable): 6.1, 6.12. Default: both.
        #[arg(long = "kernel", value_name = "VERSION")]
        kernels: Vec<String>,
        /// The end-to-end test target (tests/NAME.rs) to run.
        #[arg(long, value_name = "NAME", default_value = vm::DEFAULT_TEST)]
        test: String,
        /// Arguments passed to the test binary, e.g. a test name filter.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Build => tasks::build(),
        Task::Run { args } => tasks::run_sensor(&args),
        Task::Test => tasks::test(),
        Task::VmTest { kernels, test, args } => tasks::vm_test(&vm::Options { kernels, test, args }),
    }
}
