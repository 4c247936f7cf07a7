//! auditd as the comparison: Debian's package, its shipped settings, and syscall rules that record
//! what the sensor records (exec, fork, exit, open, connect, unlink, chdir) for the workload only.
//!
//! The rules filter on the audit login uid (`-F auid=`): the workload writes a value no login has
//! into /proc/self/loginuid before its loops, and its children inherit it, so auditd records the
//! workload's whole process tree, as the sensor does. The bench removes its rules (found by their
//! key), restores the audit settings it changed, and stops auditd if it started it.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::procfs;
use crate::cmd;

/// The key of the bench's audit rules (`-k`), by which they are removed.
pub const KEY: &str = "agent-sensor-bench";
/// The audit login uid of the workload in the auditd variant.
pub const LOGINUID: u32 = 424_242_424;
/// What the sensor records, as syscalls (x86-64).
pub const SYSCALLS: [&str; 17] = [
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "exit_group",
    "open",
    "openat",
    "openat2",
    "creat",
    "connect",
    "unlink",
    "unlinkat",
    "rmdir",
    "chdir",
    "fchdir",
];
/// The buffer settings of Debian's shipped /etc/audit/rules.d/audit.rules.
const PACKAGE_SETTINGS: [(&str, &str); 3] = [("-b", "8192"), ("--backlog_wait_time", "60000"), ("-f", "1")];

/// `auditctl -s`, as numbers.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub enabled: u64,
    pub failure: u64,
    pub pid: u64,
    pub backlog_limit: u64,
    pub backlog_wait_time: u64,
    pub lost: u64,
}

pub fn status() -> Result<Status> {
    let out = Command::new("auditctl")
        .arg("-s")
        .output()
        .context("running auditctl -s")?;
    if !out.status.success() {
        bail!("`auditctl -s` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(key)).then(|| words.next()?.parse().ok())?
            })
            .unwrap_or(0)
    };
    Ok(Status {
        enabled: value("enabled"),
        failure: value("failure"),
        pid: value("pid"),
        backlog_limit: value("backlog_limit"),
        backlog_wait_time: value("backlog_wait_time"),
        lost: value("lost"),
    })
}

/// Whether auditd can be compared here, and what the bench found.
pub struct Prepared {
    pub version: String,
    pub installed_by_bench: bool,
    pub status_at_start: Status,
}

/// Installs auditd when missing and checks that the kernel supports audit.
/// `Err` is the reason the comparison cannot run (kept for the report).
pub fn prepare() -> Result<Prepared, String> {
    if !Path::new("/proc/self/loginuid").exists() {
        return Err("this kernel was built without audit support (no /proc/self/loginuid)".into());
    }
    let mut installed_by_bench = false;
    if which("auditctl").is_none() || which("auditd").is_none() {
        eprintln!("bench: installing auditd (Debian package)");
        install("auditd").map_err(|error| format!("installing auditd failed: {error:#}"))?;
        installed_by_bench = true;
    }
    let status_at_start = status().map_err(|error| format!("{error:#} (no audit netlink here?)"))?;
    if status_at_start.enabled == 2 {
        return Err("the audit configuration is locked (`auditctl -s` says enabled 2): rules cannot be added".into());
    }
    // Rules a previous, interrupted run may have left.
    let _ = remove_rules();
    let version = cmd::output(Command::new("auditctl").arg("-v"))
        .map(|text| text.trim().trim_start_matches("auditctl version").trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    Ok(Prepared {
        version,
        installed_by_bench,
        status_at_start,
    })
}

fn which(program: &str) -> Option<String> {
    cmd::output(Command::new("sh").args(["-c", &format!("command -v {program}")]))
        .map(|path| path.trim().to_string())
        .filter(|path| !path.is_empty())
}

fn install(package: &str) -> Result<()> {
    let apt = |args: &[&str]| {
        cmd::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null()),
        )
    };
    if apt(&["install", "-y", "-qq", package]).is_err() {
        // Stale package lists name versions the mirror no longer has.
        apt(&["update", "-qq"])?;
        apt(&["install", "-y", "-qq", package])?;
    }
    Ok(())
}

