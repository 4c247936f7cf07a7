//! Helpers shared by the end-to-end tests: running the real `agent-sensor` binary against the real
//! kernel, and reading what it wrote.
#![allow(dead_code)]

pub mod configured_watch;
pub mod http;
pub mod lab;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

pub mod scenario;

/// True when this test can load eBPF programs. Without root it skips, except in CI (`CI=true`),
/// where a skip would hide a broken run, so it fails instead.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{test} needs root (it loads eBPF programs) and CI=true: run the tests as root");
    }
    eprintln!("skipped {test}: needs root (it loads eBPF programs)");
    record_skip(test);
    false
}

/// Where skipped tests are listed, one per line: the test harness can only pass or fail a test,
/// so `cargo xtask test` reads this list and reports them as skipped.
pub const SKIPPED_LIST: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-e2e.txt");

fn record_skip(test: &str) {
    use std::io::Write as _;
    if let Ok(mut list) = std::fs::OpenOptions::new().create(true).append(true).open(SKIPPED_LIST) {
        let _ = writeln!(list, "{test}");
    }
}

/// Where tests put trees that must not look temporary to the default pack (which ignores
/// deletions and downloads under /tmp, /var/tmp and the like). The build directory is no good:
/// a fresh clone, as in CI, may itself live under /tmp.
const DURABLE_TEST_ROOT: &str = "/var/lib/agent-sensor-e2e";

/// A fresh directory outside every temporary tree, removed (with its parent, once empty) when
/// dropped.
pub fn durable_tempdir(prefix: &str) -> DurableDir {
    std::fs::create_dir_all(DURABLE_TEST_ROOT).expect("create the durable test root");
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(DURABLE_TEST_ROOT)
        .expect("durable test dir");
    DurableDir(Some(dir))
}

pub struct DurableDir(Option<tempfile::TempDir>);

impl DurableDir {
    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
}

impl Drop for DurableDir {
    fn drop(&mut self) {
        drop(self.0.take());
        // Fails while another test still has a directory there: the last one removes it.
        let _ = std::fs::remove_dir(DURABLE_TEST_ROOT);
    }
}

/// How much longer waits may take here: the kernel lab runs under emulation, about ten times
/// slower than the host.
pub fn patience(timeout: Duration) -> Duration {
    if std::env::var("AGENT_SENSOR_VM").is_ok_and(|value| value == "1") {
        timeout * 10
    } else {
        timeout
    }
}

pub fn sensor_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agent-sensor"))
}

pub fn sensor() -> Command {
    let mut command = Command::new(sensor_binary());
    command.env("RUST_LOG", "info");
    // Baselines (and other state) go to this test binary's own directory, not /var/lib.
    command.env("AGENT_SENSOR_STATE_DIR", test_state_dir());
    command
}

/// The state directory of this test binary's sensors: under the target directory, emptied the
/// first time it is asked for in a run, so runs do not learn from each other.
pub fn test_state_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-state-{}", env!("CARGO_CRATE_NAME")));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    })
    .clone()
}

/// Runs `agent-sensor watch --events <events> [extra] -- bash -c <script>`.
pub fn watch(events: &Path, extra: &[&str], script: &str) -> Output {
    let mut command = sensor();
    command.arg("watch").arg("--events").arg(events).args(extra);
    command.args(["--", "bash", "-c", script]);
    command.stdin(Stdio::null());
    command.output().expect("run agent-sensor watch")
}

/// Every JSON line of an events file.
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")))
        .collect()
}

/// `doc["a"]["b"]["c"]` for the dotted name `a.b.c`.
pub fn field<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(doc, |value, key| &value[key])
}

pub fn str_field<'a>(doc: &'a Value, dotted: &str) -> &'a str {
    field(doc, dotted).as_str().unwrap_or("")
}

/// The matches of rule `id` that `alerts` account for, with bursts folded (docs/rules.md): each
/// alert is one match, and a follow-up (`agent_sensor.alert.folded`) the `count` it folded. With
/// their `file.path`s and the follow-ups' samples, in order.
pub fn matches_of(alerts: &[Value], id: &str) -> (u64, Vec<String>) {
    let mut count = 0;
    let mut paths = Vec::new();
    for alert in alerts.iter().filter(|alert| str_field(alert, "rule.id") == id) {
        let folded = field(alert, "agent_sensor.alert.folded");
        if folded.is_object() {
            count += folded["count"].as_u64().unwrap_or(0);
            let sample = folded["sample"].as_array().into_iter().flatten();
            paths.extend(sample.filter_map(Value::as_str).map(str::to_string));
        } else {
            count += 1;
            paths.push(str_field(alert, "file.path").to_string());
        }
    }
    (count, paths)
}

pub fn action(doc: &Value) -> &str {
    str_field(doc, "event.action")
}

/// The event's `process.pid` (0 when absent).
pub fn pid(doc: &Value) -> u64 {
    field(doc, "process.pid").as_u64().unwrap_or(0)
}

/// Events with the given action whose `field` equals `value`.
pub fn find<'a>(events: &'a [Value], action_name: &str, dotted: &str, value: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| action(e) == action_name && str_field(e, dotted) == value)
        .collect()
}

