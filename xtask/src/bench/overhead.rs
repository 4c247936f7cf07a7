//! Syscall overhead: the same loops with no sensor, beside the daemon (untracked), inside a
//! `watch` session (tracked), and under auditd, alternated round after round.
//!
//! Enabling audit leaves a cost on every process started afterwards (the kernel gives each new
//! task an audit context once audit has ever been enabled), so the auditd comparison runs in a
//! second phase, alternating with its own no-sensor runs: phase 1 compares none, untracked and
//! tracked before audit is touched; phase 2 compares none and auditd.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{
    Settings,
    auditd::{self, Prepared},
    env::Env,
    procfs,
    sensor::Totals,
    stats::Spread,
    variants::{self, Launched, SENSOR_VARIANTS, Variant},
    workload::Loop,
};

/// One loop in one run.
#[derive(Clone, Debug)]
pub struct LoopRun {
    pub kind: Loop,
    pub ns_per_op: f64,
    /// Whether all iterations ran (else the loop hit its time limit).
    pub completed: bool,
    /// CPU time of the collector (sensor, or auditd and kauditd) per operation.
    pub collector_ns_per_op: Option<f64>,
    /// Run time of the sensor's kernel programs per operation (only in the attribution runs,
    /// with `kernel.bpf_stats_enabled`).
    pub bpf_ns_per_op: Option<f64>,
}

/// One workload process: every loop, once, in one variant.
#[derive(Clone, Debug)]
pub struct Run {
    pub phase: u8,
    pub round: usize,
    pub variant: Variant,
    pub loops: Vec<LoopRun>,
    pub totals: Option<Totals>,
    /// Alerts the sensor raised during the run, by rule.
    pub alerts: std::collections::BTreeMap<String, u64>,
    /// Audit records the kernel lost during the run.
    pub audit_lost: Option<u64>,
}

impl Run {
    pub fn ns_per_op(&self, kind: Loop) -> Option<f64> {
        self.loops.iter().find(|run| run.kind == kind).map(|run| run.ns_per_op)
    }
}

/// What became of the auditd comparison.
pub enum AuditOutcome {
    /// Not measured, and why.
    Unavailable(String),
    Measured {
        prepared: Prepared,
        started_by_bench: bool,
        /// Verification: audit records found for a file the workload opened `expected` times.
        recorded: u64,
        expected: u64,
    },
}

pub struct Overhead {
    pub iterations: Vec<(Loop, u64)>,
    pub runs: Vec<Run>,
    /// One more untracked and one more tracked run with the kernel timing BPF programs: where
    /// the kernel's share of the overhead goes. Not part of the overhead figures (the timing
    /// itself costs a little).
    pub attribution: Result<Vec<Run>, String>,
    pub audit: AuditOutcome,
}

/// The summary of one loop in one variant.
pub struct Cell {
    pub ns_per_op: Spread,
    /// Paired with the no-sensor run of the same round and phase: variant / none.
    pub ratio: Option<Spread>,
    pub collector_ns_per_op: Option<f64>,
    pub incomplete: bool,
}

impl Overhead {
    pub fn cell(&self, kind: Loop, variant: Variant) -> Option<Cell> {
        let runs: Vec<&Run> = self.runs.iter().filter(|run| run.variant == variant).collect();
        let times: Vec<f64> = runs.iter().filter_map(|run| run.ns_per_op(kind)).collect();
        let ns_per_op = Spread::of(&times)?;
        let ratios: Vec<f64> = runs
            .iter()
            .filter_map(|run| {
                let base = self.runs.iter().find(|other| {
                    other.variant == Variant::None && other.phase == run.phase && other.round == run.round
                })?;
                Some(run.ns_per_op(kind)? / base.ns_per_op(kind)?)
            })
            .collect();
        let collector: Vec<f64> = runs
            .iter()
            .flat_map(|run| run.loops.iter().filter(|run| run.kind == kind))
            .filter_map(|run| run.collector_ns_per_op)
            .collect();
        let incomplete = runs
            .iter()
            .flat_map(|run| run.loops.iter().filter(|run| run.kind == kind))
            .any(|run| !run.completed);
        Some(Cell {
            ns_per_op,
            ratio: if variant == Variant::None {
                None
            } else {
                Spread::of(&ratios)
            },
            collector_ns_per_op: super::stats::median(&collector),
            incomplete,
        })
    }

    /// The no-sensor runs of one phase, as a spread of ns/op.
    pub fn baseline(&self, kind: Loop, phase: u8) -> Option<Spread> {
        let times: Vec<f64> = self
            .runs
            .iter()
            .filter(|run| run.variant == Variant::None && run.phase == phase)
            .filter_map(|run| run.ns_per_op(kind))
            .collect();
        Spread::of(&times)
    }

