//! `cargo xtask bench`: what the sensor costs, beside auditd, and how far it scales.
//!
//! - `workload`: the loops and load generator (`xtask __bench-workload`, built in release);
//! - `env`: the bench's temporary directory, pinned binaries, cgroup and daemon configuration;
//! - `sensor`: running the daemon or `watch`, reading its totals and alerts; `procfs`: CPU and
//!   memory of processes; `auditd`: installing, configuring and cleaning up auditd;
//! - `engine`: criterion engine throughput and heap per process and session (sensor/benches);
//! - `variants`: launching a workload with no sensor, untracked, tracked (alerts only) or tracked
//!   with the audit trail, and their rotating order;
//! - `overhead`: the syscall loops in each variant; `realistic`: builds, tests, git, copying,
//!   reading and processes in each variant; `load`: the load test;
//! - `report`: the table on the terminal and docs/benchmarks.md; `stats`, `machine`: helpers.

mod auditd;
mod engine;
pub(crate) mod env;
pub mod lab;
mod load;
mod machine;
mod overhead;
mod previous;
mod procfs;
mod realistic;
mod report;
mod report_engine;
mod report_notes;
mod report_overhead;
mod report_realistic;
mod sensor;
pub mod soak;
mod stats;
mod targets;
mod variants;
pub mod workload;

use std::{
    fs,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::{
    cmd::{self, workspace},
    setup,
};

#[derive(Debug, Args)]
pub struct Options {
    /// A short smoke run (a few minutes); its report goes to target/bench/, not docs/.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the report. Default: docs/benchmarks.md; with --quick
    /// target/bench/benchmarks-quick.md, with --only target/bench/benchmarks-partial.md, and
    /// target/bench/benchmarks-failed.md when a part failed.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Skip setup and the builds of the sensor and the workload: use target/release as it is
    /// (the engine's benches are still built when stale).
    #[arg(long)]
    pub no_build: bool,
    /// Leave auditd out.
    #[arg(long)]
    pub no_auditd: bool,
    /// Run only these parts (repeatable). Default: all.
    #[arg(long = "only", value_enum)]
    pub only: Vec<Part>,
    /// Measure in the kernel lab instead: boot each lab kernel in QEMU with the release sensor,
    /// run the micro loops and the realistic work that needs no compiler inside, and write
    /// docs/benchmarks-lab.md (with --quick, target/bench/benchmarks-lab-quick.md).
    #[arg(long)]
    pub lab: bool,
    /// With --lab: a kernel version to boot (repeatable): 6.1, 6.12. Default: both.
    #[arg(long = "kernel", value_name = "VERSION", requires = "lab")]
    pub kernels: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Engine,
    Overhead,
    Realistic,
    Load,
}

/// How long and how often things are measured.
#[derive(Clone, Debug)]
pub struct Settings {
    pub quick: bool,
    /// Rounds of the overhead variants (each variant runs once per round).
    pub rounds: usize,
    /// Seconds of the calibration run of each loop.
    pub calibrate_seconds: f64,
    /// Target seconds of each loop with no sensor (iterations are fixed from the calibration).
    pub loop_seconds: f64,
    /// A loop stops after this many seconds even if unfinished.
    pub loop_limit_seconds: f64,
    /// Seconds of each load phase.
    pub load_seconds: f64,
    /// Rounds of the realistic work (each sensor variant once per round, in rotating order).
    pub realistic_rounds: usize,
    /// Pause before and after each timed piece of realistic work.
    pub realistic_pause_ms: u64,
    pub realistic_scale: realistic::Scale,
    pub criterion_warm_up: f64,
    pub criterion_measurement: f64,
}

impl Settings {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                rounds: 1,
                calibrate_seconds: 0.2,
                loop_seconds: 0.25,
                loop_limit_seconds: 3.0,
                load_seconds: 3.0,
                realistic_rounds: 1,
                realistic_pause_ms: 100,
                realistic_scale: realistic::Scale::small(),
                criterion_warm_up: 0.5,
                criterion_measurement: 1.0,
            }
        } else {
            Self {
                quick,
                // Four variants in phase 1: four rounds put each in each slot once. The loops take
                // about five minutes and the realistic work about as long again.
                rounds: 4,
                calibrate_seconds: 0.3,
                loop_seconds: 0.5,
                loop_limit_seconds: 3.0,
                load_seconds: 30.0,
                // Four variants: four rounds put each in each slot once.
                realistic_rounds: 4,
                realistic_pause_ms: 300,
                realistic_scale: realistic::Scale::full(),
                criterion_warm_up: 1.0,
                criterion_measurement: 5.0,
            }
        }
    }
}

/// A part's result: measured, failed (with the error), or not run.
pub enum Outcome<T> {
    Measured(T),
    Failed(String),
    Skipped,
}

impl<T> Outcome<T> {
    fn from(result: Result<T>) -> Self {
        match result {
            Ok(value) => Outcome::Measured(value),
            Err(error) => {
                eprintln!("bench: failed: {error:#}");
                Outcome::Failed(format!("{error:#}"))
            }
        }
    }

    pub fn measured(&self) -> Option<&T> {
        match self {
            Outcome::Measured(value) => Some(value),
            _ => None,
        }
    }

    /// The figures, or `None` after writing to the report why there are none.
    pub fn measured_or_say_why(&self, out: &mut String) -> Option<&T> {
        use std::fmt::Write as _;
        match self {
            Outcome::Measured(value) => Some(value),
            Outcome::Failed(error) => {
                let _ = writeln!(out, "**Not measured**: {error}\n");
                None
            }
            Outcome::Skipped => {
                let _ = writeln!(out, "Not run this time.\n");
                None
            }
        }
    }
}

