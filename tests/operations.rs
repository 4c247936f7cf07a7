//! End-to-end: what an operator of `agent-sensor run` relies on: `status` over the control socket
//! (and `watch` registering with the daemon), the Prometheus endpoint, the event-loss alert,
//! reloading a broken configuration, and `config check`.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::*;

/// A config whose network programs go on a cgroup of the test's own, with `extra` appended.
fn config(dir: &Path, name: &str, extra: &str) -> (String, TestCgroup) {
    let cgroup = TestCgroup::new(name);
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!("enforcement:\n  cgroup: {}\n{extra}", cgroup.path.display()),
    )
    .expect("config");
    (path.display().to_string(), cgroup)
}

fn status(socket: &Path) -> Value {
    let out = sensor()
        .args(["status", "--json", "--control-socket"])
        .arg(socket)
        .output()
        .expect("agent-sensor status");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// Polls `status` until `check` holds.
fn wait_for_status(socket: &Path, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    // A watch loads its own kernel programs and rules first: on a busy machine that takes a while.
    let timeout = patience(Duration::from_secs(60));
    let start = Instant::now();
    loop {
        let report = status(socket);
        if check(&report) {
            return report;
        }
        assert!(start.elapsed() < timeout, "status never showed {what}: {report:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process that waits for `go` to exist, then runs `body` (Python); killed when dropped.
fn waiting_python(dir: &Path, body: &str) -> (ChildGuard, std::path::PathBuf) {
    let go = dir.join("go");
    let script = format!(
        "import os, time\nwhile not os.path.exists({go:?}): time.sleep(0.02)\n{body}\n",
        go = go.display().to_string()
    );
    let child = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("start python");
    (ChildGuard(child), go)
}

fn metrics_address(daemon: &Daemon) -> String {
    daemon.wait_for_log("metrics at http://", Duration::from_secs(10));
    let log = daemon.log();
    let start = log.find("metrics at http://").expect("metrics line") + "metrics at http://".len();
    log[start..].split('/').next().expect("address").to_string()
}

fn scrape(address: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the metrics endpoint");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of one sample line (`name{labels} value`), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[test]
fn status_reports_sessions_backends_rules_and_registered_watches() {
    if !require_root("operations e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (config, _cgroup) = config(d, "status", "");
    let (adopted, go) = waiting_python(d, "time.sleep(30)");
    let daemon = Daemon::start(
        d,
        &[
            "--config",
            &config,
            "--pid",
            &adopted.0.id().to_string(),
            "--name",
            "status-agent",
        ],
    );
    let socket = d.join("control.sock");
    let mode = std::fs::metadata(&socket).expect("socket").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600,
        "root only"
    );

    let report = wait_for_status(&socket, "the adopted session", |report| {
        report["sessions"]
            .as_array()
            .is_some_and(|sessions| sessions.iter().any(|s| s["agent"] == "status-agent"))
    });
    let session = report["sessions"]
        .as_array()
        .and_then(|sessions| sessions.iter().find(|s| s["agent"] == "status-agent"))
        .expect("session");
    assert_eq!(session["root_pid"].as_u64(), Some(u64::from(adopted.0.id())));
    assert_eq!(session["origin"], "adopted");
    assert_eq!(report["mode"], "monitor");
    assert!(report["rules"]["rules"].as_u64() > Some(10), "{report:#}");
    let backends = report["backends"].as_array().expect("backends");
    assert_eq!(
        backends.len(),
        sensor_common::policy::PolicyOp::ALL.len(),
        "one per operation: {backends:?}"
    );
    assert!(
        backends
            .iter()
            .all(|b| b["backend"].as_str().is_some_and(|name| !name.is_empty()))
    );
    assert!(report["counters"]["emitted"].is_u64(), "{report:#}");

    // A watch registers its session with the daemon while it runs.
    let watch_events = d.join("watch-events.jsonl");
    let watch = sensor()
        .arg("watch")
        .arg("--events")
        .arg(&watch_events)
        .arg("--control-socket")
        .arg(&socket)
        .args(["--name", "registered-agent", "--", "sleep", "30"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(ChildGuard)
        .expect("start watch");
    wait_for_status(&socket, "the watch session", |report| {
        report["watch_sessions"].as_array().is_some_and(|list| {
            list.iter()
                .any(|w| w["agent"] == "registered-agent" && w["watcher_pid"] == watch.0.id())
        })
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("stop watch");
    let mut watch = watch;
    let _ = watch.0.wait();
    wait_for_status(&socket, "the watch session gone", |report| {
        report["watch_sessions"].as_array().is_some_and(|list| list.is_empty())
    });

    // Anyone but root is turned away.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(sensor_binary())
        .args(["status", "--control-socket"])
        .arg(&socket)
        .output()
        .expect("status as nobody");
    assert!(!out.status.success(), "nobody read the status");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&socket.display().to_string()),
        "the error names the socket: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&go, "").expect("go");
    drop(adopted);
    let _ = daemon.stop();
    assert!(!socket.exists(), "the daemon removes its socket");
}

#[test]
fn metrics_count_events_and_lost_events_raise_a_rate_limited_alert() {
    if !require_root("operations e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A ring buffer of one page cannot keep up with a tight open loop: the kernel drops events.
    let (config, _cgroup) = config(
        d,
        "loss",
        "capture:\n  ring_buffer_bytes: 4096\nmetrics:\n  listen: 127.0.0.1:0\nloss_alert:\n  lost_events: 1\n  interval_seconds: 3600\n",
    );
    let target = d.join("target.txt");
    std::fs::write(&target, "x").expect("target");
    let (mut spammer, go) = waiting_python(
        d,
        &format!(
            // Distinct missing paths: identical opens would be counted in the kernel, not copied.
            "for i in range(50000):\n    try: os.open({:?} + str(i), os.O_RDONLY)\n    except OSError: pass",
            target.display().to_string()
        ),
    );
    let alerts = d.join("alerts.jsonl");
    let daemon = Daemon::start(
        d,
        &[
            "--config",
            &config,
            "--pid",
            &spammer.0.id().to_string(),
            "--alerts",
            &alerts.display().to_string(),
        ],
    );
    let address = metrics_address(&daemon);
    std::fs::write(&go, "").expect("go");
    assert!(spammer.0.wait().expect("spammer").success());

    let timeout = patience(Duration::from_secs(20));
    let start = Instant::now();
    let loss = loop {
        let found: Vec<Value> = read_events(&alerts)
            .into_iter()
            .filter(|alert| str_field(alert, "rule.id") == "sensor-event-loss")
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            start.elapsed() < timeout,
            "no loss alert; daemon log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let alert = &loss[0];
    assert_eq!(str_field(alert, "event.kind"), "alert");
    assert_eq!(str_field(alert, "rule.ruleset"), "agent-sensor-builtin");
    assert_eq!(str_field(alert, "agent_sensor.alert.severity"), "high");
    let dropped = field(alert, "agent_sensor.loss.since_last_alert.kernel_dropped")
        .as_u64()
        .expect("dropped count");
    assert!(dropped > 0, "{alert}");

    let metrics = scrape(&address);
    let kernel_dropped = sample(
        &metrics,
        "agent_sensor_kernel_dropped_total{reason=\"ring_buffer_full\"}",
    );
    assert!(kernel_dropped >= Some(dropped as f64), "{metrics}");
    assert!(
        sample(&metrics, "agent_sensor_events_total{action=\"open\"}") > Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "agent_sensor_alerts_total{rule=\"sensor-event-loss\",severity=\"high\"}"
        ),
        Some(1.0),
        "one alert per interval: {metrics}"
    );
    assert!(
        metrics.contains("agent_sensor_rule_evaluation_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("agent_sensor_output_queue_depth"), "{metrics}");

    let _ = daemon.stop();
    let all_loss = read_events(&alerts)
        .into_iter()
        .filter(|alert| str_field(alert, "rule.id") == "sensor-event-loss")
        .count();
    assert_eq!(all_loss, 1, "rate-limited to one per interval");
}

#[test]
fn a_broken_configuration_on_sighup_keeps_the_running_one() {
    if !require_root("operations e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (config_path, _cgroup) = config(d, "reload-config", "");
    let daemon = Daemon::start(d, &["--config", &config_path]);
    let socket = d.join("control.sock");
    assert_eq!(status(&socket)["mode"], "monitor");
    let original = std::fs::read_to_string(&config_path).expect("config");

    std::fs::write(&config_path, format!("{original}enforcment:\n  mode: enforce\n")).expect("typo");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_for_log("reload rejected", Duration::from_secs(10));
    assert!(
        daemon.log().contains("config.yaml:3"),
        "names file and line: {}",
        daemon.log()
    );
    assert_eq!(status(&socket)["mode"], "monitor", "the running configuration stays");

    let fixed = original.replace("enforcement:\n", "enforcement:\n  mode: enforce\n");
    std::fs::write(&config_path, fixed).expect("fixed");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_for_log("enforcement mode changed", Duration::from_secs(10));
    wait_for_status(&socket, "enforce mode", |report| report["mode"] == "enforce");
    let _ = daemon.stop();
}

/// Writes `text` as `path` and runs `agent-sensor config check` on it.
fn config_check(path: &Path, text: &str) -> (Option<i32>, String, String) {
    std::fs::write(path, text).expect("config");
    let out = sensor()
        .args(["config", "check"])
        .arg(path)
        .output()
        .expect("config check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_validates_without_starting_and_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    let metrics = "metrics:\n  listen: 127.0.0.1:9464\n";

    let (code, _, stderr) = config_check(&path, &format!("enforcement:\n  mode: monitor\n{metrics}  lisen: 1\n"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("config.yaml:5") && stderr.contains("lisen"), "{stderr}");

    let (code, _, stderr) = config_check(
        &path,
        &format!("enforcement:\n  mode: enforce\n{metrics}rules: [missing-pack.yaml]\n"),
    );
    assert_eq!(code, Some(1), "a missing pack is an error");
    assert!(stderr.contains("missing-pack.yaml"), "{stderr}");

    let (code, stdout, stderr) = config_check(&path, &format!("enforcement:\n  mode: enforce\n{metrics}"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ok: configuration"), "{stdout}");
    assert!(stdout.contains("mode:      enforce"), "{stdout}");
    assert!(stdout.contains("http://127.0.0.1:9464/metrics"), "{stdout}");
}
