//! Engine throughput (criterion, `sensor/benches/engine.rs`) and userspace memory per process
//! and per session (`sensor/benches/memory.rs`). The bench binaries are built once, copied into
//! the bench's directory, and run directly.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Settings;
use crate::cmd::{self, workspace};

pub struct BenchBinaries {
    pub engine: PathBuf,
    pub memory: PathBuf,
}

/// Builds the two bench targets (with the sensor's binary when `with_sensor`: one cargo run, as
/// they share the release artifacts), and copies the benches to `dir`.
pub fn build(dir: &Path, with_sensor: bool) -> Result<BenchBinaries> {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace())
        .args(["build", "--release", "--package", "agent-sensor"]);
    if with_sensor {
        command.args(["--bin", "agent-sensor"]);
    }
    command
        .args([
            "--bench",
            "engine",
            "--bench",
            "memory",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit());
    eprintln!("+ {}", cmd::describe(&command));
    let out = command
        .output()
        .with_context(|| format!("running `{}`", cmd::describe(&command)))?;
    if !out.status.success() {
        bail!("building the sensor and its benches failed: {}", out.status);
    }
    let mut found = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let is_bench = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bench"));
        match message["target"]["name"].as_str() {
            Some("engine") if is_bench => found.0 = Some(PathBuf::from(executable)),
            Some("memory") if is_bench => found.1 = Some(PathBuf::from(executable)),
            _ => {}
        }
    }
    let (Some(engine), Some(memory)) = found else {
        bail!("cargo did not name the engine and memory bench executables");
    };
    let copy = |from: &Path, name: &str| -> Result<PathBuf> {
        let to = dir.join(name);
        fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
        Ok(to)
    };
    Ok(BenchBinaries {
        engine: copy(&engine, "bench-engine")?,
        memory: copy(&memory, "bench-memory")?,
    })
}

/// One criterion benchmark: events per iteration and time per iteration.
#[derive(Clone, Debug)]
pub struct Throughput {
    pub name: String,
    pub events_per_iteration: u64,
    pub median_ns: f64,
    pub low_ns: f64,
    pub high_ns: f64,
}

impl Throughput {
    pub fn events_per_second(&self) -> f64 {
        self.events_per_iteration as f64 * 1e9 / self.median_ns
    }
}

/// Heap kept per unit (`sensor/benches/memory.rs`).
#[derive(Clone, Debug, Default)]
pub struct Heap {
    pub count: u64,
    pub bytes: f64,
    pub blocks: f64,
    /// Heap still held after every process of the scenario exited.
    pub residual_bytes: i64,
}

impl Heap {
    fn parse(value: &Value) -> Self {
        Self {
            count: value["count"].as_u64().unwrap_or(0),
            bytes: value["bytes"].as_f64().unwrap_or(f64::NAN),
            blocks: value["blocks"].as_f64().unwrap_or(f64::NAN),
            residual_bytes: value["residual_bytes"].as_i64().unwrap_or(0),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Memory {
    pub process: Heap,
    pub session: Heap,
    /// Sessions that write a file (the engine's written-path memory).
    pub writing_session: Heap,
    /// How many sessions' written paths the engine keeps.
    pub max_write_sessions: u64,
}

pub struct Engine {
    pub throughput: Vec<Throughput>,
    pub memory: Memory,
}

pub fn measure(binaries: &BenchBinaries, settings: &Settings, dir: &Path) -> Result<Engine> {
    let criterion_home = dir.join("criterion");
    let mut command = Command::new(&binaries.engine);
    command
        .args(["--bench", "--noplot"])
        .args(["--warm-up-time", &settings.criterion_warm_up.to_string()])
        .args(["--measurement-time", &settings.criterion_measurement.to_string()])
        .env("CRITERION_HOME", &criterion_home)
        .current_dir(dir);
    cmd::run(&mut command)?;
    let throughput = read_criterion(&criterion_home.join("engine"))?;

    let out = Command::new(&binaries.memory)
        .arg("--bench")
        .current_dir(dir)
        .output()
        .context("running the memory bench")?;
    if !out.status.success() {
        bail!(
            "the memory bench failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("agent-sensor-memory "))
        .context("the memory bench printed no results")?;
    let value: Value = serde_json::from_str(line).context("parsing the memory bench's results")?;
    let memory = Memory {
        process: Heap::parse(&value["process"]),
        session: Heap::parse(&value["session"]),
        writing_session: Heap::parse(&value["writing_session"]),
        max_write_sessions: value["max_write_sessions"].as_u64().unwrap_or(0),
    };
    Ok(Engine { throughput, memory })
}

/// Reads `<group>/<function>/new/{benchmark,estimates}.json` for every function of the group.
fn read_criterion(group: &Path) -> Result<Vec<Throughput>> {
    let mut results = Vec::new();
    let entries = fs::read_dir(group).with_context(|| format!("reading {}", group.display()))?;
    for entry in entries.flatten() {
        let new = entry.path().join("new");
        let (Ok(benchmark), Ok(estimates)) = (
            fs::read_to_string(new.join("benchmark.json")),
            fs::read_to_string(new.join("estimates.json")),
        ) else {
            continue;
        };
        let benchmark: Value = serde_json::from_str(&benchmark).context("parsing criterion's benchmark.json")?;
        let estimates: Value = serde_json::from_str(&estimates).context("parsing criterion's estimates.json")?;
        let median = &estimates["median"];
        results.push(Throughput {
            name: benchmark["function_id"].as_str().unwrap_or("?").to_string(),
            events_per_iteration: benchmark["throughput"]["Elements"].as_u64().unwrap_or(1),
            median_ns: median["point_estimate"].as_f64().unwrap_or(f64::NAN),
            low_ns: median["confidence_interval"]["lower_bound"]
                .as_f64()
                .unwrap_or(f64::NAN),
            high_ns: median["confidence_interval"]["upper_bound"]
                .as_f64()
                .unwrap_or(f64::NAN),
        });
    }
    if results.is_empty() {
        bail!("criterion wrote no results under {}", group.display());
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(results)
}
