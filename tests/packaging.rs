//! The files a deployment installs: the systemd unit verifies, and the packaged configuration
//! passes `agent-sensor config check`.

mod support;

use std::{path::Path, process::Command};

use support::*;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |ci| ci != "true"),
            "systemd-analyze is missing and CI=true: install systemd"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = std::fs::read_to_string(workspace().join("packaging/agent-sensor.service")).expect("unit");
    // The unit names the installed binary; verify it against the one just built.
    let unit = unit.replace("/usr/bin/agent-sensor", &sensor_binary().display().to_string());
    let path = dir.path().join("agent-sensor.service");
    std::fs::write(&path, unit).expect("unit copy");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let complaints: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("agent-sensor.service"))
        .collect();
    assert!(out.status.success() && complaints.is_empty(), "{report}");
}

#[test]
fn the_packaged_configuration_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        workspace().join("packaging/config.yaml"),
        dir.path().join("config.yaml"),
    )
    .expect("config");
    std::fs::copy(workspace().join("config/agents.yaml"), dir.path().join("agents.yaml")).expect("profiles");
    let out = sensor()
        .args(["config", "check"])
        .arg(dir.path().join("config.yaml"))
        .output()
        .expect("config check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("alerts-file"), "{stdout}");
    assert!(stdout.contains("http://127.0.0.1:9464/metrics"), "{stdout}");
    assert!(stdout.contains("claude-code"), "{stdout}");
}