    /// Kernel ring-buffer losses over the tracked runs.
    pub fn tracked_drops(&self) -> (u64, u64) {
        self.runs
            .iter()
            .filter(|run| run.variant.is_tracked())
            .filter_map(|run| run.totals.as_ref())
            .fold((0, 0), |(dropped, emitted), totals| {
                (
                    dropped + totals.get("ring_buffer_full"),
                    emitted + totals.get("kernel_emitted"),
                )
            })
    }
}

pub fn measure(env: &Env, settings: &Settings, audit: Result<Prepared, String>) -> Result<Overhead> {
    let iterations = calibrate(env, settings)?;
    eprintln!(
        "bench: iterations per loop: {}",
        iterations
            .iter()
            .map(|(kind, count)| format!("{} {count}", kind.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runs = phase_one(env, settings, &iterations)?;
    let mut runs = runs;
    let attribution = attribute(env, settings, &iterations).map_err(|error| format!("{error:#}"));

    let audit = match audit {
        Err(reason) => AuditOutcome::Unavailable(reason),
        Ok(prepared) => match auditd_phase(env, settings, &iterations, &mut runs, prepared) {
            Ok(outcome) => outcome,
            Err(error) => AuditOutcome::Unavailable(format!("the auditd runs failed: {error:#}")),
        },
    };
    Ok(Overhead {
        iterations,
        runs,
        attribution,
        audit,
    })
}

/// The loops alone in the sensor's variants (no kernel program timing, no auditd): what the
/// kernel lab measures.
pub fn measure_sensor_variants(env: &Env, settings: &Settings) -> Result<Overhead> {
    let iterations = calibrate(env, settings)?;
    let runs = phase_one(env, settings, &iterations)?;
    Ok(Overhead {
        iterations,
        runs,
        attribution: Err("not measured here".into()),
        audit: AuditOutcome::Unavailable("not measured here".into()),
    })
}

/// Phase 1: no sensor and the sensor's variants, in rotating order round after round.
fn phase_one(env: &Env, settings: &Settings, iterations: &[(Loop, u64)]) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for round in 0..settings.rounds {
        for variant in variants::rotation(&SENSOR_VARIANTS, round) {
            runs.push(run_variant(env, settings, iterations, 1, round, variant, None)?);
        }
    }
    Ok(runs)
}

/// Runs the untracked and tracked variants once more with `kernel.bpf_stats_enabled`, then puts
/// the setting back.
fn attribute(env: &Env, settings: &Settings, iterations: &[(Loop, u64)]) -> Result<Vec<Run>> {
    let previous = procfs::bpf_stats_enabled().context("this kernel has no kernel.bpf_stats_enabled")?;
    procfs::set_bpf_stats(true).context("enabling kernel.bpf_stats_enabled")?;
    let runs = [Variant::Untracked, Variant::Tracked]
        .into_iter()
        .map(|variant| run_variant(env, settings, iterations, 0, 0, variant, None))
        .collect::<Result<Vec<_>>>();
    let restored = procfs::set_bpf_stats(previous).context("restoring kernel.bpf_stats_enabled");
    let runs = runs?;
    restored?;
    Ok(runs)
}

fn auditd_phase(
    env: &Env,
    settings: &Settings,
    iterations: &[(Loop, u64)],
    runs: &mut Vec<Run>,
    prepared: Prepared,
) -> Result<AuditOutcome> {
    let running = auditd::Running::start()?;
    let started_by_bench = running.started_by_bench;
    // Check that the rules record the workload: open a file a known number of times.
    let verify_file = env.work.join("audit-verify");
    fs::write(&verify_file, b"audit check\n").context("creating the audit check file")?;
    let expected = 200;
    let status = Command::new(&env.workload)
        .args(["__bench-workload", "verify", "--file"])
        .arg(&verify_file)
        .args([
            "--count",
            &expected.to_string(),
            "--loginuid",
            &auditd::LOGINUID.to_string(),
        ])
        .status()
        .context("running the audit check")?;
    if !status.success() {
        bail!("the audit check workload failed: {status}");
    }
    let mut recorded = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        recorded = running.records_of(&verify_file);
        if recorded >= expected {
            break;
        }
    }
    eprintln!("bench: auditd recorded {recorded} of {expected} checked opens");
    running.disarm()?;

    let phase_two = [Variant::None, Variant::Auditd];
    let mut runs_here = Vec::new();
    let result = (|| -> Result<()> {
        for round in 0..settings.rounds {
            for index in 0..phase_two.len() {
                let variant = phase_two[(index + round) % phase_two.len()];
                runs_here.push(run_variant(
                    env,
                    settings,
                    iterations,
                    2,
                    round,
                    variant,
                    Some(&running),
                )?);
            }
        }
        Ok(())
    })();
    running.finish()?;
    result?;
    runs.extend(runs_here);
    Ok(AuditOutcome::Measured {
        prepared,
        started_by_bench,
        recorded,
        expected,
    })
}

/// Runs each loop for a fixed time with no sensor, and sizes the loops from that.
fn calibrate(env: &Env, settings: &Settings) -> Result<Vec<(Loop, u64)>> {
    let out = env.root.join("calibration.json");
    let mut command = workload(env, &out);
    command.args(["--calibrate-seconds", &settings.calibrate_seconds.to_string()]);
    if let Some(cgroup) = env.cgroup_path() {
        command.arg("--cgroup").arg(cgroup);
    }
    variants::run_plain(&mut command)?;
    let measured = read_loops(&out)?;
    Ok(measured
        .iter()
        .map(|run| {
            let wanted = (settings.loop_seconds * 1e9 / run.ns_per_op.max(1.0)).ceil() as u64;
            let ceiling = match run.kind {
                // Ephemeral ports: stay well below what TIME_WAIT could exhaust.
                Loop::ConnectClose => 20_000,
                _ => 2_000_000,
            };
            (run.kind, wanted.clamp(50, ceiling))
        })
        .collect())
}

fn workload(env: &Env, out: &Path) -> Command {
    let mut command = Command::new(&env.workload);
    command
        .args(["__bench-workload", "loops", "--dir"])
        .arg(&env.work)
        .arg("--out")
        .arg(out)
        .current_dir(&env.work)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

fn run_variant(
    env: &Env,
    settings: &Settings,
    iterations: &[(Loop, u64)],
    phase: u8,
    round: usize,
    variant: Variant,
    audit: Option<&auditd::Running>,
) -> Result<Run> {
    match phase {
        0 => eprintln!("bench: kernel program time, {}", variant.label()),
        _ => eprintln!("bench: overhead phase {phase} round {} {}", round + 1, variant.label()),
    }
    let out = env.root.join(format!("loops-{phase}-{round}-{}.json", variant.key()));
    let mut command = workload(env, &out);
    for (kind, count) in iterations {
        command.arg("--iterations").arg(format!("{}={count}", kind.name()));
    }
    command.args(["--max-seconds", &settings.loop_limit_seconds.to_string()]);
    let mut audit_lost = None;
    let launched = match variant {
        Variant::Auditd => {
            if let Some(cgroup) = env.cgroup_path() {
                command.arg("--cgroup").arg(cgroup);
            }
            let running = audit.context("auditd is not running")?;
            command.args(["--loginuid", &auditd::LOGINUID.to_string()]);
            for pid in running.collectors() {
                command.args(["--collector-pid", &pid.to_string()]);
            }
            let before = auditd::status()?.lost;
            running.arm()?;
            let ran = variants::run_plain(&mut command);
            let disarmed = running.disarm();
            ran?;
            disarmed?;
            audit_lost = Some(auditd::status()?.lost.saturating_sub(before));
            Launched::default()
        }
        _ => {
            let limit = Duration::from_secs_f64(settings.loop_limit_seconds * 4.0 + 300.0);
            variants::launch(env, variant, command, "loops", limit)?
        }
    };
    if variant != Variant::None && launched.alert_count() > 0 {
        eprintln!("bench: {}", launched.describe_alerts());
    }
    Ok(Run {
        phase,
        round,
        variant,
        loops: read_loops(&out)?,
        totals: launched.totals,
        alerts: launched.alerts,
        audit_lost,
    })
}

fn read_loops(path: &PathBuf) -> Result<Vec<LoopRun>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let object = value.as_object().context("the workload's results are not an object")?;
    let mut loops = Vec::new();
    for (name, result) in object {
        let kind = Loop::parse(name).with_context(|| format!("unknown loop `{name}` in the results"))?;
        loops.push(LoopRun {
            kind,
            ns_per_op: result["ns_per_op"].as_f64().unwrap_or(f64::NAN),
            completed: result["completed"].as_bool().unwrap_or(false),
            collector_ns_per_op: result["collector_ns_per_op"].as_f64(),
            bpf_ns_per_op: result["bpf_ns_per_op"].as_f64(),
        });
    }
    loops.sort_by_key(|run| Loop::ALL.iter().position(|kind| *kind == run.kind));
    Ok(loops)
}
