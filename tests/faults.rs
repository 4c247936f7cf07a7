//! End-to-end: faults the sensor must survive, each with the outcome docs/reliability.md states.
//!
//! - `kill -9` of the daemon while alerts stream into the HTTP spool, then a restart;
//! - a full disk under the HTTP spool and under the state (baseline) directory: a small tmpfs the
//!   test mounts in its own directory, fills, frees and unmounts;
//! - receivers answering 500, 413 (bodies over a limit) and very slowly (holding requests);
//! - a corrupt spool segment left by an earlier run;
//! - a full tracked-process map (shrunk with the test-only `AGENT_SENSOR_TEST_MAX_TRACKED`).
//!
//! Receivers listen on loopback only. Waits have generous deadlines; nothing is timed.

#[path = "support/faults.rs"]
mod injected;
mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use injected::{Behaviour, FaultyReceiver, Tmpfs};
use serde_json::Value;
use support::{configured_watch::ConfiguredWatch, *};

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// A rule pack: reading a file named `high-*` raises a high alert.
fn rule_pack(dir: &Path) -> PathBuf {
    let path = dir.join("pack.yaml");
    std::fs::write(
        &path,
        "ruleset: faults-e2e\nrules:\n\
         \x20 - id: e2e-high\n    name: high marker read\n    description: e2e\n    severity: high\n\
         \x20   when: {event.action: open, file.name: {glob: 'high-*'}}\n",
    )
    .expect("rule pack");
    for n in 1..=40 {
        std::fs::write(dir.join(format!("high-{n}")), "h").expect("marker");
    }
    path
}

/// `cat` of markers `first..=last`, as a shell fragment (no command substitution: no subshell).
fn reads(dir: &Path, first: u32, last: u32) -> String {
    format!(
        "for i in {{{first}..{last}}}; do cat {}/high-$i > /dev/null; done",
        dir.display()
    )
}

/// The configuration: state in `state`, alert folding off (every alert is counted), these outputs.
fn config(dir: &Path, state: &Path, outputs: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "state_dir: {}\nalerts:\n  fold: {{window_ms: 0}}\noutputs:\n{outputs}",
            state.display()
        ),
    )
    .expect("config");
    path
}

/// An HTTP output `siem` to `url` (fast batches and retries) and the reference file `alerts.jsonl`.
fn siem_outputs(url: &str, extra: &str) -> String {
    format!(
        "  - name: siem\n    type: http\n    format: elasticsearch\n    url: {url}\n\
         \x20   batch_max_events: 5\n    batch_max_wait_ms: 100\n    retry_initial_ms: 50\n    retry_max_seconds: 1\n\
         {extra}\
         \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n"
    )
}

/// The alerts of rule `e2e-high` in a JSON lines file, in order (complete lines only).
fn high_alerts(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|doc| str_field(doc, "rule.id") == "e2e-high")
        .collect()
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter().map(|doc| str_field(doc, "event.id").to_string()).collect()
}

/// How many times each id occurs.
fn tally(ids: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    counts
}

/// The ids of e2e alerts the receiver accepted (copies included).
fn accepted_high(behaviour: &Behaviour) -> Vec<String> {
    ids(&behaviour
        .accepted()
        .into_iter()
        .filter(|doc| str_field(doc, "rule.id") == "e2e-high")
        .collect::<Vec<_>>())
}