fn auditctl(args: &[&str]) -> Result<()> {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .with_context(|| format!("running auditctl {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`auditctl {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn remove_rules() -> Result<()> {
    auditctl(&["-D", "-k", KEY])
}

/// auditd running with the bench's rules; undone by [`Running::finish`] (or on drop).
pub struct Running {
    previous: Status,
    daemon: Option<Child>,
    pub daemon_pid: u32,
    pub kauditd: Option<u32>,
    pub started_by_bench: bool,
    done: bool,
}

impl Running {
    /// Starts auditd when it is not running and applies the package's buffer settings; audit is
    /// enabled and the rules added only for the auditd runs ([`Running::arm`]).
    pub fn start() -> Result<Self> {
        let previous = status()?;
        let mut running = Self {
            previous: previous.clone(),
            daemon: None,
            daemon_pid: previous.pid as u32,
            kauditd: None,
            started_by_bench: false,
            done: false,
        };
        if previous.pid == 0 || procfs::cpu_ticks(previous.pid as u32).is_none() {
            let child = Command::new("auditd")
                .arg("-n")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting auditd")?;
            running.daemon_pid = child.id();
            running.daemon = Some(child);
            running.started_by_bench = true;
            let deadline = Instant::now() + Duration::from_secs(15);
            while status()?.pid != u64::from(running.daemon_pid) {
                if Instant::now() > deadline {
                    bail!("auditd did not register with the kernel within 15 s");
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        for (option, value) in PACKAGE_SETTINGS {
            auditctl(&[option, value])?;
        }
        running.arm()?;
        running.kauditd = procfs::kernel_thread("kauditd");
        Ok(running)
    }

    /// Enables audit and adds the rules.
    pub fn arm(&self) -> Result<()> {
        auditctl(&["-e", "1"])?;
        let mut rule = vec!["-a", "always,exit", "-F", "arch=b64"];
        for syscall in SYSCALLS {
            rule.extend(["-S", syscall]);
        }
        let auid = format!("auid={LOGINUID}");
        rule.extend(["-F", &auid, "-k", KEY]);
        auditctl(&rule)
    }

    /// Removes the rules and puts the enabled flag back as it was.
    pub fn disarm(&self) -> Result<()> {
        let removed = remove_rules();
        auditctl(&["-e", &self.previous.enabled.to_string()])?;
        removed
    }

    /// The processes whose CPU time is auditd's cost outside the audited syscalls.
    pub fn collectors(&self) -> Vec<u32> {
        let mut pids = vec![self.daemon_pid];
        pids.extend(self.kauditd);
        pids
    }

    /// How many audit records of `path` auditd has written (under the bench's key).
    pub fn records_of(&self, path: &Path) -> u64 {
        let out = Command::new("ausearch")
            .args(["--input-logs", "--raw", "-k", KEY, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        out.map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|line| line.starts_with("type=SYSCALL"))
                .count() as u64
        })
        .unwrap_or(0)
    }

    /// Removes the rules, restores the settings, stops auditd if the bench started it.
    pub fn finish(mut self) -> Result<()> {
        self.undo()
    }

    fn undo(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let removed = remove_rules();
        let previous = &self.previous;
        let restored = [
            ("-b", previous.backlog_limit),
            ("--backlog_wait_time", previous.backlog_wait_time),
            ("-f", previous.failure),
            ("-e", previous.enabled),
        ]
        .into_iter()
        .try_for_each(|(option, value)| auditctl(&[option, &value.to_string()]));
        if let Some(mut child) = self.daemon.take() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        removed.context("removing the bench's audit rules")?;
        restored.context("restoring the audit settings")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(error) = self.undo() {
            eprintln!("bench: cleaning up audit failed: {error:#}");
        }
    }
}
