//! End-to-end: real coding agents (Claude Code, Codex) run their own write, read and shell tools
//! under `agent-sensor watch`, driven by a scripted model on loopback; the sensor must capture
//! them as it captures `sh -c`, and the default pack must stay quiet on benign work.
//! docs/agents-testing.md says how the agents are driven and what they do at the syscall level.
//!
//! Needs root and the agents (`cargo xtask agents install claude codex`, part of
//! `cargo xtask setup`); skips without them, except in CI.

mod support;

#[path = "agents/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use harness::{AgentRun, Sandbox, Step};
use regex::Regex;
use serde_json::Value;
use support::{field, pid, str_field};

fn flags(event: &Value) -> Vec<&str> {
    field(event, "agent_sensor.open.flags")
        .as_array()
        .map(|flags| flags.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The benign script: write a source file in the workspace, read the README, run `ls` and
/// `git status`. The read is of a file the agent did not write: an agent may answer a read of a
/// file it has just written from its own cache, without opening it.
fn benign_steps<'a>(source: &'a Path, readme: &'a Path) -> Vec<Step<'a>> {
    vec![
        Step::Write(source, "def main():\n    return 0\n"),
        Step::Read(readme),
        Step::Shell("ls && git status --short"),
    ]
}

/// What every agent's benign run must show: the shell tool's commands as execs whose parent is a
/// shell, the file read by the agent's own process, and no alert.
fn assert_benign_run_captured(run: &AgentRun, workspace: &Path, readme: &Path) {
    let agent = run.agent_pid();

    // The shell tool: `ls` and `git status --short` ran, each from a shell started for the tool
    // (or in its process, when the shell replaced itself with its last command).
    for command in ["ls", "git status --short"] {
        let exec = run
            .exec_of(command)
            .unwrap_or_else(|| panic!("no exec of {command:?}\n{}", run.context()));
        assert_eq!(
            str_field(exec, "process.working_directory"),
            workspace.display().to_string()
        );
        let shell = run.launcher_of(exec).expect("the shell's exec");
        assert!(
            ["bash", "sh"].contains(&str_field(shell, "process.name")),
            "{command} ran from {shell}"
        );
        assert!(
            str_field(shell, "process.command_line").contains("ls && git status --short"),
            "the shell runs the tool's command: {shell}"
        );
    }

    // The written file was opened for writing, by the agent's own process, with an absolute path
    // (Claude Code writes a temporary file beside it; see the per-agent tests).
    for event in &run.events {
        let path = str_field(event, "file.path");
        assert!(
            path.is_empty() || path.starts_with('/'),
            "relative file.path in {event}"
        );
    }
    // The read tool (Codex has none: its shell's `cat` reads instead).
    let reads: Vec<&Value> = run
        .opens_of(readme)
        .into_iter()
        .filter(|e| str_field(e, "agent_sensor.open.access") == "read" && !flags(e).contains(&"O_PATH"))
        .filter(|e| str_field(e, "event.outcome") == "success")
        .collect();
    assert!(
        reads
            .iter()
            .any(|e| pid(e) == agent || str_field(e, "process.name") == "cat"),
        "no read of {} by the agent (pid {agent}) or its shell; its opens:\n{}\n{}",
        readme.display(),
        run.opens_of(readme)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        run.context()
    );

    assert!(run.alerts.is_empty(), "benign work raised alerts\n{}", run.context());
}

/// Runs `agent` through the benign script and checks what every agent's run must show; `None`
/// when the test is skipped.
fn benign_run(agent: &str) -> Option<(Sandbox, PathBuf, AgentRun)> {
    if !harness::require(&format!("{agent} agent e2e"), agent) {
        return None;
    }
    let sandbox = Sandbox::new(agent);
    let source = sandbox.workspace().join("src/app.py");
    let readme = sandbox.workspace().join("README.md");
    let run = harness::run(agent, &sandbox, &benign_steps(&source, &readme));
    assert_benign_run_captured(&run, &sandbox.workspace(), &readme);
    Some((sandbox, source, run))
}

/// Runs `agent` through one step: its write tool writes `content` to the file `target` names
/// in a fresh sandbox; `None` when the test is skipped.
fn single_write(
    agent: &str,
    target: impl Fn(&Sandbox) -> PathBuf,
    content: &str,
) -> Option<(Sandbox, PathBuf, AgentRun)> {
    if !harness::require(&format!("{agent} agent e2e"), agent) {
        return None;
    }
    let sandbox = Sandbox::new(agent);
    let path = target(&sandbox);
    let run = harness::run(agent, &sandbox, &[Step::Write(&path, content)]);
    Some((sandbox, path, run))
}

/// A successful open for writing with (at least) these flags.
fn assert_written(event: &Value, expected: &[&str]) {
    assert_eq!(field(event, "agent_sensor.open.write"), &Value::Bool(true), "{event}");
    assert_eq!(str_field(event, "event.outcome"), "success", "{event}");
    for flag in expected {
        assert!(flags(event).contains(flag), "{flag} in {event}");
    }
}

#[test]
fn claude_code_tools_are_captured_and_benign_work_raises_no_alert() {
    let Some((_sandbox, source, run)) = benign_run("claude") else {
        return;
    };

    // Claude Code's Write tool saves atomically: it creates `<name>.tmp.<pid>.<12 hex>` beside the
    // target with O_CREAT|O_EXCL through /proc/self/fd/N of the directory, then renames it over
    // the target. The open is captured with the real absolute path.
    let agent = run.agent_pid();
    let temporary = Regex::new(&format!(
        r"^{}\.tmp\.{agent}\.[0-9a-f]{{12}}$",
        regex::escape(&source.display().to_string())
    ))
    .expect("regex");
    let writes: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| temporary.is_match(str_field(e, "file.path")))
        .collect();
    assert_eq!(writes.len(), 1, "one open of the temporary file\n{}", run.context());
    let write = writes[0];
    assert_eq!(pid(write), agent, "the agent itself wrote");
    assert_written(write, &["O_WRONLY", "O_CREAT", "O_EXCL"]);
    assert!(
        str_field(write, "agent_sensor.path_argument").starts_with("/proc/self/fd/"),
        "the path argument goes through the directory's descriptor: {write}"
    );
    assert_eq!(
        std::fs::read_to_string(&source).expect("the file"),
        "def main():\n    return 0\n"
    );
}

#[test]
fn codex_tools_are_captured_and_benign_work_raises_no_alert() {
    let Some((_sandbox, source, run)) = benign_run("codex") else {
        return;
    };

    // Codex's apply_patch writes the target in place: open(O_WRONLY|O_CREAT|O_TRUNC), write,
    // close, from a thread of the codex process (a Rust binary the npm package's node launcher
    // starts, so not the session's root).
    let writes: Vec<&Value> = run
        .opens_of(&source)
        .into_iter()
        .filter(|e| field(e, "agent_sensor.open.write") == &Value::Bool(true))
        .filter(|e| str_field(e, "event.outcome") == "success")
        .collect();
    assert_eq!(writes.len(), 1, "one write of {}\n{}", source.display(), run.context());
    assert_eq!(str_field(writes[0], "process.name"), "codex");
    assert_written(writes[0], &["O_WRONLY", "O_CREAT", "O_TRUNC"]);
}

#[test]
fn codex_writing_profile_with_its_patch_tool_raises_persistence_write() {
    let Some((_sandbox, profile, run)) = single_write("codex", |s| s.home().join(".profile"), "export EVIL=1\n") else {
        return;
    };
    let alerts = run.alerts_of("persistence-write");
    assert_eq!(alerts.len(), 1, "one persistence-write alert\n{}", run.context());
    assert_eq!(str_field(alerts[0], "file.path"), profile.display().to_string());
    // Monitor mode: what would have been done (deny with BPF LSM, kill without).
    let action = str_field(alerts[0], "agent_sensor.action");
    assert!(["would-deny", "would-kill"].contains(&action), "{}", alerts[0]);
}

// --- Atomic saves and io_uring -------------------------------------------------------------------
// Claude Code and Qwen Code save files by writing a temporary file and renaming it over the
// target, so the target is never opened for writing: the rename is the event.

#[test]
fn claude_code_writing_profile_with_its_write_tool_raises_a_persistence_alert() {
    let Some((_sandbox, profile, run)) = single_write("claude", |s| s.home().join(".profile"), "export EVIL=1\n")
    else {
        return;
    };
    let persistence: Vec<&Value> = run
        .alerts
        .iter()
        .filter(|a| ["persistence-write", "persistence-rename-blocked"].contains(&str_field(a, "rule.id")))
        .collect();
    assert_eq!(
        persistence.len(),
        1,
        "a rename over ~/.profile is persistence\n{}",
        run.context()
    );
    assert_eq!(str_field(persistence[0], "file.path"), profile.display().to_string());
}

#[test]
fn claude_code_atomic_save_in_the_workspace_is_a_rename_and_raises_no_alert() {
    let Some((_sandbox, source, run)) = single_write("claude", |s| s.workspace().join("src/app.py"), "x = 1\n") else {
        return;
    };
    let renames = support::find(&run.events, "rename", "file.path", &source.display().to_string());
    assert_eq!(renames.len(), 1, "the save's rename onto the target\n{}", run.context());
    assert_eq!(pid(renames[0]), run.agent_pid());
    assert!(
        run.alerts.is_empty(),
        "an atomic save in the workspace is benign\n{}",
        run.context()
    );
}

#[test]
fn claude_code_script_written_to_tmp_and_run_raises_staged_exec() {
    if !harness::require("claude agent e2e", "claude") {
        return;
    }
    let sandbox = Sandbox::new("claude");
    // A directory of the test's own under /tmp (not one of the tool scratch trees the pack skips).
    let scratch = tempfile::Builder::new()
        .prefix("agent-e2e-staged-")
        .tempdir_in("/tmp")
        .expect("a directory under /tmp");
    let script = scratch.path().join("p.sh");
    let command = format!("sh {}", script.display());
    let run = harness::run(
        "claude",
        &sandbox,
        &[Step::Write(&script, "echo staged\n"), Step::Shell(&command)],
    );
    // The Write tool wrote `p.sh.tmp.<pid>.<hex>` and renamed it onto p.sh: the session's
    // lineage follows the rename to the script `sh` is given.
    let renames = support::find(&run.events, "rename", "file.path", &script.display().to_string());
    assert_eq!(renames.len(), 1, "the save's rename onto the script\n{}", run.context());
    let staged = run.alerts_of("staged-exec-blocked");
    assert_eq!(staged.len(), 1, "one staged-exec-blocked alert\n{}", run.context());
    assert_eq!(
        str_field(staged[0], "agent_sensor.exec.filename"),
        script.display().to_string(),
        "{}",
        staged[0]
    );
    // Monitor mode: the script is judged by the tracepoint at exec on every backend.
    assert_eq!(
        str_field(staged[0], "agent_sensor.action"),
        "would-kill",
        "{}",
        staged[0]
    );
}

// Node's libuv (Gemini CLI, Qwen Code, Codex's launcher) submits file opens, reads and writes
// through io_uring when UV_USE_IO_URING=1 is set (off by default in Node 20): the opens never
// reach the openat tracepoints. A prompt-injected agent can set it for the agents it starts.
#[test]
#[ignore = "needs the Gemini CLI, which `cargo xtask setup` does not install yet (`cargo xtask agents install gemini`)"]
fn gemini_cli_file_tools_over_io_uring_are_captured() {
    if !harness::require("gemini agent e2e", "gemini") {
        return;
    }
    let sandbox = Sandbox::new("gemini");
    let source = sandbox.workspace().join("app.py");
    let steps = [Step::Write(&source, "x = 1\n"), Step::Read(&source)];
    let run = harness::run_with_env("gemini", &sandbox, &steps, &["UV_USE_IO_URING=1"]);
    assert_eq!(std::fs::read_to_string(&source).expect("the file"), "x = 1\n");
    let opens = run.opens_of(&source);
    assert!(
        opens
            .iter()
            .any(|e| field(e, "agent_sensor.open.write") == &Value::Bool(true)),
        "the write tool's open over io_uring\n{}",
        run.context()
    );
    assert!(
        opens.iter().any(|e| str_field(e, "agent_sensor.open.access") == "read"),
        "the read tool's open over io_uring\n{}",
        run.context()
    );
}
