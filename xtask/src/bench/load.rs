//! Load: a tracked tree opening a file as fast as it can (then at a fixed 100,000 opens per
//! second), with a credential read every 10 ms whose alert the bench times from just before the
//! syscall to the moment the alert line reaches it. Produced (the workload's counts) against
//! delivered (events the sensor wrote), kernel drops (the sensor's ring-buffer counter), the
//! sensor's CPU time and peak RSS, and the kernel memory of its maps.

use std::{
    collections::HashMap,
    fs,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{
    Settings,
    env::Env,
    procfs,
    sensor::{Alerts, Sample, Sampler, Sensor, WatchSpec},
    stats, targets,
};

/// The rule whose alerts are timed: a read of a file under ~/.ssh.
pub const TIMED_RULE: &str = "credential-file-read";
const TRIGGER_INTERVAL_MS: u64 = 10;

/// One run of the load generator (`__bench-workload load`): opens of `file` for `seconds` at
/// `rate` per second (0: as fast as it can) from `workers` threads, and a credential read in
/// `trigger_dir` every `trigger_interval_ms` (`triggers` files); its counts go to `out`.
pub struct LoadRun<'a> {
    pub file: &'a Path,
    pub out: &'a Path,
    pub seconds: f64,
    pub rate: u64,
    pub workers: u32,
    pub trigger_dir: &'a Path,
    pub triggers: u64,
    pub trigger_interval_ms: u64,
}

impl LoadRun<'_> {
    /// The command line that runs it.
    pub fn command(&self, env: &Env) -> Vec<String> {
        vec![
            env.workload.to_string_lossy().into_owned(),
            "__bench-workload".into(),
            "load".into(),
            "--file".into(),
            self.file.to_string_lossy().into_owned(),
            "--out".into(),
            self.out.to_string_lossy().into_owned(),
            "--seconds".into(),
            self.seconds.to_string(),
            "--rate".into(),
            self.rate.to_string(),
            "--workers".into(),
            self.workers.to_string(),
            "--triggers".into(),
            self.trigger_dir.to_string_lossy().into_owned(),
            "--trigger-count".into(),
            self.triggers.to_string(),
            "--trigger-interval-ms".into(),
            self.trigger_interval_ms.to_string(),
        ]
    }
}

/// One load phase's figures.
#[derive(Clone, Debug, Default)]
pub struct LoadPhase {
    pub label: String,
    /// Opens per second asked for (`None`: as fast as possible).
    pub target_rate: Option<u64>,
    pub workers: u32,
    pub seconds: f64,
    /// Opens the workers made, and the trigger reads.
    pub produced: u64,
    pub produced_per_second: f64,
    pub triggers: u64,
    pub kernel_emitted: u64,
    pub kernel_dropped: u64,
    /// Events the sensor wrote to the audit trail (its own count).
    pub delivered: u64,
    pub alerts_timed: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// CPU time from the workload's start to the sensor's exit (draining included).
    pub sensor_cpu_seconds: f64,
    /// Share of one core while the workload produced.
    pub sensor_cpu_percent: f64,
    pub peak_rss_bytes: u64,
    /// The highest resident memory over the samples without the ring buffer's pages
    /// (`anon_inode:bpf-map` mappings).
    pub peak_without_ring_bytes: u64,
    /// Start-up's peak as the sensor logged it (before the ring buffers were mapped).
    pub startup_peak_bytes: Option<u64>,
    /// What was resident when the sensor's RSS was highest.
    pub resident_at_peak: procfs::Resident,
    /// What was resident at the sample of `peak_without_ring_bytes`, and how many seconds after
    /// the sensor started it was taken.
    pub resident_at_peak_without_ring: (procfs::Resident, f64),
    /// Kernel memory of the sensor's BPF maps (`memlock` of each).
    pub map_bytes: u64,
    /// The tracked-process map: entry size (key + value) and preallocated bytes.
    pub tracked_map: Option<(u64, u64, u64)>,
}

pub fn measure(env: &Env, settings: &Settings) -> Result<Vec<LoadPhase>> {
    let workers = (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32)
        .saturating_sub(1)
        .max(1);
    let triggers = (settings.load_seconds * 1000.0 / TRIGGER_INTERVAL_MS as f64).ceil() as u64 + 10;
    let trigger_dir = env.create_trigger_files(triggers)?;
    let file = env.work.join("load-file");
    fs::write(&file, b"agent-sensor load\n").with_context(|| format!("creating {}", file.display()))?;
    let mut phases = Vec::new();
    for (label, rate) in [
        ("as fast as it can", None),
        ("paced at 100,000/s", Some(targets::LATENCY_RATE)),
        ("paced at 200,000/s", Some(targets::DROPS_RATE)),
    ] {
        eprintln!("bench: load, {label}, {} s", settings.load_seconds);
        phases.push(phase(
            env,
            settings,
            label,
            rate,
            workers,
            &file,
            &trigger_dir,
            triggers,
        )?);
    }
    Ok(phases)
}

