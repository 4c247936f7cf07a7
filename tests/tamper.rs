//! End-to-end: an agent cannot stop the sensor quietly. A tracked process that signals the
//! daemon, aims ptrace at it or calls bpf() raises `sensor-tamper`; with BPF LSM (the kernel lab)
//! enforce mode denies it and the daemon survives a SIGTERM from the agent.

mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::*;

/// A Python agent that waits for `go`, then reaches for the daemon `pid_file` names. It prints
/// what each attempt returned.
const REACH_FOR_THE_SENSOR: &str = r#"
import ctypes, os, signal, sys, time
go, pid_file, sig, user = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go): time.sleep(0.02)
daemon = int(open(pid_file).read())
if user == "nobody":
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
libc = ctypes.CDLL(None, use_errno=True)
def report(what, ok):
    print(what, "ok" if ok else os.strerror(ctypes.get_errno()), flush=True)
try:
    os.kill(daemon, sig); print("kill ok", flush=True)
except OSError as e:
    print("kill", e.strerror, flush=True)
# PTRACE_PEEKDATA (the ptrace syscall), then /proc/PID/mem (an attach-mode access check).
report("ptrace", libc.ptrace(2, daemon, 0, 0) != -1)
try:
    open(f"/proc/{daemon}/mem", "rb").close(); print("mem ok", flush=True)
except OSError as e:
    print("mem", e.strerror, flush=True)
# BPF_PROG_GET_NEXT_ID with start_id 0: read-only, harmless.
attr = ctypes.create_string_buffer(16)
report("bpf", libc.syscall(321, 11, attr, 16) != -1)
"#;

struct Scenario {
    dir: tempfile::TempDir,
    _cgroup: TestCgroup,
    config: String,
}

impl Scenario {
    fn new(name: &str, mode: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cgroup = TestCgroup::new(name);
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!("enforcement:\n  mode: {mode}\n  cgroup: {}\n", cgroup.path.display()),
        )
        .expect("config");
        Self {
            dir,
            _cgroup: cgroup,
            config: config.display().to_string(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the agent (waiting), the daemon adopting it, and lets the agent go; returns the
    /// daemon, the agent's output and the alerts file.
    fn run(&self, signal: i32) -> (Daemon, String, std::path::PathBuf) {
        self.run_as(signal, "root")
    }

    /// As [`Scenario::run`], the agent dropping to `user` (`root` or `nobody`) once it knows
    /// the daemon's pid.
    fn run_as(&self, signal: i32, user: &str) -> (Daemon, String, std::path::PathBuf) {
        let d = self.path();
        let go = d.join("go");
        let pid_file = d.join("daemon.pid");
        let agent = Command::new("/usr/bin/python3")
            .args(["-c", REACH_FOR_THE_SENSOR])
            .arg(&go)
            .arg(&pid_file)
            .arg(signal.to_string())
            .arg(user)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map(ChildGuard)
            .expect("start the agent");
        let alerts = d.join("alerts.jsonl");
        let daemon = Daemon::start(
            d,
            &[
                "--config",
                &self.config,
                "--pid",
                &agent.0.id().to_string(),
                "--name",
                "tamper-agent",
                "--alerts",
                &alerts.display().to_string(),
            ],
        );
        daemon.wait_for_log("adopted a running agent", Duration::from_secs(10));
        std::fs::write(&pid_file, daemon.pid().to_string()).expect("pid file");
        std::fs::write(&go, "").expect("go");
        let mut agent = agent;
        let mut output = String::new();
        if let Some(mut stdout) = agent.0.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut output).expect("agent output");
        }
        let _ = agent.0.wait();
        (daemon, output, alerts)
    }
}

fn tamper_alerts(alerts: &Path) -> Vec<Value> {
    read_events(alerts)
        .into_iter()
        .filter(|alert| str_field(alert, "rule.id") == "sensor-tamper")
        .collect()
}

