//! The kernel form of a rule: what a rule with `action: deny`, `kill` or `kill-tree` becomes when
//! the kernel judges it (docs/enforcement.md).
//!
//! A kernel rule is an ordinary rule whose condition uses only what the kernel can evaluate at the
//! moment of the operation: which operation, the path (globs of the shapes in `kernel_glob`), read
//! or write, whether the session wrote the file, whether it is in the session's workspace, the
//! destination address and port, and exceptions by program. Userspace evaluates the same rule the
//! same way when it replays recorded events, so `rules test` checks what the kernel does.
//! `deny` rules must have a kernel form (nothing else can stop an operation before it happens);
//! `kill` and `kill-tree` rules without one are carried out by the sensor after it detects them.

mod extract;
mod operands;
#[cfg(test)]
pub(crate) mod tests;

use std::{sync::Arc, time::Duration};

use ipnet::IpNet;
use sensor_common::policy::PolicyOp;

pub use self::extract::{Definitions, extract};
use super::{kernel_glob::KernelGlob, rule::RuleAction, yaml_tree::Pos};

/// The operations a kernel rule judges (bits of `PolicyOp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ops(pub u32);

impl Ops {
    pub const FILE: Ops = Ops(PolicyOp::OpenRead.bit()
        | PolicyOp::OpenWrite.bit()
        | PolicyOp::Unlink.bit()
        | PolicyOp::Rmdir.bit()
        | PolicyOp::Rename.bit()
        | PolicyOp::RenameFrom.bit()
        | PolicyOp::Link.bit()
        | PolicyOp::Symlink.bit()
        | PolicyOp::Truncate.bit());

    pub fn contains(self, op: PolicyOp) -> bool {
        self.0 & op.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        PolicyOp::ALL
            .iter()
            .filter(|op| self.contains(**op))
            .map(|op| op.name())
            .collect()
    }
}

/// A program a kernel rule makes an exception for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Program {
    /// `process.name`: the base name of the executable.
    Name(String),
    /// `process.executable`: the full path.
    Path(String),
}

/// Programs excepted from a rule, on some paths (or all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelExcept {
    /// Empty: every path.
    pub paths: Vec<KernelGlob>,
    pub programs: Vec<Program>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelThreshold {
    pub count: u32,
    /// Count distinct paths rather than operations.
    pub distinct: bool,
    pub within: Duration,
}

/// What the kernel evaluates for one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelForm {
    pub ops: Ops,
    /// Paths the rule applies to; empty: any path.
    pub paths: Vec<KernelGlob>,
    /// Paths the rule never applies to.
    pub exclude: Vec<KernelGlob>,
    pub excepts: Vec<KernelExcept>,
    /// Opens of directories never match.
    pub not_directory: bool,
    /// Only files the session opened for writing before (exec).
    pub written_by_session: bool,
    /// Only files that existed before the operation (opens that did not create the file).
    pub existing: bool,
    /// Only paths inside (`Some(true)`) or outside (`Some(false)`) the session's working directory.
    pub in_workspace: Option<bool>,
    /// Only IPv4 or only IPv6 destinations (`None`: both).
    pub family: Option<u8>,
    /// Destinations must be in these networks (empty: any) and not in `ip_exclude`.
    pub ip_include: Vec<IpNet>,
    pub ip_exclude: Vec<IpNet>,
    /// Destination ports (inclusive ranges; empty: any) and ports that exclude.
    pub port_include: Vec<(u16, u16)>,
    pub port_exclude: Vec<(u16, u16)>,
    pub threshold: Option<KernelThreshold>,
    /// Tests of the configuration's egress allowlist (`agent_sensor.destination.allowed`).
    pub egress: EgressTest,
    /// A rule that is an `any` of connection conditions: each alternative is judged as its own
    /// kernel rule (the fields above then hold only `ops`, the union of theirs).
    pub alternatives: Vec<KernelForm>,
}

/// `agent_sensor.destination.allowed` in a kernel rule. The kernel has no verdict of the
/// allowlist; the sensor compiles the configuration's `egress.allow` into address and port tests
/// when it writes the policy (`enforce::egress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressTest {
    /// `allowed: true` (or `false`): only destinations the allowlist admits (or does not); with
    /// no allowlist configured, nothing matches.
    pub allowed: Option<bool>,
    /// `{exists: true}` (or its negation): only while an allowlist is (or is not) configured.
    pub configured: Option<bool>,
}