/// The `.ndjson` segments of the spool of output `name`, oldest first.
fn segments(state: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(state.join("spool").join(name))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "ndjson"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The counters of output `name` from its "output closed" log line.
fn closed_counters(log: &str, name: &str) -> BTreeMap<String, u64> {
    let line = log
        .lines()
        .find(|line| line.contains("output closed") && line.contains(&format!("output={name} ")))
        .unwrap_or_else(|| panic!("no 'output closed' line for {name}:\n{log}"));
    ["written", "delivered", "failed", "dropped", "queued"]
        .into_iter()
        .map(|key| {
            let value = log_value(line, "output closed", key)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {line}"));
            (key.to_string(), value)
        })
        .collect()
}

fn touch(path: PathBuf) {
    std::fs::write(path, "").expect("touch");
}

/// `touch PHASE; wait for GO` as a shell fragment.
fn checkpoint(dir: &Path, phase: &str, go: &str) -> String {
    format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.05; done",
        dir.join(phase).display(),
        dir.join(go).display()
    )
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the daemon in the middle of spool writes

#[test]
fn kill_9_mid_spool_then_restart_delivers_every_spooled_alert_once() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    // `Daemon` runs the sensor with this test binary's state directory.
    let state = test_state_dir();
    let command = format!("e2e-faults-{}", std::process::id());
    std::fs::write(
        d.join("agents.yaml"),
        format!("version: 1\nagents:\n  - name: faults-agent\n    commands: [{command}]\n"),
    )
    .expect("profiles");
    // The agent reads markers until told to stop: alerts stream in while the daemon is killed.
    let agent = d.join(&command);
    std::fs::write(
        &agent,
        format!(
            "#!/bin/bash\nwhile [ ! -e {stop} ]; do {reads}; done\n",
            stop = d.join("stop").display(),
            reads = reads(d, 1, 40)
        ),
    )
    .expect("agent");
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cgroup = TestCgroup::new("faults-kill");

    // The first receiver takes requests and never answers: the first batch stays in flight.
    let held = Arc::new(Behaviour::default());
    held.hold.store(true, Ordering::SeqCst);
    let mut first = FaultyReceiver::start(0, held.clone());
    let config_path = d.join("config.yaml");
    std::fs::write(
        &config_path,
        format!(
            "profiles: agents.yaml\nalerts:\n  fold: {{window_ms: 0}}\nenforcement:\n  cgroup: {}\noutputs:\n{}",
            cgroup.path.display(),
            siem_outputs(
                &first.url("/_bulk"),
                "    timeout_seconds: 600\n    shutdown_timeout_seconds: 60\n"
            )
        ),
    )
    .expect("config");
    let args = [
        "--config".to_string(),
        config_path.display().to_string(),
        "--rules".to_string(),
        pack.display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    std::fs::create_dir_all(d.join("run1")).expect("run1");
    let daemon = Daemon::start(&d.join("run1"), &args);
    let mut agent_process = ChildGuard(Command::new(&agent).spawn().expect("start the agent"));

    wait_until(
        "a batch in flight and segments spooled",
        Duration::from_secs(300),
        || {
            (!held.requests().is_empty()
                && segments(&state, "siem").len() >= 5
                && high_alerts(&d.join("alerts.jsonl")).len() >= 100)
                .then_some(())
        },
    );
    daemon.signal(nix::sys::signal::Signal::SIGKILL);
    drop(daemon);
    touch(d.join("stop"));
    wait_until("the agent to stop", Duration::from_secs(300), || {
        agent_process.0.try_wait().expect("wait").map(|_| ())
    });

    // What the killed daemon left: the spool and the reference file.
    let spooled: Vec<String> = segments(&state, "siem")
        .iter()
        .flat_map(|segment| ids(&high_alerts(segment)))
        .collect();
    let reference = ids(&high_alerts(&d.join("alerts.jsonl")));
    let in_flight = accepted_or_held(&held);
    assert!(!in_flight.is_empty());
    let spooled_set: BTreeSet<&String> = spooled.iter().collect();
    assert!(
        in_flight.iter().all(|id| spooled_set.contains(id)),
        "the unanswered batch is still in the spool"
    );
    assert_eq!(tally(&spooled).values().max(), Some(&1), "each alert spooled once");
    // Lost to the kill: only the newest alerts, those the daemon had not written out yet.
    let missing_from_spool = missing_suffix(&reference, &spooled_set, "reference", "spool");
    let reference_set: BTreeSet<&String> = reference.iter().collect();
    let missing_from_file = missing_suffix(&spooled, &reference_set, "spool", "reference file");
    eprintln!(
        "killed with {} alerts spooled; {missing_from_spool} in the file only, {missing_from_file} in the spool only",
        spooled.len()
    );

    // The restart: a receiver that answers; every spooled alert is delivered exactly once.
    first.stop();
    let answered = Arc::new(Behaviour::default());
    let _second = FaultyReceiver::start(first.port, answered.clone());
    std::fs::create_dir_all(d.join("run2")).expect("run2");
    let daemon = Daemon::start(&d.join("run2"), &args);
    wait_until("the spooled alerts delivered", Duration::from_secs(300), || {
        let got: BTreeSet<String> = accepted_high(&answered).into_iter().collect();
        spooled.iter().all(|id| got.contains(id)).then_some(())
    });
    daemon.stop();
    let delivered = accepted_high(&answered);
    assert_eq!(
        delivered.iter().collect::<BTreeSet<_>>(),
        spooled_set,
        "exactly what was spooled is delivered"
    );
    assert_eq!(tally(&delivered).values().max(), Some(&1), "each alert delivered once");
    assert!(segments(&state, "siem").is_empty(), "the spool is empty once delivered");
}

/// The ids of every request the receiver read (answered or held).
fn accepted_or_held(behaviour: &Behaviour) -> Vec<String> {
    behaviour
        .requests()
        .iter()
        .flat_map(injected::Request::documents)
        .map(|doc| str_field(&doc, "event.id").to_string())
        .collect()
}

/// Asserts that the ids of `ordered` missing from `other` are all at its end (only the newest
/// lines were lost); returns how many.
fn missing_suffix(ordered: &[String], other: &BTreeSet<&String>, name: &str, other_name: &str) -> usize {
    let first_missing = ordered.iter().position(|id| !other.contains(id));
    let Some(first_missing) = first_missing else {
        return 0;
    };
    let tail = &ordered[first_missing..];
    assert!(
        tail.iter().all(|id| !other.contains(id)),
        "alerts of the {name} are missing from the {other_name} before its newest ones: {} of {}",
        tail.iter().filter(|id| !other.contains(id)).count(),
        ordered.len()
    );
    assert!(
        tail.len() <= 50,
        "the {other_name} lacks the {name}'s newest {} alerts: more than a few batches",
        tail.len()
    );
    tail.len()
}

// ---------------------------------------------------------------------------------------------
// A full disk

#[test]
fn a_full_disk_under_the_spool_is_reported_by_path_counted_and_recovered() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let disk = Tmpfs::mount(&d.join("state"), "1m");
    let behaviour = Arc::new(Behaviour::default());
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    let config = config(
        d,
        &disk.path,
        &siem_outputs(&receiver.url("/_bulk"), "    shutdown_timeout_seconds: 60\n"),
    );
    let script = format!(
        "{}; {}; {}; {}; {}",
        reads(d, 1, 10),
        checkpoint(d, "phase1", "go2"),
        reads(d, 11, 20),
        checkpoint(d, "phase2", "go3"),
        reads(d, 21, 30)
    );
    let watch = ConfiguredWatch::start(d, "disk", &config, &pack, &script);
    wait_for_file(&d.join("phase1"), Duration::from_secs(300));
    wait_until("the first ten alerts delivered", Duration::from_secs(300), || {
        (accepted_high(&behaviour).len() >= 10).then_some(())
    });

    // The disk fills up: the spool cannot be written; the error names the spool's path.
    disk.fill();
    touch(d.join("go2"));
    wait_for_file(&d.join("phase2"), Duration::from_secs(300));
    wait_until("twenty alerts raised", Duration::from_secs(300), || {
        (high_alerts(&d.join("alerts.jsonl")).len() >= 20).then_some(())
    });
    watch.wait_for_log("cannot write the spool", Duration::from_secs(300));
    let log = watch.log();
    let spool_dir = disk.path.join("spool").join("siem").display().to_string();
    let error = log
        .lines()
        .find(|line| line.contains("cannot write the spool"))
        .expect("the error line");
    assert!(error.contains(&spool_dir), "the error names the spool's path: {error}");
    assert!(error.contains("No space left on device"), "and the cause: {error}");

    // Space returns: what comes next is spooled and delivered again.
    disk.free();
    touch(d.join("go3"));
    let log = watch.finish();

    let reference = ids(&high_alerts(&d.join("alerts.jsonl")));
    assert_eq!(reference.len(), 30);
    let delivered = accepted_high(&behaviour);
    let delivered_set: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(tally(&delivered).values().max(), Some(&1), "each alert delivered once");
    for (n, id) in reference.iter().enumerate() {
        if !(10..20).contains(&n) {
            assert!(
                delivered_set.contains(id),
                "alert {} (before the disk filled or after it was freed) delivered",
                n + 1
            );
        }
    }
    // Every line offered to the output is delivered or counted as dropped: none vanishes.
    let counters = closed_counters(&log, "siem");
    let offered = read_events(&d.join("alerts.jsonl")).len() as u64;
    assert_eq!(counters["queued"], 0, "{counters:?}");
    assert_eq!(
        counters["delivered"] + counters["dropped"],
        offered,
        "lines delivered or counted as dropped ({counters:?}), of {offered} offered"
    );
    assert!(
        counters["dropped"] > 0,
        "the full disk cost lines, counted: {counters:?}"
    );
    assert_eq!(
        counters["delivered"] as usize,
        behaviour.accepted().len(),
        "the delivered count is what the receiver took"
    );
}

