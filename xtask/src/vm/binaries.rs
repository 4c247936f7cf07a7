//! Building one end-to-end test target and finding its executable and the sensor's.
//!
//! The test finds the sensor through `env!("CARGO_BIN_EXE_agent-sensor")`, an absolute path, so
//! both go into the guest at the paths they have here.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::{self, workspace};

pub struct TestBinaries {
    /// The test targets' names (`enforce`, `tamper`, …), joined with `+`.
    pub name: String,
    /// One executable per test target, in the order asked for.
    pub tests: Vec<PathBuf>,
    pub sensor: PathBuf,
}

/// `cargo test --no-run --package agent-sensor --test NAME…`, read from cargo's JSON messages.
pub fn build(names: &[String]) -> Result<TestBinaries> {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace())
        .args(["test", "--no-run", "--package", "agent-sensor"]);
    for name in names {
        command.args(["--test", name]);
    }
    command
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("+ {}", cmd::describe(&command));
    let out = command
        .output()
        .with_context(|| format!("could not start `{}`", cmd::describe(&command)))?;
    if !out.status.success() {
        let hint: String = names
            .iter()
            .map(|name| workspace().join("tests").join(format!("{name}.rs")))
            .filter(|file| !file.exists())
            .map(|file| format!(" ({} does not exist)", file.display()))
            .collect();
        bail!("`{}` failed with {}{hint}", cmd::describe(&command), out.status);
    }
    let mut tests: Vec<Option<PathBuf>> = vec![None; names.len()];
    let mut sensor = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        let is_kind = |kind: &str| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == kind))
        };
        if let Some(index) = names.iter().position(|name| target["name"] == name.as_str())
            && is_kind("test")
        {
            tests[index] = Some(PathBuf::from(executable));
        } else if target["name"] == "agent-sensor" && is_kind("bin") {
            sensor = Some(PathBuf::from(executable));
        }
    }
    let tests = tests
        .into_iter()
        .zip(names)
        .map(|(test, name)| test.with_context(|| format!("cargo reported no executable for the test target `{name}`")))
        .collect::<Result<Vec<_>>>()?;
    Ok(TestBinaries {
        name: names.join("+"),
        tests,
        sensor: sensor.context("cargo reported no executable for the `agent-sensor` binary")?,
    })
}
