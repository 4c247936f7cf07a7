//! Running a real coding agent CLI under `agent-sensor watch`, driven by the scripted model
//! (tests/agents/run_agent.py, model_server.py), in a workspace and HOME of the test's own.
//!
//! The agents are the pinned CLIs `cargo xtask agents install` puts in
//! `$AGENT_SENSOR_TOOLS/agents/NAME` (default `~/.cache/agent-sensor/agents/NAME`);
//! `cargo xtask setup` installs the ones these tests drive.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};

use crate::support::{self, DurableDir};

/// One step of the model's script: the agent's own tool does it.
pub enum Step<'a> {
    Write(&'a Path, &'a str),
    Read(&'a Path),
    Shell(&'a str),
}

impl Step<'_> {
    fn to_json(&self) -> Value {
        match self {
            Step::Write(path, content) => json!({"op": "write", "path": path, "content": content}),
            Step::Read(path) => json!({"op": "read", "path": path}),
            Step::Shell(command) => json!({"op": "shell", "command": command}),
        }
    }
}

/// Where `cargo xtask agents install` puts the agent's binary.
pub fn agent_binary(agent: &str) -> PathBuf {
    let tools = std::env::var_os("AGENT_SENSOR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/agent-sensor")
        });
    tools.join("agents").join(agent).join("bin").join(agent)
}

/// True when this test can run: root (it loads eBPF programs) and the agent installed. Without
/// them it skips, except in CI (`CI=true`), where it fails.
pub fn require(test: &str, agent: &str) -> bool {
    if !support::require_root(test) {
        return false;
    }
    if agent_binary(agent).exists() {
        return true;
    }
    let why = format!(
        "{test} needs the {agent} CLI at {} (`cargo xtask agents install {agent}`, which `cargo xtask setup` runs)",
        agent_binary(agent).display()
    );
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{why}");
    }
    eprintln!("skipped {why}");
    false
}

/// A fresh workspace (a git repository with one committed file) and HOME, outside every
/// temporary tree so the default pack treats them as a real project and a real home.
pub struct Sandbox {
    dir: DurableDir,
}