#[test]
fn a_full_disk_under_the_state_directory_fails_the_baseline_save_by_path_until_space_returns() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let disk = Tmpfs::mount(&d.join("state"), "512k");
    let config = d.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: {}\nalerts:\n  fold: {{window_ms: 0}}\nbaseline:\n  learning: {{min_sessions: 1, min_duration: 0, min_events: 0}}\n\
             outputs:\n  - {{name: reference, type: file, path: alerts.jsonl}}\n",
            disk.path.display()
        ),
    )
    .expect("config");
    let profile = disk.path.join("baselines").join("faults-agent.rmp");
    let run = |tag: &str| {
        let log = d.join(format!("watch-{tag}.log"));
        let output = sensor()
            .env_remove("AGENT_SENSOR_STATE_DIR")
            .current_dir(d)
            .arg("watch")
            .arg("--config")
            .arg(&config)
            .arg("--rules")
            .arg(&pack)
            .args(["--name", "faults-agent", "--", "bash", "-c", &reads(d, 1, 3)])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .status()
            .expect("run watch");
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(output.success(), "watch fails on a full state directory:\n{log}");
        log
    };

    std::fs::create_dir_all(disk.path.join("baselines")).expect("baselines dir");
    disk.fill();
    let log = run("full");
    let error = log
        .lines()
        .find(|line| line.contains("cannot save the baseline"))
        .unwrap_or_else(|| panic!("the failed save is reported:\n{log}"));
    assert!(
        error.contains(&profile.display().to_string()) && error.contains("No space left on device"),
        "the error names the file and the cause: {error}"
    );
    assert!(!profile.exists(), "no partial baseline is left");
    assert_eq!(high_alerts(&d.join("alerts.jsonl")).len(), 3, "alerts are unaffected");
    let leftovers: Vec<_> = std::fs::read_dir(disk.path.join("baselines"))
        .expect("baselines")
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| name.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind: {leftovers:?}");

    disk.free();
    let log = run("freed");
    assert!(!log.contains("cannot save the baseline"), "{log}");
    assert!(profile.exists(), "the baseline is saved once space returns");
}

