//! Carrying out a verdict: in enforce mode, the LSM and cgroup backends make the operation fail
//! (their caller returns the error), the tracepoint backend kills the process (it cannot stop the
//! call), `kill` rules kill the process, and `kill-tree` rules mark the session so every process
//! of it is killed at its next hook while userspace kills the rest (cgroup.kill). In monitor
//! mode nothing is done, and the record says what would have been.

use aya_ebpf::helpers::{bpf_ktime_get_boot_ns, generated::bpf_send_signal};
use sensor_common::{
    maps::Counter,
    policy::{
        ACTION_KILL, ACTION_KILL_TREE, APPLIED_DENIED, APPLIED_KILLED, APPLIED_KILLED_TREE, APPLIED_MONITOR,
        APPLIED_SIGNAL_FAILED, BACKEND_CGROUP, BACKEND_LSM, BACKEND_TRACEPOINT, PolicyConfig,
    },
};

use super::judge::Verdict;
use crate::{counters::count, maps::KILLED};

const SIGKILL: u32 = 9;

/// Applies `verdict` (which fired) and returns the `APPLIED_*` bits.
#[inline(always)]
pub fn apply(config: &PolicyConfig, verdict: &Verdict, backend: u32, session: u64) -> u32 {
    count(Counter::PolicyFired);
    let mut applied = 0;
    if backend == BACKEND_LSM || backend == BACKEND_CGROUP {
        applied |= APPLIED_DENIED;
    }
    // Cgroup socket programs cannot send signals: userspace kills for them.
    let kill = backend != BACKEND_CGROUP && (verdict.action >= ACTION_KILL || backend == BACKEND_TRACEPOINT);
    if kill {
        applied |= APPLIED_KILLED;
    }
    if verdict.action >= ACTION_KILL_TREE {
        applied |= APPLIED_KILLED_TREE;
    }
    if config.enforce == 0 {
        return applied | APPLIED_MONITOR;
    }
    if kill && unsafe { bpf_send_signal(SIGKILL) } != 0 {
        count(Counter::SignalFailed);
        applied = (applied & !APPLIED_KILLED) | APPLIED_SIGNAL_FAILED;
    }
    if verdict.action >= ACTION_KILL_TREE {
        let now = unsafe { bpf_ktime_get_boot_ns() };
        let _ = KILLED.insert(&session, &now, 0);
    }
    applied
}

/// Kills the current process when its session is being killed (a `kill-tree` fired).
#[inline(always)]
pub fn kill_if_session_killed(session: u64) {
    if unsafe { KILLED.get(&session) }.is_some() && unsafe { bpf_send_signal(SIGKILL) } != 0 {
        count(Counter::SignalFailed);
    }
}
