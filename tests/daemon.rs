//! End-to-end: `agent-sensor run` starts sessions in the kernel when an agent profile matches an
//! exec, and adopts running processes given with `--pid`.

mod support;

use std::{collections::HashSet, os::unix::fs::PermissionsExt, path::Path, time::Duration};

use serde_json::Value;
use support::*;

/// A profile file whose only agent is `name`, and a config that uses it. The daemon's network
/// programs go on a cgroup of the test's own (by default they would cover the whole machine).
fn config_with_agent(dir: &Path, agent: &str, command: &str) -> (String, TestCgroup) {
    std::fs::write(
        dir.join("agents.yaml"),
        format!("version: 1\ninterpreters: [python3]\nagents:\n  - name: {agent}\n    commands: [{command}]\n"),
    )
    .expect("profiles");
    let cgroup = TestCgroup::new(agent);
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "profiles: agents.yaml\nenforcement:\n  cgroup: {}\n",
            cgroup.path.display()
        ),
    )
    .expect("config");
    (config.display().to_string(), cgroup)
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/bash\n{body}\n")).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn pids_of(events: &[Value], session: &str) -> HashSet<u64> {
    events
        .iter()
        .filter(|e| str_field(e, "gen_ai.agent.id") == session)
        .filter_map(|e| field(e, "process.pid").as_u64())
        .collect()
}

#[test]
fn an_exec_matching_a_profile_starts_a_session_in_the_kernel() {
    if !require_root("daemon e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let command = format!("e2e-agent-{}", std::process::id());
    let (config, _cgroup) = config_with_agent(d, "test-agent", &command);
    std::fs::write(d.join("key"), "k").expect("fixture");
    let agent = d.join(&command);
    script(
        &agent,
        &format!(
            "cat {}/key > /dev/null\nbash -c 'cat {}/key > /dev/null'",
            d.display(),
            d.display()
        ),
    );
    let bystander = d.join("not-an-agent");
    script(&bystander, &format!("cat {}/key > /dev/null", d.display()));

    let daemon = Daemon::start(d, &["--config", &config]);
    let run = |program: &Path| {
        let status = std::process::Command::new(program).status().expect("run script");
        assert!(status.success());
    };
    run(&agent);
    run(&bystander);
    // An interpreter running the agent: `python3 <dir>/<command>` matches by its argument.
    let status = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg("import sys")
        .arg(&agent)
        .status()
        .expect("python");
    assert!(status.success());
    let events = daemon.stop();

    let sessions: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "exec" && str_field(e, "agent_sensor.exec.filename") == agent.display().to_string())
        .collect();
    assert_eq!(sessions.len(), 1, "the agent's exec starts one session: {sessions:?}");
    let session = str_field(sessions[0], "gen_ai.agent.id").to_string();
    assert_eq!(str_field(sessions[0], "gen_ai.agent.name"), "test-agent");
    let key = format!("{}/key", d.display());
    let reads: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "open" && str_field(e, "file.path") == key)
        .collect();
    assert_eq!(
        reads.len(),
        2,
        "both reads of the agent tree, none of the bystander: {reads:?}"
    );
    assert!(reads.iter().all(|e| str_field(e, "gen_ai.agent.id") == session));
    assert!(
        pids_of(&events, &session).len() >= 3,
        "the agent, its bash and two cats"
    );
    assert!(
        !events.iter().any(|e| e.to_string().contains("not-an-agent")),
        "the bystander is not tracked"
    );
    let python: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "exec" && str_field(e, "process.name").starts_with("python3"))
        .collect();
    assert_eq!(
        python.len(),
        1,
        "python3 with the agent as an argument is an agent: {python:?}"
    );
    assert_ne!(str_field(python[0], "gen_ai.agent.id"), session, "a session of its own");
}