// ---------------------------------------------------------------------------------------------
// Receivers answering 500, 413 and very slowly

#[test]
fn a_receiver_answering_500_gets_every_alert_once_it_recovers() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let behaviour = Arc::new(Behaviour::default());
    behaviour.answer_next(&[500; 6]);
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    let url = receiver.url("/_bulk");
    let config = config(
        d,
        &d.join("state"),
        &siem_outputs(&url, "    shutdown_timeout_seconds: 60\n"),
    );
    let log = ConfiguredWatch::start(d, "500", &config, &pack, &reads(d, 1, 20)).finish();

    let failure = log
        .lines()
        .find(|line| line.contains("http output cannot deliver"))
        .unwrap_or_else(|| panic!("the 500s are reported:\n{log}"));
    assert!(failure.contains("HTTP 500") && failure.contains(&url), "{failure}");
    assert!(log.contains("http output delivers again"), "{log}");
    assert!(
        behaviour.statuses.lock().expect("lock").is_empty(),
        "the 500s were all answered"
    );
    let reference = ids(&high_alerts(&d.join("alerts.jsonl")));
    assert_eq!(reference.len(), 20);
    let delivered = accepted_high(&behaviour);
    assert_eq!(tally(&delivered), tally(&reference), "every alert delivered, once");
    assert_eq!(closed_counters(&log, "siem")["dropped"], 0);
    assert!(segments(&d.join("state"), "siem").is_empty());
}

