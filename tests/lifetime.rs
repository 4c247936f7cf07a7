//! End-to-end: a `watch` session outlives its COMMAND. What COMMAND leaves behind (a new
//! session, a double fork, nohup) stays tracked until it exits, and `watch` waits for it, or kills
//! it (`--on-exit kill`, Ctrl-C while waiting), reporting how many it found; an operator freezes,
//! thaws and kills a session without a daemon. Run on the host and in the kernel lab.

mod support;

use std::{collections::HashSet, time::Duration};

use serde_json::Value;
use support::*;

const PYTHON: &str = "/usr/bin/python3";

/// The pids of the session's processes other than COMMAND: every child a fork event names.
fn forked_children(events: &[Value]) -> Vec<u32> {
    events
        .iter()
        .filter(|e| action(e) == "fork")
        .filter_map(|e| field(e, "agent_sensor.fork.child_pid").as_u64())
        .map(|pid| pid as u32)
        .collect()
}

/// The number after `key=` in the session summary line.
fn summary(stderr: &str, key: &str) -> usize {
    log_value(stderr, "session summary", key)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the session summary: {stderr}"))
}

#[test]
fn daemonised_children_outliving_the_command_stay_tracked_and_watch_waits_for_them() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    for secret in ["setsid-secret", "double-secret", "nohup-secret"] {
        std::fs::write(dir.path().join(secret), "k").expect("fixture");
    }
    let events_path = dir.path().join("events.jsonl");
    // Three ways out of COMMAND's tree that all outlive it: a new session, a double fork, nohup.
    let script = format!(
        "setsid sh -c 'sleep 1; cat {d}/setsid-secret > /dev/null; touch {d}/setsid-done' &\n\
         (sh -c 'sleep 1; cat {d}/double-secret > /dev/null; touch {d}/double-done' &)\n\
         nohup sh -c 'sleep 1; cat {d}/nohup-secret > /dev/null; touch {d}/nohup-done' > /dev/null 2>&1 &\n\
         exit 4"
    );
    let out = watch(&events_path, &[], &script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "watch keeps COMMAND's status: {stderr}");
    assert!(stderr.contains("watch waits for them"), "the user is told: {stderr}");
    assert!(stderr.contains("Ctrl-C again"), "and how to stop waiting: {stderr}");
    assert!(summary(&stderr, "left_running") >= 3, "{stderr}");
    assert_eq!(summary(&stderr, "killed"), 0, "{stderr}");
    for done in ["setsid-done", "double-done", "nohup-done"] {
        assert!(dir.path().join(done).exists(), "watch returned before {done}");
    }
    let events = read_events(&events_path);
    let session = str_field(&events[0], "gen_ai.agent.id").to_string();
    for secret in ["setsid-secret", "double-secret", "nohup-secret"] {
        let reads = find(&events, "open", "file.path", &format!("{d}/{secret}"));
        assert_eq!(reads.len(), 1, "the late read of {secret} is recorded: {stderr}");
        assert_eq!(str_field(reads[0], "gen_ai.agent.id"), session);
    }
    let exited: HashSet<u64> = events.iter().filter(|e| action(e) == "exit").map(pid).collect();
    for child in forked_children(&events) {
        assert!(
            exited.contains(&(child as u64)),
            "process {child} was recorded until it exited"
        );
    }
}

#[test]
fn on_exit_kill_kills_what_the_command_left_and_reports_how_many() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let events_path = dir.path().join("events.jsonl");
    let script = format!(
        "setsid sh -c 'sleep 60; touch {d}/late' > /dev/null 2>&1 &\n\
         (sh -c 'sleep 60; touch {d}/late' > /dev/null 2>&1 &)\n\
         exit 3"
    );
    let out = watch(&events_path, &["--on-exit", "kill"], &script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("killing them (--on-exit kill)"), "{stderr}");
    let left = summary(&stderr, "left_running");
    assert!(
        left >= 2,
        "two shells (and their sleeps, once started) were left: {stderr}"
    );
    assert!(
        summary(&stderr, "killed") >= left,
        "a shell may start its sleep meanwhile: {stderr}"
    );
    assert!(!dir.path().join("late").exists());
    let events = read_events(&events_path);
    let children = forked_children(&events);
    assert!(children.len() >= 2, "{children:?}");
    for child in children {
        assert!(!process_alive(child), "process {child} of the session survived");
    }
    let session = str_field(&events[0], "gen_ai.agent.id").to_string();
    let cgroup = agent_sensor::process::cgroup::find_cgroup2_mount()
        .expect("cgroup2")
        .join(format!("agent-sensor/watch-{session}"));
    assert!(!cgroup.exists(), "the session cgroup is removed");
}