/// Most kernel rule slots one rule may take (alternatives, port groups of the allowlist).
pub const MAX_SLOTS_PER_RULE: usize = 8;

impl KernelForm {
    /// The forms the kernel judges in separate slots: the alternatives, or the form itself.
    pub fn slots(&self) -> &[KernelForm] {
        if self.alternatives.is_empty() {
            std::slice::from_ref(self)
        } else {
            &self.alternatives
        }
    }

    pub fn empty() -> Self {
        KernelForm {
            ops: Ops(0),
            paths: Vec::new(),
            exclude: Vec::new(),
            excepts: Vec::new(),
            not_directory: false,
            written_by_session: false,
            existing: false,
            in_workspace: None,
            family: None,
            ip_include: Vec::new(),
            ip_exclude: Vec::new(),
            port_include: Vec::new(),
            port_exclude: Vec::new(),
            threshold: None,
            egress: EgressTest::default(),
            alternatives: Vec::new(),
        }
    }
}

/// Why a rule has no kernel form: where, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotKernel {
    pub pos: Pos,
    pub message: String,
    pub advice: String,
}

const KERNEL_FIELDS: &str = "event.action, file.path (or agent_sensor.exec.filename / process.executable for exec, \
     agent_sensor.file.original.path for the old name of a rename), agent_sensor.open.write, \
     agent_sensor.file.created: false, not agent_sensor.open.flags: O_DIRECTORY, \
     agent_sensor.file.written_by_session, agent_sensor.file.in_workspace, destination.ip, destination.port, \
     network.type, agent_sensor.destination.allowed (true, false, exists); `any` of path tests or of connection \
     conditions; exceptions by process.name or process.executable (optionally with file.path); and hand-offs: \
     agent_sensor.peer.in_session: false with unix connects, or ptrace, process_vm_writev and /proc/PID/mem writes";

fn not_kernel(pos: Pos, message: impl Into<String>) -> NotKernel {
    NotKernel {
        pos,
        message: message.into(),
        advice: format!(
            "the kernel evaluates {KERNEL_FIELDS}; use `action: alert` (or `kill`/`kill-tree`, which the sensor then \
             carries out after detection), or split the rule (docs/enforcement.md)"
        ),
    }
}

/// Who carries out a rule's deny, kill or kill-tree.
#[derive(Clone, Debug)]
pub enum RuleEnforcement {
    /// The kernel judges the operation itself.
    Kernel(Arc<KernelForm>),
    /// The sensor acts after it detected the rule (kill and kill-tree only); why not the kernel.
    Sensor { reason: String },
}

/// Whether `action` asks for enforcement at all.
pub fn enforces(action: RuleAction) -> bool {
    action != RuleAction::Alert
}

/// What `rules check` says about rules the kernel does not (or not wholly) judge: `kill` and
/// `kill-tree` rules carried out after detection, and hand-off rules, which only BPF LSM judges
/// and whose attach branch covers more than the rule names.
pub fn judgement_notes(set: &super::RuleSet) -> Vec<String> {
    let mut notes = Vec::new();
    for rule in &set.rules {
        let id = &rule.meta.id;
        let action = rule.meta.action.as_str();
        match &rule.enforcement {
            Some(RuleEnforcement::Sensor { reason }) => notes.push(format!(
                "rule `{id}` ({action}) is not judged by the kernel ({reason}): the sensor carries it out after \
                 detection"
            )),
            Some(RuleEnforcement::Kernel(form)) => {
                if form.ops.contains(PolicyOp::HandoffConnect) {
                    notes.push(format!(
                        "rule `{id}` ({action}): unix connects are judged in the kernel only with BPF LSM \
                         (unix_stream_connect), for listeners outside the session running tmux or screen, or the \
                         systemd user manager's private socket; without BPF LSM they are detected after the call"
                    ));
                }
                if form.ops.contains(PolicyOp::HandoffAttach) {
                    notes.push(format!(
                        "rule `{id}` ({action}): ptrace, process_vm_writev and /proc/PID/mem are judged in the kernel \
                         only with BPF LSM (ptrace_access_check in attach mode, which also covers process_vm_readv \
                         and opens of /proc/PID/mem for reading); without BPF LSM they are detected after the call"
                    ));
                }
            }
            None => {}
        }
    }
    notes
}
