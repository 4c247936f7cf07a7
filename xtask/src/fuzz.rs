//! `cargo xtask fuzz`: runs the coverage-guided fuzz targets of `fuzz/` (cargo-fuzz, libFuzzer,
//! with AddressSanitizer on nightly) for a while each, several at once, and prints per target
//! how long it ran, how many inputs it tried and whether it crashed. Crashes are kept under
//! `fuzz/artifacts/TARGET/` (reproduce with `cargo +nightly fuzz run TARGET FILE`); the corpus
//! grows under `fuzz/corpus/TARGET/`. Installs cargo-fuzz into the project's tools directory
//! when it is missing.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::{
    cmd::{self, output, workspace},
    setup::tools_dir,
};

const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The targets, each a parser of input the sensor does not control.
pub const TARGETS: [&str; 7] = [
    "ring_record",
    "rule_pack",
    "sigma_rule",
    "config",
    "baseline_state",
    "spool_segment",
    "control_request",
];

#[derive(Args, Debug)]
pub struct FuzzOptions {
    /// Targets to run (default: all of them).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// How long each target runs.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// How many targets run at once (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(options: &FuzzOptions) -> Result<()> {
    let targets: Vec<String> = if options.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        options.targets.clone()
    };
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!("no fuzz target `{unknown}`; the targets are {}", TARGETS.join(", "));
    }
    let cargo_fuzz = ensure_cargo_fuzz()?;
    let dir = workspace();
    eprintln!("building the fuzz targets (nightly, AddressSanitizer)");
    cmd::run(fuzz_command(&cargo_fuzz, &dir).args(["build", "-O"]))?;
    let jobs = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let seconds = options.minutes * 60;
    let mut results = Vec::new();
    for batch in targets.chunks(jobs) {
        let running: Vec<(String, Child, PathBuf, Instant)> = batch
            .iter()
            .map(|target| {
                start(&cargo_fuzz, &dir, target, seconds)
                    .map(|(child, log)| (target.clone(), child, log, Instant::now()))
            })
            .collect::<Result<_>>()?;
        for (target, mut child, log, started) in running {
            let status = child
                .wait()
                .with_context(|| format!("waiting for the fuzzer of {target}"))?;
            results.push(Outcome::read(&target, status.success(), started.elapsed(), &log, &dir));
        }
    }
    println!("| target | ran | inputs tried | result |");
    println!("|---|---|---|---|");
    for outcome in &results {
        println!("{}", outcome.row());
    }
    let crashed: Vec<&str> = results
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzz targets crashed: {} (inputs under fuzz/artifacts/)",
            crashed.join(", ")
        );
    }
    Ok(())
}

fn fuzz_command(cargo_fuzz: &Path, dir: &Path) -> Command {
    let mut command = Command::new(cargo_fuzz);
    command.current_dir(dir).arg("fuzz").env("RUSTUP_TOOLCHAIN", "nightly");
    // What `cargo run` sets for xtask itself: build scripts that watch such variables (ring
    // watches CARGO_PKG_*) would be rebuilt every time from under `cargo xtask`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// Starts one target for `seconds`, its output to `fuzz/logs/TARGET.log`.
fn start(cargo_fuzz: &Path, dir: &Path, target: &str, seconds: u64) -> Result<(Child, PathBuf)> {
    let logs = dir.join("fuzz/logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join(format!("{target}.log"));
    let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = fuzz_command(cargo_fuzz, dir)
        .args(["run", "-O", target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-max_len=65536")
        .arg("-rss_limit_mb=4096")
        .stdout(Stdio::null())
        .stderr(file.try_clone().context("duplicating the log file")?)
        .spawn()
        .with_context(|| format!("starting the fuzzer of {target}"))?;
    eprintln!("fuzzing {target} for {} s (log: {})", seconds, log.display());
    Ok((child, log))
}

struct Outcome {
    target: String,
    passed: bool,
    ran: Duration,
    inputs: Option<u64>,
    artifacts: usize,
}

impl Outcome {
    fn read(target: &str, passed: bool, ran: Duration, log: &Path, dir: &Path) -> Self {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // libFuzzer's last line: "Done N runs in S second(s)".
        let inputs = text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("Done ")?.split_whitespace().next()?.parse().ok());
        let artifacts = std::fs::read_dir(dir.join("fuzz/artifacts").join(target)).map_or(0, |entries| entries.count());
        Self {
            target: target.to_string(),
            passed,
            ran,
            inputs,
            artifacts,
        }
    }

    fn row(&self) -> String {
        let result = if self.passed {
            "no crash".to_string()
        } else {
            format!("CRASH ({} inputs kept)", self.artifacts)
        };
        let inputs = self.inputs.map_or_else(|| "?".to_string(), |n| n.to_string());
        format!(
            "| {} | {:.0} min | {inputs} | {result} |",
            self.target,
            self.ran.as_secs_f64() / 60.0
        )
    }
}

/// cargo-fuzz in the tools directory, installed when missing.
fn ensure_cargo_fuzz() -> Result<PathBuf> {
    let prefix = tools_dir().join("cargo-fuzz");
    let binary = prefix.join("bin/cargo-fuzz");
    let version = output(Command::new(&binary).arg("--version")).unwrap_or_default();
    if version.contains(CARGO_FUZZ_VERSION) {
        return Ok(binary);
    }
    eprintln!("installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    cmd::run(
        Command::new("cargo")
            .args(["install", "--locked", "--force", "--root"])
            .arg(&prefix)
            .args(["cargo-fuzz", "--version", CARGO_FUZZ_VERSION]),
    )?;
    Ok(binary)
}
