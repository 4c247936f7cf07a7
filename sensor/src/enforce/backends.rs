//! Which backend enforces each operation, chosen from what actually loaded: the strongest
//! available, never claimed when absent (docs/enforcement.md).

use std::fmt;

use sensor_common::policy::{
    BACKEND_CGROUP, BACKEND_LSM, BACKEND_NONE, BACKEND_TRACEPOINT, OP_COUNT, OP_SLOTS, PolicyOp,
};

use crate::capture::enforcement::EnforcementPrograms;
pub use crate::capture::enforcement::lsm_hook;

/// The backend that judges `op` where BPF LSM is unavailable: the cgroup socket programs for
/// connect, none for hand-offs (the sensor detects them after the call), the syscall
/// tracepoints (killing the process) for everything else.
pub fn fallback_backend(op: PolicyOp) -> u32 {
    if op == PolicyOp::Connect {
        BACKEND_CGROUP
    } else if op.is_handoff() {
        BACKEND_NONE
    } else {
        BACKEND_TRACEPOINT
    }
}

/// A backend, by its `BACKEND_*` number.
pub fn backend_name(backend: u32) -> &'static str {
    match backend {
        BACKEND_LSM => "bpf-lsm",
        BACKEND_TRACEPOINT => "tracepoint-sigkill",
        BACKEND_CGROUP => "cgroup-sock-addr",
        _ => "none",
    }
}

/// What each backend guarantees, in one phrase (for logs and `agent-sensor probe`).
fn guarantee(op: PolicyOp, backend: u32) -> &'static str {
    match (backend, op) {
        (BACKEND_LSM, _) => "denied before it happens (EPERM)",
        (BACKEND_CGROUP, _) => "connect/sendmsg fail with EPERM before any packet is sent",
        (BACKEND_TRACEPOINT, PolicyOp::OpenRead | PolicyOp::OpenWrite) => {
            "the open completes, then the process is killed before it can read or write (O_CREAT/O_TRUNC already applied)"
        }
        (BACKEND_TRACEPOINT, PolicyOp::Unlink | PolicyOp::Rmdir) => {
            "the process is killed at syscall entry; its first removal still completes"
        }
        (BACKEND_TRACEPOINT, PolicyOp::Rename | PolicyOp::RenameFrom | PolicyOp::Link | PolicyOp::Symlink) => {
            "the process is killed at syscall entry; its first rename or link still completes"
        }
        (BACKEND_TRACEPOINT, PolicyOp::Truncate) => {
            "the process is killed at syscall entry; its first truncation still completes"
        }
        (BACKEND_TRACEPOINT, PolicyOp::Exec) => "the new program is killed before its first instruction",
        (_, PolicyOp::HandoffConnect | PolicyOp::HandoffAttach) => {
            "not judged by the kernel: detected after the call (kill and kill-tree rules act then)"
        }
        _ => "not enforced: reported only",
    }
}

/// Operations the tracepoint backend judges at syscall entry (their exit would be too late).
fn judged_at_entry(op: PolicyOp) -> bool {
    matches!(
        op,
        PolicyOp::Unlink
            | PolicyOp::Rmdir
            | PolicyOp::Rename
            | PolicyOp::RenameFrom
            | PolicyOp::Link
            | PolicyOp::Symlink
            | PolicyOp::Truncate
    )
}

/// The backend of every operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backends {
    pub by_op: [u32; OP_COUNT],
    /// Why the strongest backend is not in use, when it is not.
    pub lsm_problem: Option<String>,
    pub cgroup_problem: Option<String>,
    /// The BPF LSM hooks that guard the sensor (ptrace, bpf) are attached.
    pub lsm_guards_sensor: bool,
    /// Why the tracepoint backend cannot judge calls at entry, when it cannot.
    pub entry_policy_problem: Option<String>,
}

impl Backends {
    /// Chooses from what loaded: LSM where its hook is attached; otherwise tracepoints for files
    /// and exec, the cgroup programs for connect (when `cgroup_attached`).
    pub fn choose(programs: &EnforcementPrograms, cgroup_attached: bool) -> Self {
        let mut by_op = [BACKEND_NONE; OP_COUNT];
        for op in PolicyOp::ALL {
            let lsm = if op == PolicyOp::Connect {
                programs.lsm_judges_network()
            } else {
                programs.lsm_attached.contains(&lsm_hook(op))
            };
            by_op[op as usize] = if lsm {
                BACKEND_LSM
            } else if (op == PolicyOp::Connect && !cgroup_attached)
                || (programs.entry_policy_problem.is_some() && judged_at_entry(op))
            {
                BACKEND_NONE
            } else {
                fallback_backend(op)
            };
        }
        Self {
            by_op,
            lsm_guards_sensor: ["ptrace_access_check", "bpf"]
                .iter()
                .all(|hook| programs.lsm_attached.contains(hook)),
            lsm_problem: programs.lsm_problem.clone(),
            entry_policy_problem: programs.entry_policy_problem.clone(),
            cgroup_problem: (!cgroup_attached).then(|| {
                programs
                    .cgroup_problem
                    .clone()
                    .unwrap_or_else(|| "no cgroup to attach the socket programs to".into())
            }),
        }
    }

    pub fn of(&self, op: PolicyOp) -> u32 {
        self.by_op[op as usize]
    }

    /// The settings array of `PolicyConfig::backends`.
    pub fn config(&self) -> [u32; OP_SLOTS] {
        let mut out = [BACKEND_NONE; OP_SLOTS];
        out[..OP_COUNT].copy_from_slice(&self.by_op);
        out
    }

    /// True when every operation is judged by BPF LSM.
    pub fn all_lsm(&self) -> bool {
        self.by_op.iter().all(|backend| *backend == BACKEND_LSM)
    }
}

/// One operation's backend, for `agent-sensor status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackendSummary {
    pub operation: String,
    pub backend: String,
    pub guarantee: String,
}

impl Backends {
    /// Every operation with its backend and what that backend guarantees.
    pub fn summary(&self) -> Vec<BackendSummary> {
        PolicyOp::ALL
            .into_iter()
            .map(|op| BackendSummary {
                operation: op.name().to_string(),
                backend: backend_name(self.of(op)).to_string(),
                guarantee: guarantee(op, self.of(op)).to_string(),
            })
            .collect()
    }
}

impl fmt::Display for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in PolicyOp::ALL {
            let backend = self.of(op);
            writeln!(
                f,
                "  {:<15} {:<18} {}",
                op.name(),
                backend_name(backend),
                guarantee(op, backend)
            )?;
        }
        if let Some(problem) = &self.lsm_problem {
            writeln!(f, "  BPF LSM unavailable: {problem}")?;
        }
        if self.of(PolicyOp::Connect) == BACKEND_NONE
            && let Some(problem) = &self.cgroup_problem
        {
            writeln!(f, "  connect not enforced: {problem}")?;
        }
        if PolicyOp::ALL
            .into_iter()
            .any(|op| judged_at_entry(op) && self.of(op) == BACKEND_NONE)
            && let Some(problem) = &self.entry_policy_problem
        {
            writeln!(f, "  removals, renames, links and truncation not enforced: {problem}")?;
        }
        Ok(())
    }
}