impl Sandbox {
    pub fn new(agent: &str) -> Self {
        let dir = support::durable_tempdir(&format!("agents-{agent}-"));
        let sandbox = Self { dir };
        std::fs::create_dir_all(sandbox.workspace()).expect("create the workspace");
        std::fs::create_dir_all(sandbox.home()).expect("create HOME");
        std::fs::write(sandbox.workspace().join("README.md"), "# demo\n").expect("write README");
        std::fs::write(sandbox.home().join(".bashrc"), "alias ll='ls -l'\n").expect("write .bashrc");
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args(["-c", "user.email=e2e@example.invalid", "-c", "user.name=e2e"])
                .args(args)
                .current_dir(sandbox.workspace())
                .status()
                .expect("run git");
            assert!(status.success(), "git {args:?} failed");
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        git(&["commit", "-qm", "init"]);
        sandbox
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What one agent run left: its events and alerts, the driver's summary and the agent's output.
pub struct AgentRun {
    pub events: Vec<Value>,
    pub alerts: Vec<Value>,
    pub summary: Value,
    pub output: String,
}

impl AgentRun {
    /// The agent's own process: the root of the watched tree.
    pub fn agent_pid(&self) -> u64 {
        let first = self.events.first().expect("events");
        assert_eq!(support::action(first), "exec", "the first event is the agent's exec");
        support::field(first, "process.pid").as_u64().expect("pid")
    }

    /// Events of `action` whose `file.path` is `path`.
    pub fn opens_of(&self, path: &Path) -> Vec<&Value> {
        support::find(&self.events, "open", "file.path", &path.display().to_string())
    }

    /// The exec of a program whose command line is exactly `command_line`.
    pub fn exec_of(&self, command_line: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| support::action(e) == "exec" && support::str_field(e, "process.command_line") == command_line)
    }

    /// The program that started the program `exec` runs: the process's own previous exec when
    /// it replaced itself (`sh -c 'a && b'` runs `b` in the shell's process), else the parent's
    /// exec in force at that time.
    pub fn launcher_of(&self, exec: &Value) -> Option<&Value> {
        let position = self.events.iter().position(|e| std::ptr::eq(e, exec))?;
        let before = &self.events[..position];
        let exec_of = |pid: Option<u64>| {
            before
                .iter()
                .rev()
                .find(|e| support::action(e) == "exec" && support::field(e, "process.pid").as_u64() == pid)
        };
        exec_of(support::field(exec, "process.pid").as_u64())
            .or_else(|| exec_of(support::field(exec, "process.parent.pid").as_u64()))
    }

    /// The alerts of rule `id`.
    pub fn alerts_of(&self, id: &str) -> Vec<&Value> {
        self.alerts
            .iter()
            .filter(|a| support::str_field(a, "rule.id") == id)
            .collect()
    }

    /// Everything a failed assertion needs: the driver's summary, the agent's output, the alerts.
    pub fn context(&self) -> String {
        let alerts: Vec<String> = self.alerts.iter().map(|a| a.to_string()).collect();
        format!(
            "summary: {}\nagent output:\n{}\nalerts:\n{}",
            self.summary,
            self.output,
            alerts.join("\n")
        )
    }
}

/// Runs `agent` under `agent-sensor watch` (the default pack, monitor mode) through `steps`, then
/// its final answer; the agent must reach the answer and exit 0.
pub fn run(agent: &str, sandbox: &Sandbox, steps: &[Step]) -> AgentRun {
    run_with_env(agent, sandbox, steps, &[])
}

/// `run`, with more environment variables (`KEY=VALUE`) for the sensor and the agent.
pub fn run_with_env(agent: &str, sandbox: &Sandbox, steps: &[Step], env: &[&str]) -> AgentRun {
    let dir = sandbox.path();
    let script = dir.join("script.json");
    let steps: Vec<Value> = steps.iter().map(Step::to_json).collect();
    std::fs::write(&script, json!({"steps": steps, "answer": "Done."}).to_string()).expect("write the script");
    let (events, alerts, out) = (dir.join("events.jsonl"), dir.join("alerts.jsonl"), dir.join("out"));
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/agents");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let result = Command::new("python3")
        .arg(tests.join("run_agent.py"))
        .args(["run", "--agent", agent, "--timeout", "240", "--script"])
        .arg(&script)
        .arg("--workspace")
        .arg(sandbox.workspace())
        .arg("--home")
        .arg(sandbox.home())
        .arg("--out")
        .arg(&out)
        .arg("--tools")
        .arg(
            agent_binary(agent)
                .parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .expect("tools dir"),
        )
        .arg(format!(
            "--env=AGENT_SENSOR_STATE_DIR={}",
            support::test_state_dir().display()
        ))
        .arg("--env=RUST_LOG=info")
        .args(env.iter().map(|item| format!("--env={item}")))
        .arg("--")
        .arg(support::sensor_binary())
        .arg("watch")
        .arg("--events")
        .arg(&events)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--rules")
        .arg(&rules)
        .arg("--control-socket")
        .arg(dir.join("no-daemon.sock"))
        .args(["--name", agent, "--"])
        .output()
        .expect("run python3 tests/agents/run_agent.py");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let output = format!("--- stdout\n{}\n--- stderr\n{}", read("stdout.txt"), read("stderr.txt"));
    let summary: Value = serde_json::from_slice(&result.stdout).unwrap_or_else(|_| {
        panic!(
            "the driver failed ({}):\n{}\n{output}",
            result.status,
            String::from_utf8_lossy(&result.stderr)
        )
    });
    let run = AgentRun {
        events: support::read_events(&events),
        alerts: support::read_events(&alerts),
        summary,
        output,
    };
    assert_eq!(
        run.summary["exit_code"],
        json!(0),
        "the agent failed\n{}",
        run.context()
    );
    assert_eq!(
        run.summary["finished"],
        json!(true),
        "the agent did not reach the final answer\n{}",
        run.context()
    );
    assert!(!run.events.is_empty(), "no events\n{}", run.context());
    run
}