/// A running `agent-sensor run`, stopped with SIGINT when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub events: PathBuf,
    pub stderr: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits until it reports that it is running.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let events = dir.join("daemon-events.jsonl");
        let stderr = dir.join("daemon-stderr.log");
        let log = std::fs::File::create(&stderr).expect("create daemon log");
        let child = sensor()
            .arg("run")
            .arg("--events")
            .arg(&events)
            .arg("--control-socket")
            .arg(dir.join("control.sock"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start agent-sensor run");
        let daemon = Self {
            child: Some(child),
            events,
            stderr,
        };
        daemon.wait_for_log("agent sensor started", Duration::from_secs(60));
        daemon
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let timeout = patience(timeout);
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the daemon did not log {needle:?} within {timeout:?}; its log:\n{}",
            self.log()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// True while the daemon process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Waits for the daemon to exit by itself; it must exit cleanly.
    pub fn wait_for_exit(mut self, timeout: Duration) {
        let timeout = patience(timeout);
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for the daemon") {
                assert!(
                    status.success(),
                    "the daemon failed ({status}); its log:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "the daemon did not exit within {timeout:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).expect("signal the daemon");
    }

    /// Stops the daemon with SIGINT and waits for it to flush and exit; returns its events.
    pub fn stop(mut self) -> Vec<Value> {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal the daemon");
        let status = child.wait().expect("wait for the daemon");
        assert!(
            status.success(),
            "the daemon failed ({status}); its log:\n{}",
            self.log()
        );
        read_events(&self.events)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `path` exists (a script's way of saying it reached a point).
pub fn wait_for_file(path: &Path, timeout: Duration) {
    let timeout = patience(timeout);
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < timeout,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads lines from a child's output until one contains `needle`.
pub fn read_until(reader: impl std::io::Read, needle: &str) -> String {
    let mut seen = String::new();
    for line in BufReader::new(reader).lines() {
        let line = line.expect("read line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return seen;
        }
    }
    panic!("never saw {needle:?} in:\n{seen}");
}

/// A cgroup of the test's own, removed when dropped.
pub struct TestCgroup {
    pub path: PathBuf,
}

impl TestCgroup {
    pub fn new(name: &str) -> Self {
        let mount = agent_sensor::process::cgroup::find_cgroup2_mount().expect("a cgroup v2 hierarchy");
        let path = mount.join(format!("agent-sensor-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A child process killed (and reaped) when the test ends, even when it fails.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `check` returns something, polling; panics with `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let timeout = patience(timeout);
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `watch` running in the background, its standard error in a file; killed (with what is left
/// of its session) when dropped.
pub struct BackgroundWatch {
    pub child: ChildGuard,
    pub stderr: PathBuf,
}

impl BackgroundWatch {
    /// Starts `agent-sensor watch --events <events> [extra] -- bash -c <script>` and waits until
    /// it watches.
    pub fn start(events: &Path, extra: &[&str], script: &str) -> Self {
        let stderr = events.with_extension("stderr.log");
        let log = std::fs::File::create(&stderr).expect("create the watch log");
        let child = sensor()
            .arg("watch")
            .arg("--events")
            .arg(events)
            .args(extra)
            .args(["--", "bash", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start agent-sensor watch");
        let watch = Self {
            child: ChildGuard(child),
            stderr,
        };
        watch.wait_for_log("watching", Duration::from_secs(60));
        watch
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let timeout = patience(timeout);
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                start.elapsed() < timeout,
                "watch did not log {needle:?} within {timeout:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The session id (`gen_ai.agent.id`) from the `watching` line.
    pub fn session(&self) -> String {
        log_value(&self.log(), "watching", "session").expect("the watching line names the session")
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.0.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the watch");
    }

    /// Waits for `watch` to exit; its exit code.
    pub fn wait(&mut self, timeout: Duration) -> i32 {
        let status = wait_until("watch exiting", timeout, || self.child.0.try_wait().expect("wait"));
        status.code().unwrap_or(-1)
    }
}

impl Drop for BackgroundWatch {
    /// Kills what is left of the session (a failed test leaves no writer behind), then `watch`.
    fn drop(&mut self) {
        let session = log_value(&self.log(), "watching", "session");
        if let (Some(session), Ok(mount)) = (session, agent_sensor::process::cgroup::find_cgroup2_mount()) {
            let _ = std::fs::write(mount.join(format!("agent-sensor/watch-{session}/cgroup.kill")), "1");
        }
    }
}

/// The value of `key=` on the first log line containing `message`.
pub fn log_value(log: &str, message: &str, key: &str) -> Option<String> {
    let line = log.lines().find(|line| line.contains(message))?;
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_string())
}

/// Runs `agent-sensor session <args>`.
pub fn session_command(args: &[&str]) -> Output {
    sensor()
        .arg("session")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run agent-sensor session")
}

/// `agent-sensor session <args>`, which must succeed; its standard output.
pub fn session_ok(args: &[&str]) -> String {
    let out = session_command(args);
    assert!(
        out.status.success(),
        "agent-sensor session {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entry of `session` in `agent-sensor session list --json` (through `socket`).
pub fn listed_session(socket: &Path, session: &str) -> Option<Value> {
    let text = session_ok(&["list", "--json", "--control-socket", &socket.display().to_string()]);
    let list: Vec<Value> = serde_json::from_str(&text).expect("session list --json");
    list.into_iter().find(|entry| str_field(entry, "session") == session)
}

/// Whether a process is running (a zombie no longer counts).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Asserts that `path` stops growing for `quiet` (frozen writers), then returns its size.
pub fn assert_not_growing(path: &Path, quiet: Duration) -> u64 {
    let before = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(quiet);
    let after = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    assert_eq!(before, after, "{} grew while the session was frozen", path.display());
    after
}

/// Waits until `path` grows past `size` (its writers run).
pub fn wait_for_growth(path: &Path, size: u64, timeout: Duration) {
    wait_until(&format!("{} growing", path.display()), timeout, || {
        (std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > size).then_some(())
    });
}
