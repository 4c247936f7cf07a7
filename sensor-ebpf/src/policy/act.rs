//! Carrying out a verdict: in enforce mode, the LSM and cgroup backends make the operation fail
//! (their caller returns the error), the tracepoint backend kills the process (it cannot stop the
//! call), `kill` rules kill the process, and `kill-tree` rules mark the session so every process
//! of it is killed at its next hook while userspace kills the rest (cgroup.kill). In monitor
//! mode nothing is done, and the record says what would have been.
//!
//! Escalation (enforce mode): a verdict of a rule with an escalation window opens (or extends)
//! the session's window; while it is open and the tracepoint backend judged, new programs of
//! the session are killed before they run (the fallback cannot make a call fail, so this is how
//! "one `rm` per file" stops losing files); after the rule's number of denials within the
//! window, the record asks userspace to freeze the session (or kill its tree).

use aya_ebpf::helpers::{bpf_ktime_get_boot_ns, generated::bpf_send_signal};
use sensor_common::{
    maps::Counter,
    policy::{
        ACTION_KILL, ACTION_KILL_TREE, APPLIED_DENIED, APPLIED_KILLED, APPLIED_KILLED_TREE, APPLIED_MONITOR,
        APPLIED_SIGNAL_FAILED, BACKEND_CGROUP, BACKEND_LSM, BACKEND_TRACEPOINT, ESCALATE_WINDOW, Escalation,
        PolicyConfig,
    },
};

use super::judge::Verdict;
use crate::{
    counters::count,
    maps::{ESCALATION, KILLED},
};

const SIGKILL: u32 = 9;

/// What was done about a verdict.
#[derive(Clone, Copy, Default)]
pub struct Outcome {
    /// `APPLIED_*` bits.
    pub applied: u32,
    /// `ESCALATE_*` bits.
    pub escalation: u32,
    /// Denials of the session within its escalation window.
    pub denials: u32,
}

/// Applies `verdict` (which fired).
#[inline(always)]
pub fn apply(config: &PolicyConfig, verdict: &Verdict, backend: u32, session: u64) -> Outcome {
    count(Counter::PolicyFired);
    let mut outcome = Outcome::default();
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
        outcome.applied = applied | APPLIED_MONITOR;
        return outcome;
    }
    if kill && unsafe { bpf_send_signal(SIGKILL) } != 0 {
        count(Counter::SignalFailed);
        applied = (applied & !APPLIED_KILLED) | APPLIED_SIGNAL_FAILED;
    }
    if verdict.action >= ACTION_KILL_TREE {
        let now = unsafe { bpf_ktime_get_boot_ns() };
        let _ = KILLED.insert(&session, &now, 0);
    }
    outcome.applied = applied;
    if verdict.escalate_window_ns > 0 {
        escalate(verdict, backend, session, &mut outcome);
    }
    outcome
}

/// Opens or extends the session's escalation window and counts the denial.
#[inline(always)]
fn escalate(verdict: &Verdict, backend: u32, session: u64, outcome: &mut Outcome) {
    let now = unsafe { bpf_ktime_get_boot_ns() };
    let until = now + verdict.escalate_window_ns;
    let stop_execs = (backend == BACKEND_TRACEPOINT) as u32;
    let denials = match ESCALATION.get_ptr_mut(&session) {
        Some(state) => {
            let state = unsafe { &mut *state };
            state.denials = if state.until_ns > now { state.denials + 1 } else { 1 };
            state.until_ns = until;
            state.stop_execs |= stop_execs;
            state.denials
        }
        None => {
            let state = Escalation {
                until_ns: until,
                denials: 1,
                stop_execs,
            };
            let _ = ESCALATION.insert(&session, &state, 0);
            1
        }
    };
    outcome.denials = denials;
    outcome.escalation = ESCALATE_WINDOW;
    if verdict.escalate_after > 0 && denials >= verdict.escalate_after {
        outcome.escalation |= verdict.escalate_then;
    }
}

/// Opens (or extends) the session's window that stops its new programs, without counting a
/// denial (an operation went unjudged and its process was killed).
#[inline(always)]
pub fn stop_execs(session: u64, window_ns: u64) {
    let until = unsafe { bpf_ktime_get_boot_ns() } + window_ns;
    match ESCALATION.get_ptr_mut(&session) {
        Some(state) => {
            let state = unsafe { &mut *state };
            if state.until_ns < until {
                state.until_ns = until;
            }
            state.stop_execs = 1;
        }
        None => {
            let state = Escalation {
                until_ns: until,
                denials: 0,
                stop_execs: 1,
            };
            let _ = ESCALATION.insert(&session, &state, 0);
        }
    }
}

/// True when new programs of `session` are to be stopped: its escalation window is open and
/// was opened by the tracepoint backend.
#[inline(always)]
pub fn execs_stopped(session: u64) -> Option<Escalation> {
    let state = unsafe { ESCALATION.get(&session) }.copied()?;
    let now = unsafe { bpf_ktime_get_boot_ns() };
    (state.stop_execs != 0 && state.until_ns > now).then_some(state)
}

/// Kills the current process when its session is being killed (a `kill-tree` fired).
#[inline(always)]
pub fn kill_if_session_killed(session: u64) {
    if unsafe { KILLED.get(&session) }.is_some() && unsafe { bpf_send_signal(SIGKILL) } != 0 {
        count(Counter::SignalFailed);
    }
}

/// Kills the current process (an escalated session's new program).
#[inline(always)]
pub fn kill_current() -> bool {
    let failed = unsafe { bpf_send_signal(SIGKILL) } != 0;
    if failed {
        count(Counter::SignalFailed);
    }
    !failed
}
