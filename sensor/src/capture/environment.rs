//! Checks, before anything is loaded, that this machine can run the sensor, and mounts the
//! pseudo-filesystems it needs when they are missing. Every failure is a sentence that says what
//! is wrong and what to do.

use std::{
    fs,
    path::{Path, PathBuf},
};

use nix::mount::{MsFlags, mount};

use super::kernel_layout::VMLINUX_BTF;

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("agent-sensor must run as root: it loads eBPF programs into the kernel (try `sudo agent-sensor …`)")]
    NotRoot,
    #[error(
        "tracefs is not mounted and mounting it at /sys/kernel/tracing failed ({0}); mount it with \
         `mount -t tracefs tracefs /sys/kernel/tracing`"
    )]
    NoTracefs(nix::Error),
    #[error(
        "this kernel has no BTF at {VMLINUX_BTF}; Agent Sensor needs a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4)"
    )]
    NoBtf,
    #[error(
        "the tracepoint {0} does not exist on this kernel (no {1}); the sensor needs \
         CONFIG_FTRACE_SYSCALLS and the sched and task tracepoints"
    )]
    MissingTracepoint(&'static str, PathBuf),
}

/// Where tracefs is (or was just) mounted.
#[derive(Clone, Debug)]
pub struct Environment {
    pub tracefs: PathBuf,
}

const TRACEFS_CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Tracepoints without which the sensor cannot work at all.
const REQUIRED_TRACEPOINTS: [&str; 5] = [
    "sched/sched_process_exec",
    "sched/sched_process_exit",
    "task/task_newtask",
    "syscalls/sys_enter_openat",
    "syscalls/sys_exit_openat",
];

/// Checks privileges, tracefs, BTF and the required tracepoints.
pub fn check() -> Result<Environment, EnvironmentError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(EnvironmentError::NotRoot);
    }
    let tracefs = ensure_tracefs()?;
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(EnvironmentError::NoBtf);
    }
    for tracepoint in REQUIRED_TRACEPOINTS {
        let dir = tracefs.join("events").join(tracepoint);
        if !dir.exists() {
            return Err(EnvironmentError::MissingTracepoint(tracepoint, dir));
        }
    }
    raise_memlock_limit();
    Ok(Environment { tracefs })
}

fn ensure_tracefs() -> Result<PathBuf, EnvironmentError> {
    for candidate in TRACEFS_CANDIDATES {
        if Path::new(candidate).join("events").is_dir() {
            return Ok(PathBuf::from(candidate));
        }
    }
    let target = Path::new(TRACEFS_CANDIDATES[0]);
    mount(Some("tracefs"), target, Some("tracefs"), MsFlags::empty(), None::<&str>)
        .map_err(EnvironmentError::NoTracefs)?;
    Ok(target.to_path_buf())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; lift it so large ring buffers load.
fn raise_memlock_limit() {
    use nix::sys::resource::{Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_MEMLOCK, libc::RLIM_INFINITY, libc::RLIM_INFINITY);
}

/// True when the tracepoint exists on this kernel.
pub fn has_tracepoint(tracefs: &Path, category: &str, name: &str) -> bool {
    tracefs.join("events").join(category).join(name).is_dir()
}

/// The kernel release, for start-up logs.
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
