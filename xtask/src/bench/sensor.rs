//! Running `agent-sensor` for a benchmark: the daemon (for untracked processes) or `watch` (for a
//! tracked session); reading its log for the capture totals, and its alerts as they arrive.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::procfs;

/// The counters `agent-sensor` logs when it stops (`capture totals`).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub values: HashMap<String, u64>,
}

impl Totals {
    pub fn get(&self, key: &str) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    fn parse(log: &[String]) -> Option<Self> {
        let line = log.iter().rev().find(|line| line.contains("capture totals"))?;
        let values = line
            .split_whitespace()
            .filter_map(|token| {
                let (key, value) = token.split_once('=')?;
                Some((key.to_string(), value.parse().ok()?))
            })
            .collect();
        Some(Self { values })
    }
}

/// An alert line as it reached the bench: when, which rule, which file.
#[derive(Clone, Debug)]
pub struct SeenAlert {
    pub arrival_ns: u128,
    pub rule: String,
    pub file_name: String,
}

/// What a sensor run left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub totals: Option<Totals>,
    pub log: Vec<String>,
    pub alerts: Vec<SeenAlert>,
}

impl Finished {
    /// Start-up's peak memory as the sensor logged it (`VmHWM` before the ring buffers were
    /// mapped), when it did.
    pub fn startup_peak(&self) -> Option<u64> {
        let line = self.log.iter().find(|line| line.contains("start-up memory"))?;
        line.split_whitespace()
            .find_map(|token| token.strip_prefix("peak_rss_bytes="))?
            .parse()
            .ok()
            .filter(|bytes| *bytes > 0)
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let start = self.log.len().saturating_sub(15);
        self.log[start..].join("\n")
    }
}

/// Where `watch` sends alerts.
pub enum Alerts {
    File(PathBuf),
    /// Standard output, read by the bench line by line with arrival times.
    Timed,
}

/// Where a sensor started by the bench keeps its state, so that it touches nothing of the
/// machine's own sensor: a configuration file (not /etc/agent-sensor/config.yaml), a state
/// directory (baselines), and a control socket when this version of the sensor has one.
pub struct Isolation<'a> {
    pub config: &'a Path,
    pub state_dir: &'a Path,
    pub control_socket: Option<&'a Path>,
}

impl Isolation<'_> {
    fn apply(&self, command: &mut Command) {
        command.arg("--config").arg(self.config);
        if let Some(socket) = self.control_socket {
            command.arg("--control-socket").arg(socket);
        }
        command.env("AGENT_SENSOR_STATE_DIR", self.state_dir);
    }
}

/// Whether `agent-sensor SUBCOMMAND --help` lists `option`.
pub fn has_option(binary: &Path, subcommand: &str, option: &str) -> bool {
    crate::cmd::output(Command::new(binary).args([subcommand, "--help"]))
        .is_some_and(|help| help.split_whitespace().any(|word| word == option))
}

pub struct WatchSpec<'a> {
    pub isolation: Isolation<'a>,
    pub events: Option<&'a Path>,
    pub alerts: Alerts,
    pub home: &'a Path,
    pub cwd: &'a Path,
    pub command: Vec<String>,
    /// More environment for the sensor (allocator settings).
    pub extra_env: &'a [(&'a str, &'a str)],
}

/// A running sensor.
pub struct Sensor {
    child: Child,
    pub pid: u32,
    log: Arc<Mutex<Vec<String>>>,
    log_thread: Option<thread::JoinHandle<()>>,
    alerts_thread: Option<thread::JoinHandle<Vec<SeenAlert>>>,
}

impl Sensor {
    /// Starts the daemon and waits until its programs are attached.
    pub fn daemon(binary: &Path, isolation: &Isolation, alerts: &Path, cwd: &Path) -> Result<Self> {
        Self::daemon_with_env(binary, isolation, alerts, cwd, &[])
    }

