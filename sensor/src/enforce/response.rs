//! What to report as done for each alert (`agent_sensor.action`): from the kernel's verdict for
//! kernel rules, from the sensor's own action for the others.

use sensor_common::policy::{
    APPLIED_DENIED, APPLIED_KILLED, APPLIED_MONITOR, APPLIED_SIGNAL_FAILED, BACKEND_CGROUP, BACKEND_LSM,
};

use std::sync::Arc;

use sensor_common::policy::{ESCALATE_FREEZE, ESCALATE_KILL_TREE, ESCALATE_WINDOW};

use super::{backends::backend_name, kill::KillError, mode::Mode};
use crate::{
    decode::Policy,
    event::Event,
    rules::{Alert, RuleAction, Severity, alert::Response, rule::RuleMeta},
};

/// The sensor acted after detection (not in the kernel).
pub const SENSOR: &str = "sensor";

/// The response of a kernel rule with action `action` to a verdict (`applied`, by `backend`);
/// `tree` is the outcome of killing the session's tree when the rule asks for it.
pub fn kernel_response(
    action: RuleAction,
    backend: u32,
    applied: u32,
    tree: Option<&Result<(), KillError>>,
) -> Response {
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

/// Adds what a verdict did to the session beyond the operation (`ESCALATE_*` bits) to the
/// response's note.
pub fn escalation(response: &mut Response, escalation: u32, denials: u32) {
    if escalation == 0 || response.mode == Mode::Monitor.as_str() {
        return;
    }
    let mut text = format!("the session is escalated ({denials} denial(s) in its window)");
    if escalation & ESCALATE_WINDOW != 0 && response.backend == backend_name(sensor_common::policy::BACKEND_TRACEPOINT)
    {
        text.push_str(": its new programs are stopped before they run until the window closes");
    }
    if escalation & ESCALATE_FREEZE != 0 {
        text.push_str("; the session is frozen until an operator thaws or kills it (agent-sensor session thaw|kill)");
    }
    if escalation & ESCALATE_KILL_TREE != 0 {
        text.push_str("; every process of the session was killed");
    }
    response.note = Some(match response.note.take() {
        Some(note) => format!("{note}; {text}"),
        None => text,
    });
}

/// The alert of a new program an escalated session started, which the kernel killed before it
/// ran (`session-escalated`).
pub fn stopped_exec_alert(event: &Event, verdict: &Policy) -> Alert {
    Alert {
        number: 0,
        rule: escalated_rule(),
        event: event.clone(),
        contributing: vec![event.id()],
        response: Some(Response {
            action: "killed",
            mode: Mode::Enforce.as_str(),
            backend: backend_name(verdict.backend),
            note: Some(format!(
                "the session is escalated after {} denial(s): its new programs are killed before they run                  until its window closes or an operator thaws it",
                verdict.denials
            )),
        }),
    }
}

/// The built-in rule of escalation stops.
fn escalated_rule() -> Arc<RuleMeta> {
    static RULE: std::sync::OnceLock<Arc<RuleMeta>> = std::sync::OnceLock::new();
    RULE.get_or_init(|| {
        Arc::new(RuleMeta {
            id: Arc::from("session-escalated"),
            name: Arc::from("A program of an escalated session was stopped"),
            description: Arc::from(
                "An agent session had an operation denied by a rule that escalates, and then started a new                  program while its escalation window was open. Without BPF LSM the sensor cannot make a                  call fail, so it stops the session's new programs before they run instead: one `rm` per                  file loses no more files. Check what the session was doing, then thaw or kill it.",
            ),
            ruleset: Arc::from("agent-sensor-builtin"),
            severity: Severity::High,
            action: RuleAction::Kill,
            tags: vec![Arc::from("enforcement")],
            mitre: Vec::new(),
            escalate: None,
        })
    })
    .clone()
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
    outcome: Option<Result<(), KillError>>,
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
        response.note = Some(reason.to_string());
    }
    response
}