fn wait_for_kinds(alerts: &Path, kinds: &[&str], log: impl Fn() -> String) -> Vec<Value> {
    let timeout = patience(Duration::from_secs(20));
    let start = Instant::now();
    loop {
        let found = tamper_alerts(alerts);
        if kinds
            .iter()
            .all(|kind| found.iter().any(|a| str_field(a, "agent_sensor.tamper.kind") == *kind))
        {
            return found;
        }
        assert!(
            start.elapsed() < timeout,
            "tamper alerts {kinds:?} missing; got {found:?}\ndaemon log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether this run must be judged by BPF LSM: decided by the environment, not by the daemon.
/// The kernel lab (`AGENT_SENSOR_VM=1`) boots with `lsm=…,bpf`, where the hooks must load; the
/// host's kernels refuse them. The daemon's start-up table (the backend of `open-read`) must say
/// the same, so hooks that fail to load or attach fail the test instead of sending it down the
/// branch of a kernel without BPF LSM.
fn lsm_expected(daemon: &Daemon) -> bool {
    let expected = support::lab::in_lab();
    let attached = daemon
        .log()
        .lines()
        .any(|line| line.trim_start().starts_with("open-read") && line.contains("bpf-lsm"));
    assert_eq!(
        attached,
        expected,
        "BPF LSM hooks attached: {attached}, expected here (AGENT_SENSOR_VM=1 is the kernel lab): {expected}; \
         daemon log:\n{}",
        daemon.log()
    );
    expected
}

#[test]
fn signalling_tracing_or_calling_bpf_from_an_agent_is_alerted() {
    if !require_root("tamper e2e") {
        return;
    }
    let s = Scenario::new("tamper-monitor", "monitor");
    // SIGHUP only makes the daemon reload.
    let (daemon, output, alerts) = s.run(libc::SIGHUP);
    assert!(output.contains("kill ok"), "monitor mode lets it through: {output}");
    let found = wait_for_kinds(&alerts, &["signal", "ptrace", "bpf"], || daemon.log());
    let signal = found
        .iter()
        .find(|a| str_field(a, "agent_sensor.tamper.kind") == "signal")
        .expect("signal alert");
    assert_eq!(str_field(signal, "agent_sensor.tamper.detail"), "SIGHUP");
    assert_eq!(
        field(signal, "agent_sensor.tamper.target_pid").as_u64(),
        Some(u64::from(daemon.pid()))
    );
    assert_eq!(str_field(signal, "gen_ai.agent.name"), "tamper-agent");
    assert!(str_field(signal, "process.name").starts_with("python3"), "{signal}");
    assert_eq!(str_field(signal, "agent_sensor.alert.severity"), "critical");
    let expected = if lsm_expected(&daemon) { "would-deny" } else { "alerted" };
    for alert in &found {
        assert_eq!(str_field(alert, "agent_sensor.action"), expected, "{alert}");
    }
    let _ = daemon.stop();
}

#[test]
fn an_agent_cannot_stop_the_daemon_quietly() {
    if !require_root("tamper e2e") {
        return;
    }
    let s = Scenario::new("tamper-enforce", "enforce");
    let (daemon, output, alerts) = s.run(libc::SIGTERM);
    if lsm_expected(&daemon) {
        // Denied: the daemon is still running and says so.
        assert!(output.contains("kill Operation not permitted"), "{output}");
        // /proc/PID/mem turns the hook's EPERM into EACCES.
        assert!(output.contains("mem Permission denied"), "{output}");
        assert!(output.contains("bpf Operation not permitted"), "{output}");
        let found = wait_for_kinds(&alerts, &["signal", "ptrace", "bpf"], || daemon.log());
        assert!(
            found.iter().all(|a| str_field(a, "agent_sensor.action") == "denied"),
            "{found:?}"
        );
        let mut daemon = daemon;
        assert!(daemon.is_running(), "the daemon survived: {}", daemon.log());
        let _ = daemon.stop();
    } else {
        // Without BPF LSM the signal goes through; the daemon shuts down gracefully and its last
        // words are the alert.
        assert!(output.contains("kill ok"), "{output}");
        let log = daemon.stderr.clone();
        daemon.wait_for_exit(Duration::from_secs(20));
        let found = tamper_alerts(&alerts);
        let signal = found
            .iter()
            .find(|a| str_field(a, "agent_sensor.tamper.kind") == "signal")
            .unwrap_or_else(|| {
                panic!(
                    "no signal alert in {found:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        assert_eq!(str_field(signal, "agent_sensor.tamper.detail"), "SIGTERM");
        assert_eq!(str_field(signal, "agent_sensor.action"), "alerted");
    }
}

#[test]
fn an_unprivileged_agents_refused_kill_of_the_sensor_is_alerted() {
    if !require_root("tamper e2e") {
        return;
    }
    let s = Scenario::new("tamper-refused", "enforce");
    let (daemon, output, alerts) = s.run_as(libc::SIGTERM, "nobody");
    // The kernel refuses it on its own (nobody may not signal root): no LSM hook or
    // signal_generate sees it, the syscall's entry does.
    assert!(output.contains("kill Operation not permitted"), "{output}");
    let found = wait_for_kinds(&alerts, &["signal"], || daemon.log());
    let signal = found
        .iter()
        .find(|a| str_field(a, "agent_sensor.tamper.kind") == "signal")
        .expect("signal alert");
    assert_eq!(str_field(signal, "agent_sensor.tamper.detail"), "SIGTERM");
    assert_eq!(str_field(signal, "agent_sensor.action"), "refused", "{signal}");
    assert_eq!(str_field(signal, "user.id"), "65534", "{signal}");
    let mut daemon = daemon;
    assert!(daemon.is_running(), "the daemon survived: {}", daemon.log());
    let _ = daemon.stop();
}
