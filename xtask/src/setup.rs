//! Installing the build prerequisites into places the project owns, idempotently.
//!
//! - rust-src for the nightly toolchain (`-Z build-std=core` needs it);
//! - bpf-linker 0.13.0 built against nightly's own LLVM 22, installed under
//!   `$AGENT_SENSOR_TOOLS` (default `~/.cache/agent-sensor`) with its library directory, which
//!   must outlive the binary (the binary's rpath points there);
//! - tracefs, securityfs and bpffs mounted when running as root and they are absent;
//! - the agent CLIs the end-to-end tests drive (`agents::TESTED`), from the npm registry;
//! - the Debian packages of the programs the end-to-end tests drive (`TEST_PACKAGES`).

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, output};

const BPF_LINKER_VERSION: &str = "0.13.0";

/// Where the project's tools live.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = env::var_os("AGENT_SENSOR_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/agent-sensor")
}

pub fn run() -> Result<()> {
    check_nightly()?;
    ensure_rust_src()?;
    ensure_bpf_linker()?;
    mount_pseudo_filesystems();
    ensure_test_packages()?;
    ensure_tested_agents()
}

/// Programs the end-to-end tests run inside agent sessions: tmux servers and an ssh-agent
/// (tests/escape.rs), git, curl and python3.
const TEST_PACKAGES: [&str; 5] = ["tmux", "openssh-client", "git", "curl", "python3"];

/// Installs the missing test packages with apt: a failure fails in CI (the tests would fail
/// there anyway) and is a warning elsewhere.
fn ensure_test_packages() -> Result<()> {
    match crate::vm::host::ensure("setup", &TEST_PACKAGES) {
        Ok(()) => Ok(()),
        Err(error) if env::var("CI").is_ok_and(|value| value == "true") => Err(error),
        Err(error) => {
            eprintln!("warning: the end-to-end tests' programs are not installed: {error:#}");
            Ok(())
        }
    }
}

/// The agent end-to-end tests need their agents: a failure to install them fails in CI (the
/// tests would fail there anyway) and is a warning elsewhere (those tests then skip).
fn ensure_tested_agents() -> Result<()> {
    match crate::agents::install(&crate::agents::TESTED) {
        Ok(()) => Ok(()),
        Err(error) if env::var("CI").is_ok_and(|value| value == "true") => Err(error),
        Err(error) => {
            eprintln!("warning: the agent CLIs for tests/agents.rs are not installed: {error:#}");
            Ok(())
        }
    }
}

fn check_nightly() -> Result<()> {
    let version = output(Command::new("rustc").args(["+nightly", "-vV"])).context(
        "the nightly Rust toolchain is missing; the kernel programs need it (`-Z build-std`). \
         Install it with `rustup toolchain install nightly`",
    )?;
    if !version.contains("LLVM version: 22") {
        eprintln!(
            "warning: nightly's LLVM is not version 22; bpf-linker is built with the llvm-22 feature:\n{version}"
        );
    }
    Ok(())
}

fn ensure_rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]))
        .unwrap_or_default();
    if installed.lines().any(|line| line.starts_with("rust-src")) {
        return Ok(());
    }
    cmd::run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

/// The real libLLVM shared object of the nightly toolchain (not the linker script beside it).
fn nightly_libllvm() -> Result<PathBuf> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("cannot find nightly's sysroot")?;
    let lib = Path::new(sysroot.trim()).join("lib");
    let entry = fs::read_dir(&lib)
        .with_context(|| format!("cannot read {}", lib.display()))?
        .flatten()
        .find(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("libLLVM.so.22.1-rust-") && name.ends_with("-nightly")
        })
        .with_context(|| format!("no libLLVM.so.22.1-rust-*-nightly in {}", lib.display()))?;
    Ok(entry.path())
}

fn ensure_bpf_linker() -> Result<()> {
    let prefix = tools_dir().join("bpf-linker");
    let binary = prefix.join("bin/bpf-linker");
    let lib_dir = prefix.join("lib");
    let llvm = nightly_libllvm()?;
    let llvm_name = llvm.file_name().context("libLLVM has no file name")?;

    // The library links must point at the current nightly's LLVM, or the binary will not start.
    fs::create_dir_all(&lib_dir).with_context(|| format!("cannot create {}", lib_dir.display()))?;
    for link in [lib_dir.join("libLLVM.so"), lib_dir.join(llvm_name)] {
        if fs::read_link(&link).ok().as_deref() != Some(llvm.as_path()) {
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(&llvm, &link)
                .with_context(|| format!("cannot link {} to {}", link.display(), llvm.display()))?;
        }
    }

    let current = output(Command::new(&binary).arg("--version")).unwrap_or_default();
    if current.trim() == format!("bpf-linker {BPF_LINKER_VERSION}") {
        return Ok(());
    }
    eprintln!("building bpf-linker {BPF_LINKER_VERSION} against nightly's LLVM (about 3 minutes, once)");
    cmd::run(
        Command::new("cargo")
            .args(["install", "--locked", "--force", "--root"])
            .arg(&prefix)
            .args(["bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("LLVM_PREFIX", &prefix),
    )?;
    let installed = output(Command::new(&binary).arg("--version")).unwrap_or_default();
    if !installed.contains(BPF_LINKER_VERSION) {
        bail!(
            "bpf-linker was built but `{} --version` does not work",
            binary.display()
        );
    }
    Ok(())
}

/// Mounts tracefs, securityfs and bpffs where they are missing (root only; best effort — the
/// sensor itself reports what it lacks).
fn mount_pseudo_filesystems() {
    if !cmd::is_root() {
        return;
    }
    for (fstype, target, probe) in [
        ("tracefs", "/sys/kernel/tracing", "/sys/kernel/tracing/events"),
        ("securityfs", "/sys/kernel/security", "/sys/kernel/security/lsm"),
        ("bpf", "/sys/fs/bpf", ""),
    ] {
        let mounted = if probe.is_empty() {
            is_mount_point(target)
        } else {
            Path::new(probe).exists()
        };
        if !mounted
            && Path::new(target).is_dir()
            && let Err(error) = cmd::run(Command::new("mount").args(["-t", fstype, fstype, target]))
        {
            eprintln!("warning: could not mount {fstype} at {target}: {error:#}");
        }
    }
}

fn is_mount_point(path: &str) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .map(|mounts| mounts.lines().any(|line| line.split_whitespace().nth(1) == Some(path)))
        .unwrap_or(false)
}