#[test]
fn pid_adopts_a_running_tree_and_its_future_children() {
    if !require_root("daemon e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let go = dir.path().join("go");
    // A running "agent": a shell with a child that waits, both acting once `go` appears.
    let body = format!(
        "(while [ ! -e {d}/go ]; do sleep 0.02; done; cat {d}/go > /dev/null; echo done > {d}/child-done) &\n\
         touch {d}/ready\n\
         while [ ! -e {d}/go ]; do sleep 0.02; done\n\
         cat {d}/go > /dev/null\n\
         wait\n\
         touch {d}/parent-done"
    );
    let mut agent = std::process::Command::new("bash")
        .args(["-c", &body])
        .spawn()
        .expect("start tree");
    wait_for_file(&dir.path().join("ready"), Duration::from_secs(10));
    let (config, _cgroup) = config_with_agent(dir.path(), "unused", &format!("unused-{}", std::process::id()));
    let root = agent.id().to_string();
    let daemon = Daemon::start(
        dir.path(),
        &["--config", &config, "--pid", &root, "--name", "adopted-agent"],
    );
    daemon.wait_for_log("adopted a running agent", Duration::from_secs(10));
    std::fs::write(&go, "go").expect("go");
    wait_for_file(&dir.path().join("parent-done"), Duration::from_secs(20));
    let _ = agent.wait();
    let events = daemon.stop();

    let go_reads: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "open" && str_field(e, "file.path") == go.display().to_string())
        .collect();
    assert!(
        go_reads.len() >= 2,
        "the adopted shell's child and grandchild cats both read `go`: {go_reads:?}"
    );
    let sessions: HashSet<&str> = go_reads.iter().map(|e| str_field(e, "gen_ai.agent.id")).collect();
    assert_eq!(sessions.len(), 1);
    assert!(
        go_reads
            .iter()
            .all(|e| str_field(e, "gen_ai.agent.name") == "adopted-agent")
    );
    let done = events
        .iter()
        .find(|e| action(e) == "open" && str_field(e, "file.path") == format!("{d}/child-done"))
        .expect("the pre-existing child's write is seen");
    assert_eq!(str_field(done, "agent_sensor.open.access"), "write");
}

