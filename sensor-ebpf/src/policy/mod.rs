//! Enforcement: judging operations of tracked processes against the policy userspace compiled
//! from the rules (`sensor_common::policy`), acting on the verdict, and reporting it.
//!
//! Each hook asks [`judging`] whether it is the backend for its operation (an LSM hook, a
//! tracepoint fallback, or a cgroup socket program), builds the operation's `Subject`, and calls
//! `judge`; when rules fire, `act` applies the verdict and `emit` reports it.

pub mod act;
pub mod check;
pub mod emit;
pub mod handoff;
pub mod judge;
pub mod path_key;
pub mod path_sets;
pub mod threshold;
pub mod written;

use sensor_common::policy::{OP_SLOTS, PolicyConfig, PolicyOp};

use crate::maps::POLICY_CONFIG;

/// `op` as an index into the per-operation arrays of `PolicyConfig`, bounded in a way the
/// verifier sees (the compiler knows the enum's range and would drop a plain mask).
#[inline(always)]
pub fn op_index(op: PolicyOp) -> usize {
    let value = op as u16;
    (unsafe { core::ptr::read_volatile(&value) } as usize) & (OP_SLOTS - 1)
}

/// The policy settings, when `backend` judges `op` and some rule applies to it.
#[inline(always)]
pub fn judging(op: PolicyOp, backend: u32) -> Option<&'static PolicyConfig> {
    let config = POLICY_CONFIG.get(0)?;
    let index = op_index(op);
    (config.backends[index] == backend && config.op_rules[index] != 0).then_some(config)
}

/// True when some kernel rule judges execs, whichever backend judges them: the script an
/// interpreter is given (`sh /tmp/p.sh`) is found and judged at `sched_process_exec` on every
/// backend (BPF LSM's `bprm_check_security` sees the interpreter only), and it is found by the
/// hash of its path, so writes and renames must remember path hashes whenever this holds.
#[inline(always)]
pub fn scripts_judged(config: &PolicyConfig) -> bool {
    config.op_rules[op_index(PolicyOp::Exec)] != 0
}

/// The policy settings.
#[inline(always)]
pub fn config() -> Option<&'static PolicyConfig> {
    POLICY_CONFIG.get(0)
}
