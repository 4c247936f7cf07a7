//! What to report as done for each alert (`agent_sensor.action`): from the kernel's verdict for
//! kernel rules, from the sensor's own action for the others.

use sensor_common::policy::{
    APPLIED_DENIED, APPLIED_KILLED, APPLIED_MONITOR, APPLIED_SIGNAL_FAILED, BACKEND_CGROUP, BACKEND_LSM,
};

use super::{backends::backend_name, mode::Mode};
use crate::rules::{RuleAction, alert::Response};

/// The sensor acted after detection (not in the kernel).
pub const SENSOR: &str = "sensor";

/// The response of a kernel rule with action `action` to a verdict (`applied`, by `backend`);
/// `tree` is the outcome of killing the session's tree when the rule asks for it.
pub fn kernel_response(action: RuleAction, backend: u32, applied: u32, tree: Option<&Result<(), String>>) -> Response {
    let monitor = applied & APPLIED_MONITOR != 0;
    let stops = backend == BACKEND_LSM || backend == BACKEND_CGROUP;
    let (done, would) = match action {
        RuleAction::KillTree => ("killed-tree", "would-kill-tree"),
        RuleAction::Kill => ("killed", "would-kill"),
        _ if stops => ("denied", "would-deny"),
        // The tracepoint backend cannot fail a call: a deny rule kills the process.
        _ => ("killed", "would-kill"),
    };
    let mut response = Response {
        action: if monitor { would } else { done },
        mode: if monitor {
            Mode::Monitor.as_str()
        } else {
            Mode::Enforce.as_str()
        },
        backend: backend_name(backend),
        note: note(backend, action),
    };
    if monitor {
        return response;
    }
    if applied & APPLIED_SIGNAL_FAILED != 0 {
        response.action = "failed";
        response.note = Some("the kernel could not send SIGKILL to the process".into());
    } else if action == RuleAction::Deny && applied & (APPLIED_DENIED | APPLIED_KILLED) == 0 {
        response.action = "failed";
        response.note = Some("the kernel neither denied the operation nor killed the process".into());
    }
    if let Some(Err(reason)) = tree {
        response.action = "failed";
        response.note = Some(format!("killing the session's processes failed: {reason}"));
    }
    response
}

/// What a backend leaves undone, for the analyst.
fn note(backend: u32, action: RuleAction) -> Option<String> {
    (backend != BACKEND_LSM && backend != BACKEND_CGROUP && action == RuleAction::Deny).then(|| {
        "without BPF LSM the operation is not failed: the process was killed when the kernel saw it \
         (see docs/enforcement.md for what had already happened)"
            .to_string()
    })
}

/// The response of a rule the sensor carries out itself, after detection.
pub fn sensor_response(
    action: RuleAction,
    mode: Mode,
    outcome: Option<Result<(), String>>,
    note: Option<String>,
) -> Response {
    let (done, would) = match action {
        RuleAction::Alert => ("alerted", "alerted"),
        RuleAction::Deny => ("failed", "would-deny"),
        RuleAction::Kill => ("killed", "would-kill"),
        RuleAction::KillTree => ("killed-tree", "would-kill-tree"),
    };
    let mut response = Response {
        action: if mode == Mode::Monitor { would } else { done },
        mode: mode.as_str(),
        backend: SENSOR,
        note,
    };
    if let Some(Err(reason)) = outcome {
        response.action = "failed";
        response.note = Some(reason);
    }
    response
}
