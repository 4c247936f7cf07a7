//! End-to-end: behavioural baselines on the real kernel. A profile learns a benign workload in
//! one `agent-sensor watch` session; a repeat of that workload raises nothing; a session that
//! runs a never-seen program and connects to a never-seen destination (a loopback address the
//! test maps to the country ZZ) raises the baseline alerts, and the configured egress allowlist
//! flags the connection. The baseline persists between runs, the CLI shows, exports and resets
//! it, and a corrupt baseline file is set aside without stopping the sensor.
//!
//! Every connection goes to loopback listeners the test opens.

mod support;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Output, Stdio},
};

use serde_json::Value;
use support::*;

const AGENT: &str = "e2e-baseline-agent";

/// A loopback listener that accepts and drops every connection, for as long as the test runs.
fn listener(address: &str) -> u16 {
    let listener = TcpListener::bind((address, 0)).unwrap_or_else(|e| panic!("bind {address}: {e}"));
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    port
}

struct Lab {
    root: DurableDir,
    state: PathBuf,
    config: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Lab {
    fn new() -> Self {
        let root = durable_tempdir("baseline-e2e-");
        let state = root.path().join("state");
        let config = root.path().join("config.yaml");
        // Learn from one session; 127.0.0.2 stands for a foreign country; the egress allowlist
        // admits local networks only.
        std::fs::write(
            &config,
            "baseline:\n  learning: {min_sessions: 1, min_duration: 0, min_events: 0}\n\
             geo:\n  overrides:\n    - {cidr: 127.0.0.2/32, country: ZZ}\n\
             egress:\n  allow:\n    - scopes: [loopback, private, link-local]\n",
        )
        .expect("write config");
        std::fs::create_dir_all(root.path().join("work")).expect("work dir");
        std::fs::write(root.path().join("work/notes.txt"), "notes\n").expect("work file");
        Self {
            root,
            state,
            config,
            runs: std::cell::Cell::new(0),
        }
    }

    fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// Runs `script` as one watched session of the agent; returns its events, its alerts and
    /// the sensor's output.
    fn session(&self, script: &str) -> (Vec<Value>, Vec<Value>, Output) {
        let run = self.runs.get() + 1;
        self.runs.set(run);
        let events = self.root.path().join(format!("events-{run}.jsonl"));
        let alerts = self.root.path().join(format!("alerts-{run}.jsonl"));
        let output = sensor()
            .env("AGENT_SENSOR_STATE_DIR", &self.state)
            .current_dir(self.work())
            .arg("watch")
            .arg("--config")
            .arg(&self.config)
            .arg("--events")
            .arg(&events)
            .arg("--alerts")
            .arg(&alerts)
            .args(["--name", AGENT, "--", "bash", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("run agent-sensor watch");
        assert!(
            output.status.success(),
            "watch failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (read_events(&events), read_events(&alerts), output)
    }

    fn cli(&self, args: &[&str]) -> Output {
        sensor()
            .arg("baseline")
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .stdin(Stdio::null())
            .output()
            .expect("run agent-sensor baseline")
    }

    fn profile_file(&self) -> PathBuf {
        self.state.join("baselines").join(format!("{AGENT}.rmp"))
    }
}

fn rule_ids(alerts: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts.iter().map(|a| str_field(a, "rule.id").to_string()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn alert<'a>(alerts: &'a [Value], id: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| str_field(a, "rule.id") == id)
        .unwrap_or_else(|| panic!("no {id} alert among {:?}", rule_ids(alerts)))
}

/// The events of the agent's session (not of processes the sensor lost track of).
fn ours(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| str_field(e, "gen_ai.agent.name") == AGENT)
        .collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn benign_script(work: &Path, port: u16) -> String {
    format!(
        "cat {work}/notes.txt > /dev/null; ls {work} > /dev/null; exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; true",
        work = work.display()
    )
}

#[test]
fn a_profile_learns_a_workload_and_flags_what_it_never_did() {
    if !require_root("baseline e2e") {
        return;
    }
    let lab = Lab::new();
    let port = listener("127.0.0.1");
    let foreign_port = listener("127.0.0.2");
    let probe = lab.root.path().join("never-seen-tool");
    std::fs::copy("/bin/true", &probe).expect("copy a program the profile never ran");
    let benign = benign_script(&lab.work(), port);

    // 1. Learning: no alerts, events say so, connects carry their scope and the allowlist verdict.
    let (events, alerts, _) = lab.session(&benign);
    assert!(alerts.is_empty(), "learning raises nothing: {alerts:?}");
    assert!(!ours(&events).is_empty());
    assert!(
        ours(&events)
            .iter()
            .all(|e| str_field(e, "agent_sensor.baseline.status") == "learning"),
        "every event of a learning profile says so"
    );
    let connect = find(&events, "connect", "destination.ip", "127.0.0.1");
    let connect = connect.first().expect("the benign connect");
    assert_eq!(str_field(connect, "agent_sensor.destination.scope"), "loopback");
    assert_eq!(field(connect, "agent_sensor.destination.allowed"), &Value::Bool(true));
    assert!(field(connect, "destination.geo").is_null(), "loopback has no country");
    assert!(lab.profile_file().exists(), "the baseline was saved at exit");
    let shown = lab.cli(&["show", AGENT]);
    assert!(shown.status.success(), "{shown:?}");
    assert!(stdout(&shown).contains("enforcing"), "{}", stdout(&shown));

    // 2. The same work again: nothing is new.
    let (events, alerts, _) = lab.session(&benign);
    assert!(
        alerts.is_empty(),
        "a repeat of the benign workload raises nothing: {alerts:?}"
    );
    let execs: Vec<&Value> = events.iter().filter(|e| action(e) == "exec").collect();
    assert!(!execs.is_empty());
    for exec in execs {
        assert_eq!(str_field(exec, "agent_sensor.baseline.status"), "enforcing");
        assert_eq!(field(exec, "agent_sensor.baseline.new_executable"), &Value::Bool(false));
    }

    // 3. A never-seen program and a never-seen destination in a never-seen country.
    let script = format!(
        "{benign}; {probe}; exec 3<>/dev/tcp/127.0.0.2/{foreign_port}; exec 3>&-; true",
        probe = probe.display()
    );
    let (events, alerts, _) = lab.session(&script);
    let ids = rule_ids(&alerts);
    for expected in [
        "baseline-new-executable",
        "baseline-new-destination",
        "unexpected-egress",
    ] {
        assert!(ids.contains(&expected.to_string()), "{expected} missing from {ids:?}");
    }
    let new_exe = alert(&alerts, "baseline-new-executable");
    assert_eq!(
        str_field(new_exe, "agent_sensor.baseline.value"),
        probe.display().to_string()
    );
    assert_eq!(str_field(new_exe, "agent_sensor.baseline.deviation"), "new-executable");
    assert!(field(new_exe, "agent_sensor.baseline.score").is_u64(), "{new_exe}");
    assert!(field(new_exe, "agent_sensor.baseline.known.values").as_u64() >= Some(2));
    assert_eq!(str_field(new_exe, "rule.ruleset"), "agent-sensor-baseline");
    assert_eq!(str_field(new_exe, "agent_sensor.action"), "alerted");
    let new_destination = alert(&alerts, "baseline-new-destination");
    assert_eq!(str_field(new_destination, "destination.ip"), "127.0.0.2");
    assert_eq!(str_field(new_destination, "destination.geo.country_iso_code"), "ZZ");
    assert_eq!(
        field(new_destination, "agent_sensor.baseline.new_country"),
        &Value::Bool(true)
    );
    let egress = alert(&alerts, "unexpected-egress");
    assert_eq!(str_field(egress, "agent_sensor.destination.scope"), "public");
    assert_eq!(field(egress, "agent_sensor.destination.allowed"), &Value::Bool(false));
    let foreign = find(&events, "connect", "destination.ip", "127.0.0.2");
    let foreign = foreign.first().expect("the foreign connect in the audit trail");
    assert_eq!(str_field(foreign, "destination.geo.country_iso_code"), "ZZ");
    assert_eq!(
        field(foreign, "agent_sensor.baseline.new_destination"),
        &Value::Bool(true)
    );
    // Every deviation alerts once per session, however often it happens.
    assert_eq!(
        alerts
            .iter()
            .filter(|a| str_field(a, "rule.id") == "baseline-new-executable")
            .count(),
        1
    );

    // 4. The CLI exports and resets the profile.
    let exported = lab.cli(&["export", AGENT]);
    assert!(exported.status.success(), "{exported:?}");
    let export: Value = serde_json::from_slice(&exported.stdout).expect("JSON export");
    assert_eq!(export["format"], "agent-sensor-baseline");
    assert_eq!(export["profile"]["status"], "enforcing");
    let listed = lab.cli(&["show"]);
    assert!(stdout(&listed).contains(AGENT), "{}", stdout(&listed));
    let reset = lab.cli(&["reset", AGENT]);
    assert!(reset.status.success(), "{reset:?}");
    assert!(!lab.profile_file().exists());
    let (_, alerts, _) = lab.session(&script);
    assert!(
        !rule_ids(&alerts).iter().any(|id| id.starts_with("baseline-")),
        "a reset profile learns again: {alerts:?}"
    );

    // 5. An import brings the exported baseline back.
    let saved = lab.root.path().join("export.json");
    std::fs::write(&saved, &exported.stdout).expect("save the export");
    let imported = lab.cli(&["import", AGENT, &saved.display().to_string()]);
    assert!(imported.status.success(), "{imported:?}");
    let (_, alerts, _) = lab.session(&format!("{probe}", probe = probe.display()));
    assert!(
        rule_ids(&alerts).contains(&"baseline-new-executable".to_string()),
        "{alerts:?}"
    );
}

#[test]
fn a_corrupt_baseline_file_is_set_aside_and_learning_restarts() {
    if !require_root("baseline e2e") {
        return;
    }
    let lab = Lab::new();
    std::fs::create_dir_all(lab.profile_file().parent().expect("dir")).expect("baselines dir");
    std::fs::write(lab.profile_file(), b"this is not a baseline").expect("corrupt file");
    let (events, alerts, output) = lab.session("true");
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(!ours(&events).is_empty());
    assert!(
        ours(&events)
            .iter()
            .all(|e| str_field(e, "agent_sensor.baseline.status") == "learning"),
        "learning restarted"
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains(&lab.profile_file().display().to_string()),
        "the log names the file: {log}"
    );
    let aside = std::fs::read_dir(lab.profile_file().parent().expect("dir"))
        .expect("list")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().contains(".rmp.corrupt-"))
        .count();
    assert_eq!(aside, 1, "the corrupt file was moved aside");
    assert!(lab.profile_file().exists(), "a fresh baseline was saved");
}