#[test]
fn a_receiver_answering_413_gets_smaller_requests_until_it_takes_them() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let behaviour = Arc::new(Behaviour::default());
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    // Room for a few alerts per request, not for a batch of twenty.
    behaviour.max_body.store(12 * 1024, Ordering::SeqCst);
    let config = config(
        d,
        &d.join("state"),
        &format!(
            "  - name: siem\n    type: http\n    format: elasticsearch\n    url: {}\n\
             \x20   batch_max_events: 20\n    batch_max_wait_ms: 5000\n    retry_initial_ms: 50\n    retry_max_seconds: 1\n\
             \x20   shutdown_timeout_seconds: 60\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n",
            receiver.url("/_bulk")
        ),
    );
    let log = ConfiguredWatch::start(d, "413", &config, &pack, &reads(d, 1, 40)).finish();

    let reference = ids(&high_alerts(&d.join("alerts.jsonl")));
    assert_eq!(reference.len(), 40);
    let requests = behaviour.requests();
    assert!(
        requests.iter().any(|request| request.status == 413),
        "the receiver refused large requests"
    );
    let delivered = accepted_high(&behaviour);
    assert_eq!(
        tally(&delivered),
        tally(&reference),
        "every alert delivered once, in smaller requests:\n{log}"
    );
    assert!(log.contains("HTTP 413"), "the 413 is reported:\n{log}");
    assert_eq!(closed_counters(&log, "siem")["dropped"], 0);
}

#[test]
fn a_receiver_that_answers_very_slowly_holds_nothing_up_and_loses_nothing() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let behaviour = Arc::new(Behaviour::default());
    behaviour.hold.store(true, Ordering::SeqCst);
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    let url = receiver.url("/_bulk");
    let config = config(
        d,
        &d.join("state"),
        &siem_outputs(&url, "    timeout_seconds: 1\n    shutdown_timeout_seconds: 60\n"),
    );
    let script = format!("{}; {}", reads(d, 1, 20), checkpoint(d, "raised", "go"));
    let watch = ConfiguredWatch::start(d, "slow", &config, &pack, &script);

    // Every alert reaches the file output while the receiver answers nothing: the pipeline does
    // not wait for the network.
    wait_for_file(&d.join("raised"), Duration::from_secs(300));
    wait_until("twenty alerts in the file", Duration::from_secs(300), || {
        (high_alerts(&d.join("alerts.jsonl")).len() >= 20).then_some(())
    });
    watch.wait_for_log("http output cannot deliver", Duration::from_secs(300));
    let failure = watch
        .log()
        .lines()
        .find(|line| line.contains("http output cannot deliver"))
        .map(str::to_string)
        .expect("the failure line");
    assert!(failure.contains(&url) && failure.contains("imeout"), "{failure}");
    let unanswered = accepted_or_held(&behaviour);
    assert!(!unanswered.is_empty(), "requests reached the slow receiver");

    // It answers again: everything is delivered; batches it took without answering in time come
    // again (at-least-once), nothing else twice.
    behaviour.hold.store(false, Ordering::SeqCst);
    touch(d.join("go"));
    let log = watch.finish();
    let reference = ids(&high_alerts(&d.join("alerts.jsonl")));
    assert_eq!(reference.len(), 20);
    let delivered = accepted_high(&behaviour);
    let counts = tally(&delivered);
    for id in &reference {
        assert!(counts.contains_key(id), "{id} delivered:\n{log}");
    }
    let late: BTreeSet<&String> = unanswered.iter().collect();
    for (id, count) in &counts {
        assert!(
            *count == 1 || late.contains(id),
            "{id} delivered {count} times without a timed-out request to explain it"
        );
    }
    assert_eq!(closed_counters(&log, "siem")["dropped"], 0);
}

