//! Project tasks. `cargo xtask setup` installs what building needs; `run` starts the daemon with
//! the default configuration; `test` runs every check and test CI runs; `vm-test` runs end-to-end
//! tests under Debian kernels with BPF LSM in QEMU; `bench` measures what the sensor costs;
//! `agents` installs the real agent CLIs the end-to-end tests drive.

mod agents;
mod bench;
mod cmd;
mod fuzz;
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
        /// A kernel version to boot (repeatable): 6.1, 6.12. Default: both, side by side.
        #[arg(long = "kernel", value_name = "VERSION")]
        kernels: Vec<String>,
        /// An end-to-end test target (tests/NAME.rs) to run (repeatable). Default: enforce,
        /// tamper, evasion, doors, egress and escape, the targets BPF LSM changes, and lifetime.
        #[arg(long = "test", value_name = "NAME")]
        tests: Vec<String>,
        /// Arguments passed to the test binary, e.g. a test name filter.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build the Debian package (systemd unit, config, docs) with cargo-deb, installing
    /// cargo-deb when missing; prints the .deb's path.
    Package,
    /// Measure what the sensor costs (realistic work, syscall overhead beside auditd, engine
    /// throughput, memory, load) and write docs/benchmarks.md; `--lab` measures under the kernel
    /// lab's kernels instead. As root; installs auditd when missing.
    Bench(bench::Options),
    /// Run the sensor under sustained load for a while (100,000 events/s from one tracked tree,
    /// alerts to a file and to an HTTP receiver that restarts) and print memory, descriptors,
    /// alerts lost and kernel drops over time. As root; not part of `test`.
    Soak(bench::soak::SoakOptions),
    /// Run the coverage-guided fuzz targets (fuzz/: ring records, rule packs, Sigma rules, the
    /// configuration, baseline state, spool segments, control requests) for a while each;
    /// installs cargo-fuzz when missing. Not part of `test`.
    Fuzz(fuzz::FuzzOptions),
    /// Install (pinned, from the npm registry) the coding agent CLIs the end-to-end tests drive:
    /// Claude Code, Codex, Gemini CLI, Qwen Code.
    Agents {
        #[command(subcommand)]
        action: agents::Action,
    },
    /// Internal: the workload the bench measures (loops, load generator).
    #[command(name = "__bench-workload", hide = true)]
    BenchWorkload(bench::workload::WorkloadArgs),
    /// Internal: the bench inside a kernel lab guest (`bench --lab`).
    #[command(name = "__bench-lab-guest", hide = true)]
    BenchLabGuest(bench::lab::guest::GuestArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Build => tasks::build(),
        Task::Run { args } => tasks::run_sensor(&args),
        Task::Test => tasks::test(),
        Task::VmTest { kernels, tests, args } => tasks::vm_test(&vm::Options { kernels, tests, args }),
        Task::Package => tasks::package(),
        Task::Bench(options) => bench::run(&options),
        Task::Soak(options) => bench::soak::run(&options),
        Task::Fuzz(options) => fuzz::run(&options),
        Task::Agents { action } => agents::run(&action),
        Task::BenchWorkload(args) => bench::workload::run(args),
        Task::BenchLabGuest(args) => bench::lab::guest::run(args),
    }
}
