//! Records the kernel could not deliver, per session: a session whose own events were dropped
//! raises a `sensor-event-loss` alert naming it on the next tick (at most one per session per
//! interval; what is lost meanwhile is carried into the next one).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::{Map, json};

use super::{LossPolicy, SensorAlert, loss::LOSS_RULE_ID};
use crate::{process::agent_id, rules::Severity};

/// Per-session loss bookkeeping over the totals the kernel keeps (session id to records lost).
#[derive(Debug, Default)]
pub struct SessionLossWatch {
    interval: Duration,
    /// Per session: total when last alerted, and when.
    reported: HashMap<u64, (u64, Instant)>,
}

impl SessionLossWatch {
    pub fn new(policy: &LossPolicy) -> Self {
        Self {
            interval: Duration::from_secs(policy.interval_seconds),
            reported: HashMap::new(),
        }
    }

    pub fn set_policy(&mut self, policy: &LossPolicy) {
        self.interval = Duration::from_secs(policy.interval_seconds);
    }

    /// Alerts for the sessions whose totals grew since their last alert, when their interval
    /// allows one.
    pub fn check(&mut self, totals: impl IntoIterator<Item = (u64, u64)>, at: Instant) -> Vec<SensorAlert> {
        let mut alerts = Vec::new();
        for (session, total) in totals {
            let (before, last) = match self.reported.get(&session) {
                Some(&(before, last)) => (before, Some(last)),
                None => (0, None),
            };
            if total <= before || last.is_some_and(|last| at.duration_since(last) < self.interval) {
                continue;
            }
            self.reported.insert(session, (total, at));
            alerts.push(session_loss_alert(session, total - before, total));
        }
        alerts
    }
}

impl SessionLossWatch {
    /// Marks every session's loss so far as reported (an overall loss alert named them) and
    /// returns each session that lost records since its last report, with how many.
    pub fn absorb(&mut self, totals: impl IntoIterator<Item = (u64, u64)>, at: Instant) -> Vec<(u64, u64)> {
        let mut named = Vec::new();
        for (session, total) in totals {
            let before = self.reported.get(&session).map_or(0, |&(before, _)| before);
            if total > before {
                self.reported.insert(session, (total, at));
                named.push((session, total - before));
            }
        }
        named
    }
}

/// Adds the sessions that lost records to an overall loss alert (and names the agent when
/// there is one).
pub fn name_sessions(alert: &mut SensorAlert, sessions: &[(u64, u64)]) {
    if sessions.is_empty() {
        return;
    }
    let list: Vec<_> = sessions
        .iter()
        .map(|&(session, lost)| json!({"id": agent_id(session), "lost": lost}))
        .collect();
    if let Some(serde_json::Value::Object(loss)) = alert.facts.get_mut("loss") {
        loss.insert("sessions".into(), serde_json::Value::Array(list));
    }
    if let [(session, _)] = sessions {
        alert
            .top
            .insert("gen_ai".into(), json!({"agent": {"id": agent_id(*session)}}));
    }
}

fn session_loss_alert(session: u64, new: u64, total: u64) -> SensorAlert {
    let id = agent_id(session);
    let mut facts = Map::new();
    facts.insert(
        "loss".into(),
        json!({"session": {"since_last_alert": new, "since_start": total}}),
    );
    let mut top = Map::new();
    top.insert("gen_ai".into(), json!({"agent": {"id": id}}));
    facts.insert("session".into(), json!({"id": id}));
    SensorAlert {
        rule_id: LOSS_RULE_ID,
        name: "Sensor lost events of an agent session",
        description: format!(
            "{new} records of session {id} were dropped in the kernel (ring buffer full, typically \
             under a flood of events from the session itself). What the session did in that time \
             may be missing from the audit trail and from detection; records matched by kernel \
             rules travel on the reserved priority channel and are not among them."
        ),
        severity: Severity::High,
        tags: &["sensor", "visibility"],
        facts,
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_is_named_once_per_interval_and_later_loss_is_carried_over() {
        let mut watch = SessionLossWatch::new(&LossPolicy::default());
        let start = Instant::now();
        let alerts = watch.check([(1, 5), (2, 0)], start);
        assert_eq!(alerts.len(), 1, "only the session that lost records");
        assert_eq!(alerts[0].facts["session"]["id"], agent_id(1));
        assert_eq!(alerts[0].facts["loss"]["session"]["since_last_alert"], 5);
        assert!(
            watch.check([(1, 9)], start + Duration::from_secs(1)).is_empty(),
            "within the interval"
        );
        let later = watch.check([(1, 12), (2, 3)], start + Duration::from_secs(61));
        assert_eq!(later.len(), 2);
        assert_eq!(later[0].facts["loss"]["session"]["since_last_alert"], 7, "carried over");
        assert!(
            watch.check([(1, 12)], start + Duration::from_secs(200)).is_empty(),
            "nothing new"
        );
    }
}