#[test]
fn sighup_reloads_rules_and_a_broken_pack_keeps_the_previous_ones() {
    if !require_root("daemon e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let command = format!("e2e-reload-{}", std::process::id());
    let (config, _cgroup) = config_with_agent(d, "reload-agent", &command);
    let rules = d.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    let pack = rules.join("10-test.yaml");
    let rule = |id: &str, name: &str| {
        format!(
            "rules:\n  - id: {id}\n    name: marker read\n    description: the test's marker was read\n    severity: low\n    when: {{event.action: open, file.name: {name}}}\n"
        )
    };
    std::fs::write(&pack, rule("e2e-marker-a", "marker-a")).expect("pack");
    for marker in ["marker-a", "marker-b"] {
        std::fs::write(d.join(marker), "x").expect("marker");
    }
    let agent = d.join(&command);
    script(
        &agent,
        &format!("cat {0}/marker-a {0}/marker-b > /dev/null", d.display()),
    );
    let alerts = d.join("alerts.jsonl");
    let daemon = Daemon::start(
        d,
        &[
            "--config",
            &config,
            "--rules",
            &rules.display().to_string(),
            "--alerts",
            &alerts.display().to_string(),
        ],
    );
    let run_agent = || {
        let status = std::process::Command::new(&agent).status().expect("agent");
        assert!(status.success());
    };
    let wait_for_alerts = |count: usize| {
        let start = std::time::Instant::now();
        loop {
            let found = read_events(&alerts);
            if found.len() >= count {
                return found;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "only {} alerts: {found:?}",
                found.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let hangup = |daemon: &Daemon| daemon.signal(nix::sys::signal::Signal::SIGHUP);

    run_agent();
    let first = wait_for_alerts(1);
    assert_eq!(str_field(&first[0], "rule.id"), "e2e-marker-a");

    std::fs::write(&pack, "rules:\n  - id: e2e-marker-a\n    when: {file.pth: marker-a}\n").expect("broken pack");
    hangup(&daemon);
    daemon.wait_for_log("reload rejected", Duration::from_secs(10));
    assert!(
        daemon.log().contains("unknown event field `file.pth`"),
        "{}",
        daemon.log()
    );
    run_agent();
    let second = wait_for_alerts(2);
    assert_eq!(
        str_field(&second[1], "rule.id"),
        "e2e-marker-a",
        "the previous rules stay active"
    );

    std::fs::write(&pack, rule("e2e-marker-b", "marker-b")).expect("new pack");
    hangup(&daemon);
    daemon.wait_for_log("rules reloaded", Duration::from_secs(10));
    run_agent();
    let third = wait_for_alerts(3);
    assert_eq!(str_field(&third[2], "rule.id"), "e2e-marker-b");
    let _ = daemon.stop();
}

/// A python loop appending to `<dir>/progress` (with a forked child doing the same) until
/// `<dir>/stop` exists; slow enough to add few events.
fn writer_loop(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "import os, time\nos.fork()\nwhile not os.path.exists('{d}/stop'):\n    open('{d}/progress', 'a').write('x')\n    time.sleep(0.05)"
    )
}

fn sensor_json(args: &[&str]) -> Value {
    let text = session_ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: bad JSON {text:?}: {e}"))
}

fn cgroup_members(relative: &str) -> Vec<u32> {
    let mount = agent_sensor::process::cgroup::find_cgroup2_mount().expect("cgroup2");
    std::fs::read_to_string(mount.join(relative.trim_start_matches('/')).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.parse().ok())
        .collect()
}

#[test]
fn a_profile_session_outlives_its_root_and_an_operator_freezes_thaws_and_kills_it() {
    if !require_root("daemon e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let command = format!("e2e-freeze-{}", std::process::id());
    let (config, _cgroup) = config_with_agent(d, "freeze-agent", &command);
    std::fs::write(d.join("key"), "k").expect("fixture");
    // The agent daemonises a worker and exits at once; the worker reads the key a second later,
    // then keeps writing.
    let worker = format!(
        "import time\ntime.sleep(1)\nopen('{}/key').read()\n{}",
        d.display(),
        writer_loop(d)
    );
    let agent = d.join(&command);
    script(
        &agent,
        &format!("setsid /usr/bin/python3 -c \"{worker}\" > /dev/null 2>&1 &\nexit 0"),
    );
    let daemon = Daemon::start(d, &["--config", &config]);
    let socket = d.join("control.sock");
    let s = socket.display().to_string();
    let status = std::process::Command::new(&agent).status().expect("run the agent");
    assert!(status.success());

    // The root is gone; the session lives on in its daemonised worker.
    let listed = wait_until("the session listed by the daemon", Duration::from_secs(20), || {
        let list = sensor_json(&["list", "--json", "--control-socket", &s]);
        list.as_array()?
            .iter()
            .find(|entry| str_field(entry, "agent") == "freeze-agent")
            .cloned()
    });
    let session = str_field(&listed, "session").to_string();
    let root = field(&listed, "root_pid").as_u64().expect("root pid") as u32;
    wait_for_growth(&d.join("progress"), 0, Duration::from_secs(20));
    assert!(!process_alive(root), "the agent's root process exited");
    // The status is published every second: wait for the worker's fork to show.
    wait_until("the worker and its child counted", Duration::from_secs(10), || {
        let listed = listed_session(&socket, &session).expect("still listed after the root exited");
        (field(&listed, "processes").as_u64() >= Some(2)).then_some(())
    });

    let reply = sensor_json(&["freeze", &session, "--control-socket", &s, "--json"]);
    assert_eq!(str_field(&reply, "via"), "daemon", "{reply}");
    assert_eq!(str_field(&reply, "kind"), "daemon", "{reply}");
    assert_eq!(str_field(&reply, "state"), "frozen", "{reply}");
    let cgroup = str_field(&reply, "cgroup").to_string();
    assert_eq!(cgroup, format!("/agent-sensor/session-{session}"));
    let members = cgroup_members(&cgroup);
    assert!(
        members.len() >= 2,
        "the worker and its child were moved in: {members:?}"
    );
    let size = assert_not_growing(&d.join("progress"), Duration::from_millis(500));
    let listed = listed_session(&socket, &session).expect("listed");
    assert_eq!(str_field(&listed, "state"), "frozen");
    let status = sensor()
        .args(["status", "--control-socket", &s])
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.lines()
            .any(|line| line.contains(&session) && line.contains("FROZEN")),
        "{text}"
    );

    let reply = sensor_json(&["thaw", &session[..10], "--control-socket", &s, "--json"]);
    assert_eq!(str_field(&reply, "state"), "running", "{reply}");
    wait_for_growth(&d.join("progress"), size, Duration::from_secs(20));

    let reply = sensor_json(&["kill", &session, "--control-socket", &s, "--json"]);
    assert_eq!(str_field(&reply, "state"), "killed", "{reply}");
    assert!(field(&reply, "processes").as_u64() >= Some(2), "{reply}");
    for pid in members {
        assert!(!process_alive(pid), "process {pid} of the session survived");
    }
    wait_until("the session ending", Duration::from_secs(20), || {
        listed_session(&socket, &session).is_none().then_some(())
    });
    let mount = agent_sensor::process::cgroup::find_cgroup2_mount().expect("cgroup2");
    wait_until("the session cgroup removed", Duration::from_secs(20), || {
        (!mount.join(cgroup.trim_start_matches('/')).exists()).then_some(())
    });
    let events = daemon.stop();
    let reads = events
        .iter()
        .filter(|e| action(e) == "open" && str_field(e, "file.path") == format!("{}/key", d.display()))
        .collect::<Vec<_>>();
    assert_eq!(reads.len(), 1, "the worker's read after its root exited is recorded");
    assert_eq!(str_field(reads[0], "gen_ai.agent.id"), session);
}

#[test]
fn a_watch_session_registered_with_the_daemon_is_frozen_and_thawed_through_it() {
    if !require_root("daemon e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (config, _cgroup) = config_with_agent(d, "unused", &format!("unused-{}", std::process::id()));
    let daemon = Daemon::start(d, &["--config", &config]);
    let socket = d.join("control.sock");
    let s = socket.display().to_string();
    let script = format!("exec /usr/bin/python3 -c \"{}\"", writer_loop(d));
    let mut watch = BackgroundWatch::start(&d.join("watch-events.jsonl"), &["--control-socket", &s], &script);
    watch.wait_for_log("session registered with the daemon", Duration::from_secs(10));
    let session = watch.session();
    wait_for_growth(&d.join("progress"), 0, Duration::from_secs(20));

    let reply = sensor_json(&["freeze", &session, "--control-socket", &s, "--json"]);
    assert_eq!(str_field(&reply, "via"), "daemon", "{reply}");
    assert_eq!(str_field(&reply, "kind"), "watch", "{reply}");
    assert_eq!(str_field(&reply, "state"), "frozen", "{reply}");
    let size = assert_not_growing(&d.join("progress"), Duration::from_millis(500));
    let status = sensor()
        .args(["status", "--json", "--control-socket", &s])
        .output()
        .expect("status");
    let report: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let watched = report["watch_sessions"]
        .as_array()
        .and_then(|list| list.iter().find(|entry| str_field(entry, "session") == session))
        .unwrap_or_else(|| panic!("the watch session in {report}"));
    assert_eq!(str_field(watched, "state"), "frozen", "{watched}");
    watch.wait_for_log("the session was frozen", Duration::from_secs(10));

    let reply = sensor_json(&["thaw", &session, "--control-socket", &s, "--json"]);
    assert_eq!(str_field(&reply, "state"), "running", "{reply}");
    wait_for_growth(&d.join("progress"), size, Duration::from_secs(20));
    watch.wait_for_log("the session was thawed", Duration::from_secs(10));

    std::fs::write(d.join("stop"), "").expect("stop");
    assert_eq!(watch.wait(Duration::from_secs(30)), 0);
    let _ = daemon.stop();
}
