//! A scenario of the enforcement and evasion tests: a directory of its own, a rule pack about
//! it, an agent session run under `watch` in monitor or enforce mode, and what the sensor says
//! it did (alerts, backends).

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
};

use serde_json::Value;

use super::{read_events, sensor, str_field};

/// True inside the kernel lab, where every operation must be judged by BPF LSM.
pub fn in_lab() -> bool {
    std::env::var("AGENT_SENSOR_VM").is_ok_and(|value| value == "1")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Monitor,
    Enforce,
}

impl Mode {
    pub fn flag(self) -> &'static str {
        match self {
            Mode::Monitor => "monitor",
            Mode::Enforce => "enforce",
        }
    }
}

/// One scenario: a directory of its own, a rule pack about it, and where alerts go.
pub struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("enforce-{name}-"))
            .tempdir()
            .expect("lab dir");
        Self { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn root(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Writes the rule pack `rules` (the `rules:` list, indented by two) and returns its path.
    pub fn pack(&self, rules: &str) -> PathBuf {
        let path = self.path("pack.yaml");
        std::fs::write(&path, format!("ruleset: enforce-e2e\nrules:\n{rules}")).expect("write pack");
        path
    }

    /// Runs `script` as a watched agent session in `mode`; returns its output and the alerts.
    pub fn watch(&self, pack: &Path, mode: Mode, script: &str) -> (Output, Vec<Value>) {
        self.watch_with(&Session::new(pack), mode, script)
    }

    /// Runs `script` as the watched agent session `session` describes, in `mode`.
    pub fn watch_with(&self, session: &Session<'_>, mode: Mode, script: &str) -> (Output, Vec<Value>) {
        let alerts = self.path(&format!("alerts-{}.jsonl", mode.flag()));
        let _ = std::fs::remove_file(&alerts);
        let mut command = sensor();
        command.arg("watch");
        for pack in &session.packs {
            command.arg("--rules").arg(pack);
        }
        if let Some(user) = session.user {
            command.args(["--user", user]);
        }
        if let Some(home) = session.home {
            command.env("HOME", home);
        }
        if let Some(config) = session.config {
            command.arg("--config").arg(config);
        }
        let output = command
            .arg("--alerts")
            .arg(&alerts)
            .args(["--mode", mode.flag(), "--", "bash", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("run agent-sensor watch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("agent-sensor:"), "the sensor failed:\n{stderr}");
        if in_lab() {
            assert!(
                !stderr.contains("BPF LSM unavailable"),
                "the kernel lab must enforce with BPF LSM:\n{stderr}"
            );
            // The cgroup programs are the connection backend wherever BPF LSM is off: the lab's
            // kernels must load them too, though the hooks judge connections there.
            assert!(
                !stderr.contains("cgroup socket programs do not load"),
                "the kernel lab must load the cgroup socket programs:\n{stderr}"
            );
        }
        (output, read_events(&alerts))
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn rule(id: &str, action: &str, when: &str) -> String {
    format!(
        "  - id: {id}\n    name: {id}\n    description: e2e\n    severity: high\n    action: {action}\n    when:\n{when}"
    )
}

/// The alerts of rule `id`.
pub fn alerts_of<'a>(alerts: &'a [Value], id: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|alert| str_field(alert, "rule.id") == id)
        .collect()
}

/// The only alert of rule `id`, with what the sensor says it did.
pub fn the_alert<'a>(alerts: &'a [Value], id: &str) -> &'a Value {
    let found = alerts_of(alerts, id);
    assert!(!found.is_empty(), "no alert of {id} in {alerts:#?}");
    found[0]
}

pub fn backend(alert: &Value) -> &str {
    str_field(alert, "agent_sensor.enforcement.backend")
}

pub fn done(alert: &Value) -> &str {
    str_field(alert, "agent_sensor.action")
}

/// The backend a file or exec operation must be judged by here.
pub fn assert_file_backend(alert: &Value) {
    let expected = if in_lab() { "bpf-lsm" } else { "tracepoint-sigkill" };
    assert_eq!(backend(alert), expected, "{alert:#}");
}

/// `status=N` printed by a script.
pub fn status(text: &str, label: &str) -> i32 {
    let needle = format!("{label}=");
    text.lines()
        .find_map(|line| line.strip_prefix(&needle))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {needle} in:\n{text}"))
}

/// A tree of `dirs` directories of `files` files each under `root`; returns the file count.
pub fn make_tree(root: &Path, dirs: usize, files: usize) -> usize {
    for d in 0..dirs {
        let dir = root.join(format!("dir{d}/nested"));
        std::fs::create_dir_all(&dir).expect("tree dirs");
        for f in 0..files {
            std::fs::write(dir.join(format!("file{f}.txt")), "keep me\n").expect("tree file");
        }
    }
    dirs * files
}

pub fn count_files(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

/// How a scenario's session runs: its rule packs, the user and home of the command, a
/// configuration file.
pub struct Session<'a> {
    pub packs: Vec<&'a Path>,
    pub user: Option<&'a str>,
    pub home: Option<&'a Path>,
    pub config: Option<&'a Path>,
}

impl<'a> Session<'a> {
    pub fn new(pack: &'a Path) -> Self {
        Self {
            packs: vec![pack],
            user: None,
            home: None,
            config: None,
        }
    }
}
