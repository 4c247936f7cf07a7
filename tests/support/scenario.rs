//! A scenario for the rule-pack end-to-end tests: a fake home with fake secrets, a project the
//! agent starts in, a scratch directory under /tmp, and `agent-sensor watch` running a script
//! there.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use serde_json::Value;

use super::{DurableDir, durable_tempdir, read_events, sensor, str_field};

/// A place for one scenario: a fake home, a project directory the agent starts in, and a
/// directory under /tmp. Homes and projects live outside every temporary tree (see
/// `support::durable_tempdir`), because the default pack ignores deletions and downloads in
/// /tmp-like places, and a fresh clone (as in CI) may itself sit under /tmp.
pub struct Scenario {
    pub root: DurableDir,
    scratch: tempfile::TempDir,
}

impl Scenario {
    pub fn new() -> Self {
        let root = durable_tempdir("rules-e2e-");
        let scratch = tempfile::Builder::new()
            .prefix("agent-e2e-")
            .tempdir()
            .expect("scratch dir");
        let scenario = Self { root, scratch };
        let home = scenario.home();
        for dir in [".ssh", ".aws", ".kube", "Documents", ".config"] {
            std::fs::create_dir_all(home.join(dir)).expect("home dirs");
        }
        for (file, text) in [
            (".ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n"),
            (".ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n"),
            (".ssh/id_ed25519.pub", "ssh-ed25519 AAAAfake e2e@test\n"),
            (".ssh/known_hosts", "github.com ssh-ed25519 AAAAfake\n"),
            (".aws/credentials", "[default]\naws_access_key_id = AKIAFAKE\n"),
            (".kube/config", "apiVersion: v1\n"),
            (".gitconfig", "[user]\n\tname = E2E\n\temail = e2e@example.invalid\n"),
            (".bashrc", "# fake\n"),
            (".bash_history", "ls\n"),
            ("Documents/notes.txt", "notes\n"),
        ] {
            std::fs::write(home.join(file), text).expect("home files");
        }
        std::fs::create_dir_all(scenario.project().join("src")).expect("project");
        std::fs::write(scenario.project().join("src/main.c"), "int main(void) { return 0; }\n").expect("source");
        scenario
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.root.path().join("project")
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Runs `script` under `agent-sensor watch` with this scenario's HOME, in its project, and
    /// returns the alerts.
    pub fn run(&self, script: &str, extra: &[&str]) -> Vec<Value> {
        self.run_in(&self.project(), script, extra)
    }

    /// As `run`, started in `dir` instead of the project.
    pub fn run_in(&self, dir: &Path, script: &str, extra: &[&str]) -> Vec<Value> {
        let alerts = self.root.path().join("alerts.jsonl");
        let _ = std::fs::remove_file(&alerts);
        let out = sensor()
            .arg("watch")
            .arg("--alerts")
            .arg(&alerts)
            .args(extra)
            .args(["--", "bash", "-c", script])
            .env("HOME", self.home())
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run watch");
        assert!(
            out.status.success() || out.status.code().is_some(),
            "watch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("problems"), "rule packs did not load: {stderr}");
        read_events(&alerts)
    }
}

pub fn rule_ids(alerts: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts.iter().map(|a| str_field(a, "rule.id").to_string()).collect();
    ids.sort();
    ids.dedup();
    ids
}

pub fn alert<'a>(alerts: &'a [Value], rule: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| str_field(a, "rule.id") == rule)
        .unwrap_or_else(|| panic!("no {rule} alert among {:?}", rule_ids(alerts)))
}