#[allow(clippy::too_many_arguments)]
fn phase(
    env: &Env,
    settings: &Settings,
    label: &str,
    rate: Option<u64>,
    workers: u32,
    file: &Path,
    trigger_dir: &Path,
    triggers: u64,
) -> Result<LoadPhase> {
    // The audit trail is serialized and written, to /dev/null: the disk is not what is measured
    // (at these rates it would be hundreds of megabytes a second).
    let events = Path::new("/dev/null");
    let out = env.root.join("load.json");
    let _ = fs::remove_file(&out);
    let command = LoadRun {
        file,
        out: &out,
        seconds: settings.load_seconds,
        rate: rate.unwrap_or(0),
        workers,
        trigger_dir,
        triggers,
        trigger_interval_ms: TRIGGER_INTERVAL_MS,
    }
    .command(env);
    let sensor = Sensor::watch(
        &env.sensor,
        &WatchSpec {
            isolation: env.timed_isolation(),
            events: Some(events),
            alerts: Alerts::Timed,
            home: &env.home,
            cwd: &env.work,
            command,
            extra_env: &[],
        },
    )?;
    let pid = sensor.pid;
    let sampler = Sampler::start(pid, Duration::from_millis(100));
    // The maps exist once the programs are loaded; read them while the load runs.
    let started = Instant::now();
    let mut maps = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(250));
        maps = procfs::bpf_maps(pid);
        if maps.len() > 5 && started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let finished = sensor.wait(Duration::from_secs_f64(settings.load_seconds + 600.0))?;
    let samples = sampler.finish();
    if !finished.status.success() {
        bail!(
            "the load workload failed ({}); the log ends with:\n{}",
            finished.status,
            finished.log_tail()
        );
    }
    let text = fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let result: Value = serde_json::from_str(&text).context("parsing the load results")?;
    let number = |value: &Value| -> u128 { value.as_str().and_then(|text| text.parse().ok()).unwrap_or(0) };
    let start_ns = number(&result["start_ns"]);
    let ticks_start = result["sensor_ticks_start"].as_u64().unwrap_or(0);
    let worker_results = result["workers"].as_array().cloned().unwrap_or_default();
    let opens: u64 = worker_results
        .iter()
        .map(|worker| worker["opens"].as_u64().unwrap_or(0))
        .sum();
    let worker_seconds = worker_results
        .iter()
        .map(|worker| number(&worker["elapsed_ns"]) as f64 / 1e9)
        .fold(0.0, f64::max);
    let trigger_times: Vec<u128> = result["triggers"]
        .as_array()
        .map(|times| times.iter().map(number).collect())
        .unwrap_or_default();

    // Latency: the first alert of the timed rule naming each trigger file.
    let mut first: HashMap<&str, u128> = HashMap::new();
    for alert in &finished.alerts {
        if alert.rule == TIMED_RULE {
            first.entry(alert.file_name.as_str()).or_insert(alert.arrival_ns);
        }
    }
    let latencies: Vec<f64> = trigger_times
        .iter()
        .enumerate()
        .filter_map(|(index, &sent)| {
            let arrival = *first.get(format!("bench-key-{index}").as_str())?;
            Some(arrival.saturating_sub(sent) as f64 / 1e6)
        })
        .collect();

    let tick = procfs::ticks_per_second() as f64;
    let cpu_since_start = |sample: &Sample| sample.ticks.saturating_sub(ticks_start) as f64 / tick;
    let cpu_seconds = samples.last().map_or(0.0, cpu_since_start);
    // While the workload produced: the last sample before it ended.
    let end_ns = number(&result["end_ns"]);
    let during = samples.iter().rev().find(|sample| sample.at_ns <= end_ns);
    let (busy, wall_seconds) = during.map_or((0.0, 0.0), |sample| {
        (
            cpu_since_start(sample),
            sample.at_ns.saturating_sub(start_ns) as f64 / 1e9,
        )
    });
    let startup_peak = finished.startup_peak();
    let totals = finished.totals.unwrap_or_default();
    let tracked = maps
        .iter()
        .find(|map| map.map_type == 1 && map.key_size == 4 && map.value_size == 32)
        .map(|map| (map.key_size + map.value_size, map.max_entries, map.memlock));
    let produced = opens + trigger_times.len() as u64;
    Ok(LoadPhase {
        label: label.to_string(),
        target_rate: rate,
        workers,
        seconds: worker_seconds,
        produced,
        produced_per_second: if worker_seconds > 0.0 {
            produced as f64 / worker_seconds
        } else {
            0.0
        },
        triggers: trigger_times.len() as u64,
        kernel_emitted: totals.get("kernel_emitted"),
        kernel_dropped: totals.get("ring_buffer_full"),
        delivered: totals.get("events_written"),
        alerts_timed: latencies.len() as u64,
        latency_p50_ms: stats::quantile(&latencies, 0.5),
        latency_p99_ms: stats::quantile(&latencies, 0.99),
        latency_max_ms: stats::quantile(&latencies, 1.0),
        sensor_cpu_seconds: cpu_seconds,
        sensor_cpu_percent: if wall_seconds > 0.0 {
            100.0 * busy / wall_seconds
        } else {
            0.0
        },
        peak_rss_bytes: samples.iter().map(|sample| sample.hwm_bytes).max().unwrap_or(0),
        // The samples (every 100 ms) can miss start-up's short peak; the sensor logs it.
        peak_without_ring_bytes: samples
            .iter()
            .map(|sample| sample.resident.total().saturating_sub(sample.resident.bpf_maps))
            .chain(startup_peak)
            .max()
            .unwrap_or(0),
        startup_peak_bytes: startup_peak,
        resident_at_peak: samples
            .iter()
            .map(|sample| sample.resident)
            .max_by_key(|resident| resident.total())
            .unwrap_or_default(),
        resident_at_peak_without_ring: samples
            .iter()
            .max_by_key(|sample| sample.resident.total().saturating_sub(sample.resident.bpf_maps))
            .map(|sample| {
                let first = samples.first().map_or(0, |first| first.at_ns);
                (sample.resident, sample.at_ns.saturating_sub(first) as f64 / 1e9)
            })
            .unwrap_or_default(),
        map_bytes: maps.iter().map(|map| map.memlock).sum(),
        tracked_map: tracked,
    })
}