#[test]
fn a_receiver_that_never_answers_cannot_hold_the_sensor_at_exit() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let behaviour = Arc::new(Behaviour::default());
    behaviour.hold.store(true, Ordering::SeqCst);
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    let config = config(
        d,
        &d.join("state"),
        &siem_outputs(
            &receiver.url("/_bulk"),
            "    timeout_seconds: 600\n    shutdown_timeout_seconds: 1\n",
        ),
    );
    // The sensor exits at its shutdown deadline, not the request's ten-minute timeout; the
    // alerts stay spooled for the next start.
    let log = ConfiguredWatch::start(d, "never", &config, &pack, &reads(d, 1, 5)).finish();
    assert!(!behaviour.requests().is_empty(), "a request was sent");
    assert!(log.contains("undelivered lines stay in the spool"), "{log}");
    let counters = closed_counters(&log, "siem");
    assert_eq!(counters["delivered"], 0);
    assert_eq!(counters["dropped"], 0, "{counters:?}");
    assert!(counters["queued"] >= 5, "{counters:?}");
    let spooled: usize = segments(&d.join("state"), "siem")
        .iter()
        .map(|segment| high_alerts(segment).len())
        .sum();
    assert_eq!(spooled, 5, "every alert is in the spool");
}

// ---------------------------------------------------------------------------------------------
// A corrupt spool segment

#[test]
fn a_corrupt_spool_segment_delivers_its_good_lines_and_sets_the_rest_aside() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let spool = d.join("state").join("spool").join("siem");
    std::fs::create_dir_all(&spool).expect("spool dir");
    let good = |n: u32| {
        format!(
            r#"{{"@timestamp":"2026-12-06T12:00:00Z","event":{{"id":"spooled-{n}","kind":"alert"}},"rule":{{"id":"e2e-high"}},"host":{{"hostname":"h"}}}}"#
        )
    };
    // Good lines around garbage, a line cut short mid-file and a partial last line (a crash).
    let mixed = format!(
        "{}\nnot json at all\n{}\n\x00\x01\x02\u{fffd}\n{{\"event\":{{\"id\":\"cut\n{}\n{{\"event\":",
        good(1),
        good(2),
        good(3)
    );
    std::fs::write(spool.join(format!("{:020}.ndjson", 3)), mixed).expect("segment");
    std::fs::write(spool.join(format!("{:020}.ndjson", 4)), [0xffu8, 0xfe, 0x00, 0x7b]).expect("garbage");
    std::fs::write(spool.join(format!("{:020}.ndjson", 5)), "").expect("empty");
    std::fs::write(spool.join(format!("{:020}.ndjson", 6)), format!("{}\n", good(4))).expect("segment");

    let behaviour = Arc::new(Behaviour::default());
    let receiver = FaultyReceiver::start(0, behaviour.clone());
    // Splunk HEC: a malformed line makes the whole request malformed.
    let config = config(
        d,
        &d.join("state"),
        &format!(
            "  - name: siem\n    type: http\n    format: splunk\n    url: {}\n    token: t\n\
             \x20   batch_max_wait_ms: 100\n    retry_initial_ms: 50\n    retry_max_seconds: 1\n    shutdown_timeout_seconds: 60\n",
            receiver.url("/services/collector/event")
        ),
    );
    let log = ConfiguredWatch::start(d, "corrupt", &config, &pack, "true").finish();

    let delivered: Vec<String> = ids(&behaviour.accepted())
        .into_iter()
        .filter(|id| id.starts_with("spooled-"))
        .collect();
    let expected: Vec<String> = (1..=4).map(|n| format!("spooled-{n}")).collect();
    assert_eq!(
        tally(&delivered),
        tally(&expected),
        "every good line delivered once:\n{log}"
    );
    assert!(
        behaviour.requests().iter().all(|request| request.status == 200),
        "nothing malformed was sent"
    );
    assert!(
        log.contains("not JSON") && log.contains(&spool.join(format!("{:020}.ndjson", 3)).display().to_string()),
        "the bad lines are reported with their segment:\n{log}"
    );
    let rejected: String = std::fs::read_dir(spool.join("rejected"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default()).into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        rejected.contains("not json at all"),
        "the bad lines are kept aside: {rejected:?}"
    );
    assert!(segments(&d.join("state"), "siem").is_empty(), "the spool is empty");
    let counters = closed_counters(&log, "siem");
    assert!(counters["delivered"] >= 4, "{counters:?}");
    assert!(counters["dropped"] >= 3, "the bad lines count as dropped: {counters:?}");
}

