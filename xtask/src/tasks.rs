//! Build, run and test.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{
    cmd::{self, workspace},
    setup, vm,
};

fn cargo() -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(workspace());
    command
}

pub fn build() -> Result<()> {
    setup::run()?;
    cmd::run(cargo().args(["build", "--release", "--package", "agent-sensor"]))
}

/// Runs the daemon with the default configuration (built-in profiles, events to stdout).
pub fn run_sensor(args: &[String]) -> Result<()> {
    build()?;
    let binary = workspace().join("target/release/agent-sensor");
    let mut command = if cmd::is_root() {
        Command::new(&binary)
    } else {
        eprintln!("the sensor loads eBPF programs and needs root: running it with sudo");
        let mut sudo = Command::new("sudo");
        sudo.arg(&binary);
        sudo
    };
    command.arg("run").args(args);
    cmd::run(&mut command)
}

/// Everything CI checks: formatting, lints, unit tests, end-to-end tests on this kernel, then the
/// default end-to-end target under Debian kernels with BPF LSM (this kernel refuses BPF LSM).
pub fn test() -> Result<()> {
    setup::run()?;
    cmd::run(cargo().args(["fmt", "--all", "--check"]))?;
    cmd::run(
        Command::new("rustup")
            .args(["run", "nightly", "cargo", "fmt", "--check"])
            .current_dir(workspace().join("sensor-ebpf")),
    )?;
    cmd::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    if in_ci && !cmd::is_root() {
        bail!("CI must run the tests as root: the end-to-end tests load eBPF programs");
    }
    // The kernel lab's guests run beside the host's tests: a guest keeps one emulator thread
    // busy for most of its run, and the host's end-to-end tests mostly wait on processes, so
    // side by side the two take little longer than the lab alone.
    let lab = vm::prepare(&vm::Options::default())?;
    let skipped_list = workspace().join("target/tmp/skipped-e2e.txt");
    let _ = std::fs::remove_file(&skipped_list);
    let (tests, lab) = std::thread::scope(|scope| {
        let guests = scope.spawn(|| lab.boot());
        let tests = cmd::run(cargo().args(["test", "--workspace", "--no-fail-fast"]))
            .context("tests failed")
            .and_then(|()| short_soak());
        let lab = guests
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the kernel lab's thread panicked")));
        (tests, lab)
    });
    report_skipped(&skipped_list);
    match (tests, lab) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(tests), Ok(())) => Err(tests),
        (Ok(()), Err(lab)) => Err(lab),
        (Err(tests), Err(lab)) => Err(tests.context(format!("and the kernel lab failed too: {lab:#}"))),
    }
}

/// A minute of the soak (`cargo xtask soak`) with the binaries the tests built, while the lab
/// still runs: no alert lost across a receiver outage, no kernel drop, no descriptor growth.
/// As root only, as the end-to-end tests (skipping is refused in CI above).
fn short_soak() -> Result<()> {
    if !cmd::is_root() {
        eprintln!("test: the short soak SKIPPED (it needs root)");
        return Ok(());
    }
    crate::bench::soak::run(&crate::bench::soak::SoakOptions::short(
        crate::bench::env::target_dir().join("debug"),
    ))
    .context("the short soak failed")
}

/// Lists the end-to-end tests that skipped (not root, outside CI), which the test harness
/// counts as passed (`tests/support`'s `require_root` writes the list).
fn report_skipped(list: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(list) else {
        return;
    };
    let skipped: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    if !skipped.is_empty() {
        eprintln!(
            "test: {} end-to-end tests SKIPPED, not passed (they need root): {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
}

/// Set up (building the sensor needs bpf-linker), then run the tests in the kernel lab.
pub fn vm_test(options: &vm::Options) -> Result<()> {
    setup::run()?;
    vm::run(options)
}

/// Builds `target/debian/agent-sensor_*.deb` (cargo-deb, installed into cargo's bin directory
/// when missing).
pub fn package() -> Result<()> {
    build()?;
    let has_cargo_deb = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_deb {
        eprintln!("package: installing cargo-deb (once)");
        cmd::run(cargo().args(["install", "cargo-deb", "--locked"]))?;
    }
    cmd::run(cargo().args(["deb", "--package", "agent-sensor", "--no-build"]))
}