/// What the idle daemon keeps resident, and the most it held while starting, as configured and
/// with BPF LSM turned off (`enforcement.lsm: false`: the BTF the LSM hooks attach with is then
/// never built).
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleMemory {
    pub default: procfs::Resident,
    /// Start-up's peak, before the ring buffers were mapped, as the sensor logged it.
    pub default_startup_peak: u64,
    pub lsm_off: procfs::Resident,
    pub lsm_off_startup_peak: u64,
}

/// Seconds after start-up at which the idle daemon's memory is read.
pub const IDLE_AFTER_SECONDS: u64 = 3;

/// Starts the daemon twice (as configured for the untracked variant: nothing to track; then
/// with BPF LSM off), reads /proc/PID/smaps 3 s after it has started, and takes start-up's peak
/// from its log.
pub fn idle_memory(env: &Env) -> Result<IdleMemory> {
    let alerts = env.root.join("idle-alerts.jsonl");
    let lsm_off = env.root.join("daemon-lsm-off.yaml");
    let text = std::fs::read_to_string(&env.daemon_config)
        .with_context(|| format!("reading {}", env.daemon_config.display()))?;
    let text = if text.contains("enforcement:\n") {
        text.replace("enforcement:\n", "enforcement:\n  lsm: false\n")
    } else {
        format!("{text}enforcement:\n  lsm: false\n")
    };
    std::fs::write(&lsm_off, text).with_context(|| format!("writing {}", lsm_off.display()))?;
    let mut measured = [(procfs::Resident::default(), 0); 2];
    for (index, config) in [&env.daemon_config, &lsm_off].into_iter().enumerate() {
        let isolation = super::sensor::Isolation {
            config,
            ..env.daemon_isolation()
        };
        let daemon = Sensor::daemon_with_env(&env.sensor, &isolation, &alerts, &env.root, &[])?;
        thread::sleep(Duration::from_secs(IDLE_AFTER_SECONDS));
        let resident = procfs::resident(daemon.pid).unwrap_or_default();
        let finished = daemon.stop()?;
        measured[index] = (resident, finished.startup_peak().unwrap_or(0));
        if !finished.status.success() {
            bail!("the idle daemon failed; its log ends with:\n{}", finished.log_tail());
        }
    }
    Ok(IdleMemory {
        default: measured[0].0,
        default_startup_peak: measured[0].1,
        lsm_off: measured[1].0,
        lsm_off_startup_peak: measured[1].1,
    })
}
