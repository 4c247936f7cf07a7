//! `cargo xtask bench --lab`: the bench's figures as ratios within the guest, under the kernel
//! lab's Debian kernels (QEMU, see `vm`). Each kernel boots once per capture backend with the
//! release sensor and xtask in its initramfs; the guest runs the micro loops and the realistic
//! work that needs no compiler in the sensor's variants (`guest`) and prints each figure as a
//! JSON line on the console, which the host reads back and writes to docs/benchmarks-lab.md
//! (`report`). Absolute times under emulation mean little; ratios within one guest do.

pub mod guest;
mod report;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Options, env};
use crate::{
    cmd::{self, workspace},
    setup, vm,
};

/// What starts each figure line on the guest's console.
pub const LINE_PREFIX: &str = "AGENT_SENSOR_BENCH ";

/// A capture backend the sensor has in the lab: its name, and the environment that selects it.
pub struct Backend {
    pub name: &'static str,
    pub env: &'static [(&'static str, &'static str)],
}

/// One line per backend; a new capture backend is one more line.
pub const BACKENDS: &[Backend] = &[Backend {
    name: "tracepoints",
    env: &[],
}];

/// One boot's figures.
pub struct Boot {
    pub version: String,
    pub release: String,
    pub backend: &'static str,
    pub seconds: f64,
    /// Why the boot gave no figures (or not all of them).
    pub error: Option<String>,
    pub lines: Vec<Value>,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    if !cmd::is_root() {
        bail!("the lab bench boots kernels with the sensor inside: run it as root");
    }
    let mut versions: Vec<String> = Vec::new();
    for version in &options.kernels {
        if !versions.contains(version) {
            versions.push(version.clone());
        }
    }
    if versions.is_empty() {
        versions = vm::DEFAULT_KERNELS.iter().map(|version| version.to_string()).collect();
    }
    vm::host::ensure_packages()?;
    let kernels = vm::kernels::ensure(&versions)?;
    if !options.no_build {
        setup::run()?;
        super::build_release(&[
            "--package",
            "xtask",
            "--package",
            "agent-sensor",
            "--bin",
            "xtask",
            "--bin",
            "agent-sensor",
        ])?;
    }
    let release = env::target_dir().join("release");
    let binaries: Vec<PathBuf> = ["agent-sensor", "xtask"]
        .iter()
        .map(|name| release.join(name))
        .collect();
    for binary in &binaries {
        if !binary.is_file() {
            bail!("{} is missing (build it, or leave out --no-build)", binary.display());
        }
    }
    let out_dir = env::target_dir().join("bench/lab");
    let mut boots = Vec::new();
    for backend in BACKENDS {
        let initrd = initramfs(backend, &binaries, options.quick, &out_dir)?;
        for kernel in &kernels {
            eprintln!(
                "bench-lab: Linux {} ({}), {} capture",
                kernel.version, kernel.release, backend.name
            );
            let log_dir = out_dir.join(format!("{}-{}", kernel.version, backend.name));
            let limit = Duration::from_secs(if options.quick { 25 * 60 } else { 90 * 60 });
            let outcome = vm::qemu::boot_with_timeout(kernel, &initrd, &log_dir, Some(limit));
            let console = fs::read_to_string(log_dir.join("console.log")).unwrap_or_default();
            let lines = parse(&console);
            let done = lines.iter().any(|line| line["section"] == "done");
            let failed_parts = lines.iter().filter(|line| line.get("error").is_some()).count();
            let error = if !outcome.passed() || !done {
                Some(outcome.describe())
            } else if failed_parts > 0 {
                Some(format!("{failed_parts} part(s) of the guest's bench failed"))
            } else {
                None
            };
            boots.push(Boot {
                version: kernel.version.clone(),
                release: kernel.release.clone(),
                backend: backend.name,
                seconds: outcome.seconds,
                error,
                lines,
            });
        }
    }
    let text = report::markdown(&boots, options.quick, started.elapsed());
    let output = match (&options.output, options.quick) {
        (Some(path), _) => path.clone(),
        (None, true) => env::target_dir().join("bench/benchmarks-lab-quick.md"),
        (None, false) => workspace().join("docs/benchmarks-lab.md"),
    };
    if let Some(parent) = output.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(&output, &text).with_context(|| format!("writing {}", output.display()))?;
    println!("{}", report::summary(&boots));
    eprintln!(
        "bench-lab: report written to {} ({:.1} min)",
        output.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    let failed: Vec<String> = boots
        .iter()
        .filter(|boot| boot.error.is_some())
        .map(|boot| format!("{} ({})", boot.version, boot.backend))
        .collect();
    if !failed.is_empty() {
        bail!(
            "the lab bench did not finish on Linux {} (console logs under {})",
            failed.join(", "),
            out_dir.display()
        );
    }
    Ok(())
}

/// The guest's archive for `backend`: the common tools, the sensor and xtask, and an `/init` that
/// runs `xtask __bench-lab-guest` with the backend's environment.
fn initramfs(backend: &Backend, binaries: &[PathBuf], quick: bool, out_dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let xtask = binaries
        .iter()
        .find(|binary| binary.ends_with("xtask"))
        .context("no xtask binary")?;
    let quote = vm::initramfs::shell_quote;
    let mut words: Vec<String> = vec!["env".into()];
    // Where the guest's bench finds the binaries: at the host's paths.
    words.push(quote(&format!("CARGO_TARGET_DIR={}", env::target_dir().display())));
    words.extend(backend.env.iter().map(|(key, value)| quote(&format!("{key}={value}"))));
    words.push(quote(&xtask.display().to_string()));
    words.push("__bench-lab-guest".into());
    words.push("--backend".into());
    words.push(quote(backend.name));
    if quick {
        words.push("--quick".into());
    }
    let started = Instant::now();
    let path = vm::initramfs::build_guest(
        &vm::initramfs::Guest {
            name: format!("bench-{}", backend.name),
            binaries: binaries.to_vec(),
            command: words.join(" "),
        },
        out_dir,
    )?;
    eprintln!(
        "bench-lab: initramfs {} built in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// The figure lines of a console log.
pub fn parse(console: &str) -> Vec<Value> {
    console
        .lines()
        .filter_map(|line| {
            let at = line.find(LINE_PREFIX)?;
            serde_json::from_str(line[at + LINE_PREFIX.len()..].trim()).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_lines_are_read_from_the_console() {
        let console = "[    1.0] random kernel line\n\
                       AGENT_SENSOR_BENCH {\"section\":\"micro\",\"work\":\"open-close\",\"variant\":\"tracked\"}\n\
                       noise AGENT_SENSOR_BENCH {\"section\":\"done\"}\n\
                       AGENT_SENSOR_BENCH {broken\n";
        let lines = parse(console);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["work"], "open-close");
        assert_eq!(lines[1]["section"], "done");
        assert!(BACKENDS.iter().any(|backend| backend.name == "tracepoints"));
    }
}
