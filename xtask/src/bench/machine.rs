//! What the figures were measured on.

use std::{fs, process::Command};

use crate::cmd::{self, workspace};

#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub hypervisor: Option<String>,
    pub commit: String,
    pub rustc: String,
    /// Why BPF LSM is unavailable here, as `agent-sensor probe` says (`None`: available, or the
    /// probe did not run).
    pub bpf_lsm_problem: Option<String>,
    /// Whether the probe ran (its answer above is a measured fact only then).
    pub probed: bool,
}

/// Asks the sensor at `sensor` what this kernel lets it do (`agent-sensor probe`): whether it ran,
/// and why BPF LSM is unavailable when it is.
pub fn probe(sensor: &std::path::Path) -> (bool, Option<String>) {
    let Ok(out) = Command::new(sensor).arg("probe").output() else {
        return (false, None);
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let problem = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("BPF LSM unavailable: ").map(str::to_string));
    (out.status.success(), problem)
}

pub fn describe() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let hypervisor = cpuinfo
        .lines()
        .find(|line| line.starts_with("flags"))
        .is_some_and(|flags| flags.split_whitespace().any(|flag| flag == "hypervisor"))
        .then(|| {
            fs::read_to_string("/sys/class/dmi/id/sys_vendor")
                .ok()
                .map(|vendor| vendor.trim().to_string())
                .filter(|vendor| !vendor.is_empty())
                .unwrap_or_else(|| "a virtual machine".into())
        });
    let memory_kb: f64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    let os = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("PRETTY_NAME=")
                .map(|name| name.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let git = |args: &[&str]| cmd::output(Command::new("git").args(args).current_dir(workspace()));
    let mut commit = git(&["rev-parse", "--short", "HEAD"])
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|status| !status.trim().is_empty()) {
        commit.push_str(" with uncommitted changes");
    }
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        memory_gib: memory_kb / 1024.0 / 1024.0,
        kernel: cmd::output(Command::new("uname").arg("-r"))
            .map(|text| text.trim().to_string())
            .unwrap_or_default(),
        os,
        hypervisor,
        commit,
        rustc: cmd::output(Command::new("rustc").arg("--version"))
            .map(|text| text.trim().to_string())
            .unwrap_or_default(),
        bpf_lsm_problem: None,
        probed: false,
    }
}

/// The 1-minute load average (how busy the machine was besides the bench).
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
