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
    /// The test target's name (`enforce`, `watch`, …).
    pub name: String,
    pub test: PathBuf,
    pub sensor: PathBuf,
}

/// `cargo test --no-run --package agent-sensor --test NAME`, read from cargo's JSON messages.
pub fn build(name: &str) -> Result<TestBinaries> {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace())
        .args(["test", "--no-run", "--package", "agent-sensor", "--test", name])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("+ {}", cmd::describe(&command));
    let out = command
        .output()
        .with_context(|| format!("could not start `{}`", cmd::describe(&command)))?;
    if !out.status.success() {
        let test_file = workspace().join("tests").join(format!("{name}.rs"));
        let hint = if test_file.exists() {
            String::new()
        } else {
            format!(" ({} does not exist)", test_file.display())
        };
        bail!("`{}` failed with {}{hint}", cmd::describe(&command), out.status);
    }
    let mut test = None;
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
        if target["name"] == name && is_kind("test") {
            test = Some(PathBuf::from(executable));
        } else if target["name"] == "agent-sensor" && is_kind("bin") {
            sensor = Some(PathBuf::from(executable));
        }
    }
    Ok(TestBinaries {
        name: name.to_string(),
        test: test.with_context(|| format!("cargo reported no executable for the test target `{name}`"))?,
        sensor: sensor.context("cargo reported no executable for the `agent-sensor` binary")?,
    })
}
