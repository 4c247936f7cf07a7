//! What a rule is, apart from its condition: identity, severity, action, grouping.

use std::sync::Arc;

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 5] = ["info", "low", "medium", "high", "critical"];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "info" => Self::Info,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// `event.severity`: the Elastic risk-score scale (low 21, medium 47, high 73, critical 99).
    pub fn score(self) -> u32 {
        match self {
            Self::Info => 1,
            Self::Low => 21,
            Self::Medium => 47,
            Self::High => 73,
            Self::Critical => 99,
        }
    }
}

/// What a rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Report only.
    Alert,
    /// Make the operation fail with EPERM (enforce mode).
    Deny,
    /// Kill the offending process (enforce mode).
    Kill,
    /// Kill every process of the agent session (enforce mode).
    KillTree,
}

impl RuleAction {
    pub const NAMES: [&'static str; 4] = ["alert", "deny", "kill", "kill-tree"];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "alert" => Self::Alert,
            "deny" => Self::Deny,
            "kill" => Self::Kill,
            "kill-tree" => Self::KillTree,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What stateful rules count or join per.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Session,
    Process,
    Executable,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "session" => Self::Session,
            "process" => Self::Process,
            "executable" => Self::Executable,
            _ => return None,
        })
    }
}

/// What an enforcing rule does to the session beyond the operation (`escalate:`): after a
/// denial the session stays escalated for `window` (new programs are stopped where the
/// tracepoint backend judged, since it cannot fail calls), and after `after` denials within the
/// window the session is frozen (or its tree killed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Escalation {
    pub window: std::time::Duration,
    pub after: u32,
    pub then: EscalateTo,
}

/// The last step of an escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EscalateTo {
    /// Freeze the session's cgroup until an operator thaws or kills it.
    Freeze,
    /// Kill every process of the session.
    KillTree,
}

impl EscalateTo {
    pub const NAMES: [&'static str; 2] = ["freeze", "kill-tree"];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "freeze" => Self::Freeze,
            "kill-tree" => Self::KillTree,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Freeze => "freeze",
            Self::KillTree => "kill-tree",
        }
    }
}

/// The identity of a rule, shared by its alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub ruleset: Arc<str>,
    pub severity: Severity,
    pub action: RuleAction,
    pub tags: Vec<Arc<str>>,
    pub mitre: Vec<Arc<str>>,
    /// `escalate:` (enforcing rules only).
    pub escalate: Option<Escalation>,
}