#[test]
fn interrupting_watch_while_it_waits_kills_what_the_command_left() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let events_path = dir.path().join("events.jsonl");
    let script = format!("setsid sh -c 'sleep 60; touch {d}/late' > /dev/null 2>&1 &\nexit 0");
    let mut watch = BackgroundWatch::start(&events_path, &["--control-socket", &format!("{d}/none.sock")], &script);
    watch.wait_for_log("watch waits for them", Duration::from_secs(20));
    watch.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(watch.wait(Duration::from_secs(20)), 0, "COMMAND's status");
    let stderr = watch.log();
    assert!(stderr.contains("SIGINT: killing"), "{stderr}");
    // The shell may have started its sleep between the two counts.
    assert!(summary(&stderr, "left_running") >= 1, "{stderr}");
    assert!(
        summary(&stderr, "killed") >= summary(&stderr, "left_running"),
        "{stderr}"
    );
    for child in forked_children(&read_events(&events_path)) {
        assert!(!process_alive(child), "process {child} of the session survived");
    }
}

#[test]
fn an_operator_freezes_thaws_and_kills_a_watch_session_without_a_daemon() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let progress = dir.path().join("progress");
    let events_path = dir.path().join("events.jsonl");
    // No daemon answers on this socket: the CLI acts on the session's cgroup itself.
    let socket = dir.path().join("none.sock");
    let s = socket.display().to_string();
    // A parent and a forked child both append to `progress`, slowly enough to add few events.
    let script = format!(
        "exec {PYTHON} -c \"import os, time\nos.fork()\nwhile True:\n    open('{d}/progress', 'a').write('x')\n    time.sleep(0.05)\""
    );
    let mut watch = BackgroundWatch::start(&events_path, &["--control-socket", &s], &script);
    let session = watch.session();
    wait_for_growth(&progress, 0, Duration::from_secs(10));
    let listed = listed_session(&socket, &session).expect("session list shows the watch session");
    assert_eq!(str_field(&listed, "state"), "running");
    assert_eq!(str_field(&listed, "kind"), "watch");
    let cgroup = agent_sensor::process::cgroup::find_cgroup2_mount()
        .expect("cgroup2")
        .join(str_field(&listed, "cgroup").trim_start_matches('/'));

    let frozen = session_ok(&["freeze", &session[..8], "--control-socket", &s]);
    assert!(frozen.contains("frozen"), "{frozen}");
    assert!(frozen.contains("directly"), "no daemon, so on the cgroup: {frozen}");
    let listed = listed_session(&socket, &session).expect("listed");
    assert_eq!(str_field(&listed, "state"), "frozen");
    let size = assert_not_growing(&progress, Duration::from_millis(500));
    watch.wait_for_log("the session was frozen", Duration::from_secs(10));

    let thawed = session_ok(&["thaw", &session, "--control-socket", &s]);
    assert!(thawed.contains("thawed"), "{thawed}");
    wait_for_growth(&progress, size, Duration::from_secs(10));
    watch.wait_for_log("the session was thawed", Duration::from_secs(10));

    let members: Vec<u32> = std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .expect("cgroup.procs")
        .lines()
        .filter_map(|line| line.parse().ok())
        .collect();
    assert!(members.len() >= 2, "{members:?}");
    let killed = session_ok(&["kill", &session, "--control-socket", &s, "--json"]);
    let reply: Value = serde_json::from_str(&killed).expect("json reply");
    assert_eq!(str_field(&reply, "state"), "killed", "{reply}");
    assert!(field(&reply, "processes").as_u64() >= Some(2), "{reply}");
    assert_eq!(watch.wait(Duration::from_secs(20)), 128 + 9, "COMMAND died of SIGKILL");
    for pid in members {
        assert!(!process_alive(pid), "process {pid} of the session survived");
    }
    assert!(!cgroup.exists(), "the session cgroup is removed");
}
