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
    cmd::run(cargo().args(["test", "--workspace", "--no-fail-fast"])).context("tests failed")?;
    vm::run(&vm::Options::default())
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