pub struct Results {
    pub machine: machine::Machine,
    pub settings: Settings,
    pub engine: Outcome<engine::Engine>,
    pub overhead: Outcome<overhead::Overhead>,
    pub realistic: Outcome<realistic::Realistic>,
    pub load: Outcome<Vec<load::LoadPhase>>,
    /// What an idle `watch` keeps resident (measured with the load).
    pub idle_memory: Outcome<load::IdleMemory>,
    pub load_average: (f64, f64),
    /// Wall time of the measurements, and of the whole command (with setup and builds).
    pub measuring: Duration,
    pub total: Duration,
    /// The standing of the report this run replaces (set when the report is written).
    pub previous: Option<previous::Previous>,
}

/// `cargo build --release` with `args` (packages and targets), in the workspace.
fn build_release(args: &[&str]) -> Result<()> {
    cmd::run(
        Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args(["build", "--release"])
            .args(args),
    )
}

pub fn run(options: &Options) -> Result<()> {
    if options.lab {
        return lab::run(options);
    }
    let started = Instant::now();
    if !cmd::is_root() {
        bail!(
            "the bench loads eBPF programs, runs auditd and creates cgroups: run it as root \
             (for example `sudo -E cargo xtask bench`)"
        );
    }
    let settings = Settings::new(options.quick);
    let wants = |part: Part| options.only.is_empty() || options.only.contains(&part);
    // The sensor and the engine's benches build in one cargo run; the workload is this crate,
    // built in release.
    let bin_dir = tempfile::Builder::new()
        .prefix("agent-sensor-bench-bin.")
        .tempdir()
        .context("creating a directory for the bench binaries")?;
    if !options.no_build {
        setup::run()?;
        build_release(&["--package", "xtask"])?;
    }
    let benches = if wants(Part::Engine) {
        // Building the sensor is not optional; with --no-build only the benches are built, and
        // a failure there is the engine part's alone.
        let built = engine::build(bin_dir.path(), !options.no_build);
        Some(if options.no_build { built } else { Ok(built?) })
    } else {
        if !options.no_build {
            build_release(&["--package", "agent-sensor", "--bin", "agent-sensor"])?;
        }
        None
    };
    let env = env::Env::create()?;
    let audit = if options.no_auditd {
        Err("left out (--no-auditd)".to_string())
    } else if wants(Part::Overhead) {
        auditd::prepare()
    } else {
        Err("not run".to_string())
    };

    let measuring = Instant::now();
    let load_before = machine::load_average();
    let mut machine = machine::describe();
    (machine.probed, machine.bpf_lsm_problem) = machine::probe(&env.sensor);
    let timed = |part: &str, stage: Instant| {
        eprintln!("bench: {part} took {:.0} s", stage.elapsed().as_secs_f64());
    };
    let stage = Instant::now();
    let engine = match benches {
        None => Outcome::Skipped,
        Some(built) => {
            eprintln!("bench: engine throughput and memory");
            let measured = Outcome::from(built.and_then(|binaries| engine::measure(&binaries, &settings, &env.root)));
            timed("the engine", stage);
            measured
        }
    };
    let stage = Instant::now();
    let overhead = if wants(Part::Overhead) {
        let measured = Outcome::from(overhead::measure(&env, &settings, audit));
        timed("the overhead", stage);
        measured
    } else {
        Outcome::Skipped
    };
    let stage = Instant::now();
    let realistic = if wants(Part::Realistic) {
        let plan = realistic::Plan {
            pieces: realistic::Piece::ALL.to_vec(),
            scale: settings.realistic_scale,
            sources: realistic::Sources::host(),
            rounds: settings.realistic_rounds,
            pause_ms: settings.realistic_pause_ms,
        };
        let measured = Outcome::from(realistic::measure(&env, &plan, &env::target_dir().join("bench")));
        timed("the realistic work", stage);
        measured
    } else {
        Outcome::Skipped
    };
    let stage = Instant::now();
    let (load, idle_memory) = if wants(Part::Load) {
        let idle = Outcome::from(load::idle_memory(&env));
        let measured = Outcome::from(load::measure(&env, &settings));
        timed("the load", stage);
        (measured, idle)
    } else {
        (Outcome::Skipped, Outcome::Skipped)
    };
    let results = Results {
        machine,
        settings,
        engine,
        overhead,
        realistic,
        load,
        idle_memory,
        load_average: (load_before, machine::load_average()),
        measuring: measuring.elapsed(),
        total: started.elapsed(),
        previous: None,
    };
    drop(env);

    println!("{}", report::text(&results));
    let failed = [
        matches!(results.engine, Outcome::Failed(_)),
        matches!(results.overhead, Outcome::Failed(_)),
        matches!(results.realistic, Outcome::Failed(_)),
        matches!(results.load, Outcome::Failed(_)),
    ]
    .contains(&true);
    let bench_dir = env::target_dir().join("bench");
    let output = match (&options.output, failed, options.quick, options.only.is_empty()) {
        (_, true, _, _) => bench_dir.join("benchmarks-failed.md"),
        (Some(path), _, _, _) => path.clone(),
        (None, _, true, _) => bench_dir.join("benchmarks-quick.md"),
        (None, _, _, false) => bench_dir.join("benchmarks-partial.md"),
        (None, _, false, true) => workspace().join("docs/benchmarks.md"),
    };
    if let Some(parent) = output.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let results = Results {
        previous: previous::read(&output),
        ..results
    };
    fs::write(&output, report::markdown(&results)).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "bench: report written to {} ({:.1} min in all, {:.1} min measuring)",
        output.display(),
        results.total.as_secs_f64() / 60.0,
        results.measuring.as_secs_f64() / 60.0
    );
    if failed {
        bail!("some parts of the bench failed (see above); docs/benchmarks.md was left alone");
    }
    Ok(())
}
