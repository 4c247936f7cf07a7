//! The workload side of the realistic work (`xtask __bench-workload realistic`): for each piece,
//! `reset.sh` (untimed), a pause, `run.sh` timed from spawn to exit, the same pause. Between the
//! two, it waits for the collectors (the sensor) to stop using CPU, as the micro loops do.
//! Results go to a JSON file: `{"pieces": {"c-build": seconds, …}}`.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::super::workload::settle;

#[derive(Debug, Args)]
pub struct RealisticArgs {
    /// The scratch directory holding one directory per piece (`reset.sh`, `run.sh`).
    #[arg(long)]
    dir: PathBuf,
    /// A piece to run (repeatable), in order.
    #[arg(long = "piece", required = true)]
    pieces: Vec<String>,
    /// Milliseconds of pause before and after each timed run.
    #[arg(long, default_value_t = 300)]
    pause_ms: u64,
    /// Where to write the results (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Move this process into this cgroup (its `cgroup.procs`) first.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// A collector process to wait for before and after each timed run (repeatable).
    #[arg(long = "collector-pid")]
    collector_pids: Vec<u32>,
    /// The parent process is a collector (the sensor, under `watch`).
    #[arg(long)]
    collector_parent: bool,
}

pub fn run(args: &RealisticArgs) -> Result<()> {
    if let Some(cgroup) = &args.cgroup {
        fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())
            .with_context(|| format!("moving into cgroup {}", cgroup.display()))?;
    }
    let mut collectors = args.collector_pids.clone();
    if args.collector_parent {
        collectors.push(std::os::unix::process::parent_id());
    }
    let pause = Duration::from_millis(args.pause_ms);
    let mut seconds = Map::new();
    for name in &args.pieces {
        let dir = args.dir.join(name);
        script(&dir, "reset.sh")?;
        settle(&collectors);
        thread::sleep(pause);
        let elapsed = script(&dir, "run.sh")?;
        settle(&collectors);
        thread::sleep(pause);
        seconds.insert(name.clone(), json!(elapsed.as_secs_f64()));
    }
    let text = serde_json::to_string(&json!({ "pieces": Value::Object(seconds) }))
        .context("serializing the realistic results")?;
    fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))
}

/// Runs `sh NAME` in `dir`, output to `NAME.log` there; returns the time from spawn to exit.
fn script(dir: &Path, name: &str) -> Result<Duration> {
    let log_path = dir.join(format!("{name}.log"));
    let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let errors = log
        .try_clone()
        .with_context(|| format!("duplicating {}", log_path.display()))?;
    let mut command = Command::new("sh");
    command
        .arg(dir.join(name))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(errors);
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("running {}", dir.join(name).display()))?;
    let elapsed = started.elapsed();
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        bail!(
            "{} failed ({status}); its output ends with:\n{}",
            dir.join(name).display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(elapsed)
}

/// Reads the runner's results: seconds per piece.
pub fn read(path: &Path) -> Result<Vec<(String, f64)>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let pieces = value["pieces"]
        .as_object()
        .context("the realistic results have no pieces")?;
    Ok(pieces
        .iter()
        .map(|(name, seconds)| (name.clone(), seconds.as_f64().unwrap_or(f64::NAN)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{
        super::pieces::{self, Piece, Scale, Sources},
        *,
    };

    /// Every piece, for real, at a small scale: the scripts run, reset and run again.
    #[test]
    fn every_piece_runs() {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let workspace = crate::cmd::workspace();
        let sources = Sources {
            tree: workspace.join("rules"),
            checkout: workspace,
            python: pieces::python(),
        };
        let scale = Scale {
            c_files: 3,
            c_functions: 1,
            rust_modules: 8,
            rust_items: 1,
            python_modules: 2,
            python_tests_per_module: 10,
            git_seconds: 0.0,
            copies: 2,
            processes: 8,
        };
        let prepared = pieces::prepare(scratch.path(), &sources, &scale, &Piece::ALL).expect("pieces prepared");
        assert_eq!(prepared.len(), Piece::ALL.len());
        let out = scratch.path().join("out.json");
        let args = RealisticArgs {
            dir: scratch.path().to_path_buf(),
            pieces: Piece::ALL.iter().map(|piece| piece.name().to_string()).collect(),
            pause_ms: 0,
            out: out.clone(),
            cgroup: None,
            collector_pids: Vec::new(),
            collector_parent: false,
        };
        for _ in 0..2 {
            run(&args).expect("every piece runs");
            let seconds = read(&out).expect("results");
            assert_eq!(seconds.len(), Piece::ALL.len());
            assert!(seconds.iter().all(|(_, seconds)| *seconds > 0.0), "{seconds:?}");
        }
        assert!(
            scratch.path().join("c-build/prog").is_file(),
            "the C program was linked"
        );
        assert!(
            scratch.path().join("rust-build/target/debug/bench-crate").is_file(),
            "the crate was built"
        );
        assert!(!scratch.path().join("copy/copy0").exists(), "the copies were deleted");
    }
}