    /// [`Sensor::daemon`] with more environment (allocator settings).
    pub fn daemon_with_env(
        binary: &Path,
        isolation: &Isolation,
        alerts: &Path,
        cwd: &Path,
        extra_env: &[(&str, &str)],
    ) -> Result<Self> {
        let mut command = Command::new(binary);
        command.arg("run").envs(extra_env.iter().copied());
        isolation.apply(&mut command);
        command
            .arg("--alerts")
            .arg(alerts)
            .current_dir(cwd)
            .stdout(Stdio::null());
        let mut sensor = Self::spawn(command, false)?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if sensor.log_contains("agent sensor started") {
                return Ok(sensor);
            }
            if let Some(status) = sensor.child.try_wait().context("waiting for the daemon")? {
                let log = sensor.log.lock().map(|log| log.join("\n")).unwrap_or_default();
                bail!("the daemon exited ({status}) before it started:\n{log}");
            }
            if Instant::now() > deadline {
                let _ = sensor.stop();
                bail!("the daemon did not start within five minutes");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `watch -- COMMAND`.
    pub fn watch(binary: &Path, spec: &WatchSpec) -> Result<Self> {
        let mut command = Command::new(binary);
        command.arg("watch").arg("--name").arg("bench");
        spec.isolation.apply(&mut command);
        if let Some(events) = spec.events {
            command.arg("--events").arg(events);
        }
        let timed = match &spec.alerts {
            Alerts::File(path) => {
                command.arg("--alerts").arg(path).stdout(Stdio::null());
                false
            }
            Alerts::Timed => {
                command.args(["--alerts", "-"]).stdout(Stdio::piped());
                true
            }
        };
        command
            .arg("--")
            .args(&spec.command)
            .env("HOME", spec.home)
            .envs(spec.extra_env.iter().copied())
            .current_dir(spec.cwd);
        Self::spawn(command, timed)
    }

    fn spawn(mut command: Command, timed_alerts: bool) -> Result<Self> {
        command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting `{}`", crate::cmd::describe(&command)))?;
        let pid = child.id();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().context("the sensor's standard error")?;
        let lines = log.clone();
        let log_thread = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        let alerts_thread = if timed_alerts {
            let stdout = child.stdout.take().context("the sensor's standard output")?;
            Some(thread::spawn(move || read_alerts(stdout)))
        } else {
            None
        };
        Ok(Self {
            child,
            pid,
            log,
            log_thread: Some(log_thread),
            alerts_thread,
        })
    }

    fn log_contains(&self, text: &str) -> bool {
        self.log
            .lock()
            .map(|log| log.iter().any(|line| line.contains(text)))
            .unwrap_or(false)
    }

    /// Asks the sensor to stop (SIGTERM: it drains and flushes), and waits.
    pub fn stop(mut self) -> Result<Finished> {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().context("waiting for the sensor")?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.finish()
    }

    /// Waits for the sensor to exit by itself (`watch` exits with its command).
    pub fn wait(mut self, limit: Duration) -> Result<Finished> {
        let deadline = Instant::now() + limit;
        while self.child.try_wait().context("waiting for the sensor")?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let finished = self.finish()?;
                bail!(
                    "the sensor did not finish within {} s; its log ends with:\n{}",
                    limit.as_secs(),
                    finished.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.finish()
    }

    fn finish(mut self) -> Result<Finished> {
        let status = self.child.wait().context("waiting for the sensor")?;
        if let Some(thread) = self.log_thread.take() {
            let _ = thread.join();
        }
        let alerts = match self.alerts_thread.take() {
            Some(thread) => thread.join().unwrap_or_default(),
            None => Vec::new(),
        };
        let log = self.log.lock().map(|log| log.clone()).unwrap_or_default();
        Ok(Finished {
            status,
            totals: Totals::parse(&log),
            log,
            alerts,
        })
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        // Only when a benchmark failed half-way: do not leave a sensor behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_alerts(stdout: impl std::io::Read) -> Vec<SeenAlert> {
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let arrival_ns = procfs::realtime_ns();
        let Ok(alert) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let text = |pointer: &str| alert.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string();
        seen.push(SeenAlert {
            arrival_ns,
            rule: text("/rule/id"),
            file_name: text("/file/name"),
        });
    }
    seen
}

/// One sample of a process's CPU time and memory.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at_ns: u128,
    pub ticks: u64,
    pub hwm_bytes: u64,
    pub resident: procfs::Resident,
}

/// Samples a process every `interval` until it is gone.
pub struct Sampler {
    thread: thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub fn start(pid: u32, interval: Duration) -> Self {
        let thread = thread::spawn(move || {
            let mut samples = Vec::new();
            while let Some(ticks) = procfs::cpu_ticks(pid) {
                samples.push(Sample {
                    at_ns: procfs::realtime_ns(),
                    ticks,
                    hwm_bytes: procfs::status_bytes(pid, "VmHWM").unwrap_or(0),
                    resident: procfs::resident(pid).unwrap_or_default(),
                });
                thread::sleep(interval);
            }
            samples
        });
        Self { thread }
    }

    pub fn finish(self) -> Vec<Sample> {
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_totals_come_from_the_last_totals_line() {
        let log = [
            "2026-11-21T22:30:35.706108Z  INFO watching session=6a55 agent=sh pid=16459".to_string(),
            "2026-11-21T22:30:35.710942Z  INFO capture totals kernel_emitted=39 ring_buffer_full=2 \
             records=39 events_written=37 alerts=0"
                .to_string(),
        ];
        let totals = Totals::parse(&log).expect("a totals line");
        assert_eq!(totals.get("kernel_emitted"), 39);
        assert_eq!(totals.get("ring_buffer_full"), 2);
        assert_eq!(totals.get("events_written"), 37);
        assert_eq!(totals.get("absent"), 0);
        assert!(Totals::parse(&log[..1]).is_none());
    }
}
