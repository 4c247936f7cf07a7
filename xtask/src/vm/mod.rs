//! `cargo xtask vm-test`: the end-to-end tests under real Debian kernels with BPF LSM, in QEMU.
//!
//! The dev and CI kernel refuses BPF LSM programs, so the tests of the enforcement path run in a
//! kernel lab: Debian cloud kernels (downloaded once into the tools cache), an initramfs that holds
//! the test binaries at their host paths with what the tests run (busybox, bash, coreutils,
//! python3), and QEMU with TCG. Every boot's console is streamed with the kernel's name in front
//! and saved to `target/vm/<kernel>/console.log`.

mod binaries;
mod cpio;
pub(crate) mod host;
pub(crate) mod initramfs;
pub(crate) mod kernels;
pub(crate) mod qemu;
mod tree;

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::cmd::workspace;

/// The kernels booted when none is named: Debian 12's own (6.1), whose verifier is the strictest
/// about stack (docs/enforcement.md, "Gaps"), and its newer one (6.12). They boot side by side.
pub const DEFAULT_KERNELS: [&str; 2] = ["6.1", "6.12"];
/// The end-to-end test targets run when none is named: the ones BPF LSM changes, and the session's
/// lifetime (cgroup freeze and kill on the lab's kernels).
pub const DEFAULT_TESTS: [&str; 7] = ["enforce", "tamper", "evasion", "doors", "egress", "escape", "lifetime"];

#[derive(Default)]
pub struct Options {
    /// Kernel versions such as `6.1`; empty means [`DEFAULT_KERNELS`].
    pub kernels: Vec<String>,
    /// The `[[test]]` targets of the `agent-sensor` package to run; empty means [`DEFAULT_TESTS`].
    pub tests: Vec<String>,
    /// Arguments for the test binary (a name filter, `--nocapture`, …).
    pub args: Vec<String>,
}

/// Builds what the guests need and boots them (what `cargo xtask vm-test` does).
pub fn run(options: &Options) -> Result<()> {
    prepare(options)?.boot()
}

/// What the guests boot: the kernels, the test binaries and the initramfs holding them, built
/// before any guest starts so that the boots need no cargo (`cargo xtask test` runs the host's
/// tests beside them).
pub struct Lab {
    kernels: Vec<kernels::Kernel>,
    name: String,
    initrd: std::path::PathBuf,
    out_dir: std::path::PathBuf,
}

/// Downloads the kernels, builds the test binaries and the initramfs.
pub fn prepare(options: &Options) -> Result<Lab> {
    let mut versions: Vec<String> = Vec::new();
    for version in &options.kernels {
        if !versions.contains(version) {
            versions.push(version.clone());
        }
    }
    if versions.is_empty() {
        versions = DEFAULT_KERNELS.iter().map(|version| version.to_string()).collect();
    }
    host::ensure_packages()?;

    let started = Instant::now();
    let kernels = kernels::ensure(&versions)?;
    eprintln!("vm-test: kernels ready in {:.1} s", started.elapsed().as_secs_f64());

    let tests: Vec<String> = if options.tests.is_empty() {
        DEFAULT_TESTS.iter().map(|test| test.to_string()).collect()
    } else {
        options.tests.clone()
    };
    let binaries = binaries::build(&tests)?;

    let started = Instant::now();
    let out_dir = workspace().join("target/vm");
    let initrd = initramfs::build(&binaries, &options.args, &out_dir)?;
    eprintln!(
        "vm-test: initramfs {} built in {:.1} s",
        initrd.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Lab {
        kernels,
        name: binaries.name,
        initrd,
        out_dir,
    })
}

impl Lab {
    /// Boots every kernel, prints a summary, and fails when any guest's tests failed.
    pub fn boot(&self) -> Result<()> {
        let outcomes = boot_all(&self.kernels, &self.initrd, &self.out_dir)?;
        eprintln!("vm-test summary ({}):", self.name);
        for (kernel, outcome) in self.kernels.iter().zip(&outcomes) {
            eprintln!(
                "  {:<5} {:<28} {:<7} {:>6.1} s  {}",
                kernel.version,
                kernel.release,
                if outcome.passed() { "passed" } else { "FAILED" },
                outcome.seconds,
                outcome.describe()
            );
        }
        let failed: Vec<&str> = self
            .kernels
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| !outcome.passed())
            .map(|(kernel, _)| kernel.version.as_str())
            .collect();
        if !failed.is_empty() {
            bail!(
                "vm-test failed on Linux {} (console logs under {})",
                failed.join(", "),
                self.out_dir.display()
            );
        }
        Ok(())
    }
}

/// How many guests may run at once (default: one per host CPU).
const JOBS_VARIABLE: &str = "AGENT_SENSOR_VM_JOBS";

/// Boots the kernels side by side, as many at a time as there are host CPUs (a guest mostly keeps
/// one busy) unless `AGENT_SENSOR_VM_JOBS` says otherwise; the console lines say which kernel they
/// come from.
fn boot_all(kernels: &[kernels::Kernel], initrd: &Path, out_dir: &Path) -> Result<Vec<qemu::Outcome>> {
    let jobs = match std::env::var(JOBS_VARIABLE) {
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .with_context(|| format!("{JOBS_VARIABLE}={value:?} is not a number"))?,
        Err(_) => thread::available_parallelism().map_or(1, |cpus| cpus.get()),
    };
    let workers = jobs.min(kernels.len()).max(1);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<qemu::Outcome>>> = Mutex::new(kernels.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(kernel) = kernels.get(index) else {
                        break;
                    };
                    let outcome = qemu::boot(kernel, initrd, &out_dir.join(&kernel.version));
                    if let Ok(mut outcomes) = outcomes.lock() {
                        outcomes[index] = Some(outcome);
                    }
                }
            });
        }
    });
    Ok(outcomes
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|| qemu::Outcome::failed("the boot did not report")))
        .collect())
}