// ---------------------------------------------------------------------------------------------
// A full tracked-process map

#[test]
fn a_full_tracked_process_map_leaves_children_untracked_counted_and_reported() {
    if !require_root("faults e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let events = d.join("events.jsonl");
    let config = config(
        d,
        &d.join("state"),
        &format!(
            "  - {{name: events, type: file, path: {}, kinds: [events]}}\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n",
            events.display()
        ),
    );
    // 8 entries: the shell and seven children. Twenty children wait at once; once they are gone,
    // a new child is tracked again. While the map is full the shell forks nothing else (builtins
    // only: it waits on a FIFO), so each untracked child is one of the twenty.
    let children = 20;
    let fifo = d.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let script = format!(
        "pids=(); for i in {{1..{children}}}; do sleep 1000 & pids+=($!); done; : > {started}; \
         while [ ! -e {go} ]; do read -t 0.05 <> {fifo}; done; kill \"${{pids[@]}}\"; wait; cat {dir}/high-1",
        started = d.join("started").display(),
        go = d.join("go").display(),
        fifo = fifo.display(),
        dir = d.display()
    );
    let watch = ConfiguredWatch::start_with(
        d,
        "map",
        &config,
        &pack,
        &script,
        &[("AGENT_SENSOR_TEST_MAX_TRACKED", "8")],
    );
    wait_for_file(&d.join("started"), Duration::from_secs(300));
    watch.wait_for_log("the tracked-process map is full", Duration::from_secs(300));
    touch(d.join("go"));
    let log = watch.finish();

    assert!(log.contains("test-only: the tracked-process map is shrunk"), "{log}");
    let exit_warning = log
        .lines()
        .find(|line| line.contains("children of tracked processes could not be tracked"))
        .unwrap_or_else(|| panic!("the loss is reported at exit:\n{log}"));
    let untracked: u64 = log_value(exit_warning, "could not be tracked", "children")
        .and_then(|v| v.parse().ok())
        .expect("children=");
    let all = read_events(&events);
    let sleeps = all
        .iter()
        .filter(|e| action(e) == "exec" && str_field(e, "process.name") == "sleep")
        .count() as u64;
    assert!(
        untracked > 0 && sleeps < children,
        "{untracked} untracked, {sleeps} tracked"
    );
    assert_eq!(
        sleeps + untracked,
        children,
        "every child is either tracked (its exec reported) or counted as untracked"
    );
    let alerts = read_events(&d.join("alerts.jsonl"));
    let loss = alerts
        .iter()
        .find(|alert| str_field(alert, "rule.id") == "sensor-event-loss")
        .unwrap_or_else(|| panic!("a sensor-event-loss alert: {alerts:#?}"));
    let counted = field(loss, "agent_sensor.loss.since_start.untracked_children").as_u64();
    assert!(
        counted > Some(0),
        "the loss alert counts the untracked children: {loss}"
    );
    assert_eq!(
        high_alerts(&d.join("alerts.jsonl")).len(),
        1,
        "once the children are gone, a new child is tracked again"
    );
}
