//! The bench's own corner of the machine: a temporary directory (binaries pinned for the run,
//! scratch files, a HOME with trigger files), its own cgroup, and the daemon's configuration.
//! Everything goes away when [`Env`] is dropped.

use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::Duration,
};

use anyhow::{Context, Result};

use super::sensor::{self, Isolation};
use crate::cmd::workspace;

/// The default ring buffer, written out so that a configuration file says something.
const RING_BUFFER: &str = "capture:\n  ring_buffer_bytes: 16777216\n";

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace().join(dir),
        _ => workspace().join("target"),
    }
}

pub struct Env {
    _temp: tempfile::TempDir,
    pub root: PathBuf,
    /// A copy of `agent-sensor`, so that a rebuild during the run changes nothing.
    pub sensor: PathBuf,
    /// A copy of the release `xtask`, which runs the workloads.
    pub workload: PathBuf,
    /// Scratch directory of the loops.
    pub work: PathBuf,
    /// HOME of the tracked sessions; its `.ssh` holds the load test's trigger files.
    pub home: PathBuf,
    /// The bench's cgroup (v2): workloads outside `watch` run in it, and the daemon attaches its
    /// connect programs to it (as it would to the root cgroup when deployed).
    pub cgroup: Option<BenchCgroup>,
    pub daemon_config: PathBuf,
    /// `watch`'s configuration: the defaults, whatever /etc/agent-sensor/config.yaml says.
    pub watch_config: PathBuf,
    /// The load test's: the defaults with alert folding off, so that every trigger's alert is
    /// written, and timed (folded, a burst writes its first alert only).
    pub timed_config: PathBuf,
    /// State (baselines) of the bench's sensors.
    pub state_dir: PathBuf,
    /// The bench's control socket, when the sensor has one.
    pub control_socket: Option<PathBuf>,
}

impl Env {
    /// The bench's environment, with the release builds of the sensor and the workload.
    pub fn create() -> Result<Self> {
        Self::create_from(&target_dir().join("release"))
    }

    /// As [`Env::create`], with `agent-sensor` and `xtask` taken from `binaries` (a profile's
    /// directory under target/).
    pub fn create_from(binaries: &Path) -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("agent-sensor-bench.")
            .tempdir()
            .context("creating the bench's temporary directory")?;
        let root = temp.path().to_path_buf();
        let bin = root.join("bin");
        let work = root.join("work");
        let home = root.join("home");
        for dir in [&bin, &work, &home.join(".ssh")] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let sensor = bin.join("agent-sensor");
        let workload = bin.join("xtask");
        for (from, to) in [
            (binaries.join("agent-sensor"), &sensor),
            (binaries.join("xtask"), &workload),
        ] {
            fs::copy(&from, to).with_context(|| format!("copying {} (is it built?)", from.display()))?;
        }
        let cgroup = BenchCgroup::create().unwrap_or_else(|error| {
            eprintln!("bench: no cgroup of its own ({error:#}); workloads run where the bench runs");
            None
        });
        let daemon_config = write_daemon_config(&root, cgroup.as_ref().map(|cgroup| cgroup.path.as_path()))?;
        let watch_config = root.join("watch.yaml");
        fs::write(&watch_config, RING_BUFFER).with_context(|| format!("writing {}", watch_config.display()))?;
        let timed_config = root.join("timed.yaml");
        fs::write(
            &timed_config,
            format!("{RING_BUFFER}alerts:\n  fold: {{window_ms: 0}}\n"),
        )
        .with_context(|| format!("writing {}", timed_config.display()))?;
        let state_dir = root.join("state");
        fs::create_dir_all(&state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
        let control_socket = sensor::has_option(&sensor, "run", "--control-socket").then(|| root.join("control.sock"));
        Ok(Self {
            _temp: temp,
            root,
            sensor,
            workload,
            work,
            home,
            cgroup,
            daemon_config,
            watch_config,
            timed_config,
            state_dir,
            control_socket,
        })
    }

    pub fn daemon_isolation(&self) -> Isolation<'_> {
        Isolation {
            config: &self.daemon_config,
            state_dir: &self.state_dir,
            control_socket: self.control_socket.as_deref(),
        }
    }

    pub fn watch_isolation(&self) -> Isolation<'_> {
        Isolation {
            config: &self.watch_config,
            state_dir: &self.state_dir,
            control_socket: self.control_socket.as_deref(),
        }
    }

    /// As `watch_isolation`, with every alert written (the load test's latency).
    pub fn timed_isolation(&self) -> Isolation<'_> {
        Isolation {
            config: &self.timed_config,
            ..self.watch_isolation()
        }
    }

    pub fn cgroup_path(&self) -> Option<&Path> {
        self.cgroup.as_ref().map(|cgroup| cgroup.path.as_path())
    }

    /// Creates `~/.ssh/bench-key-0` … `bench-key-{count-1}` (reading one raises an alert).
    pub fn create_trigger_files(&self, count: u64) -> Result<PathBuf> {
        let dir = self.home.join(".ssh");
        for index in 0..count {
            let path = dir.join(format!("bench-key-{index}"));
            if !path.exists() {
                fs::write(&path, b"not a real key\n").with_context(|| format!("creating {}", path.display()))?;
            }
        }
        Ok(dir)
    }
}

/// The daemon's configuration for the untracked variant: one agent profile that matches nothing
/// (so the daemon adopts no running process, not even an agent the bench may run under), and
/// the bench's cgroup for its connect programs.
fn write_daemon_config(root: &Path, cgroup: Option<&Path>) -> Result<PathBuf> {
    let profiles = root.join("profiles.yaml");
    fs::write(
        &profiles,
        "version: 1\n\
         interpreters: [node, python3]\n\
         agents:\n\
         \x20 - name: bench-nobody\n\
         \x20   description: matches no program on this machine\n\
         \x20   commands: [agent-sensor-bench-no-such-program]\n",
    )
    .with_context(|| format!("writing {}", profiles.display()))?;
    let config = root.join("daemon.yaml");
    let mut text = format!("profiles: {}\n{RING_BUFFER}", profiles.display());
    if let Some(cgroup) = cgroup {
        text.push_str(&format!("enforcement:\n  cgroup: {}\n", cgroup.display()));
    }
    fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    Ok(config)
}

pub struct BenchCgroup {
    pub path: PathBuf,
}

impl BenchCgroup {
    fn create() -> Result<Option<Self>> {
        let mounts = fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
        let Some(hierarchy) = mounts.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
        }) else {
            return Ok(None);
        };
        let path = hierarchy.join(format!("agent-sensor-bench-{}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating cgroup {}", path.display()))?;
        Ok(Some(Self { path }))
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        // The workloads have exited by now; their cgroup empties as they are reaped.
        for _ in 0..50 {
            if fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        eprintln!("bench: could not remove cgroup {}", self.path.display());
    }
}
