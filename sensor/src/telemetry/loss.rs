//! Event loss is never silent: kernel drops, untracked children, undecodable records and output
//! failures become a `sensor-event-loss` alert once they pass a threshold, at most one alert per
//! interval (what happens meanwhile is carried into the next one, so nothing is left uncounted).

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, json};

use super::SensorAlert;
use crate::{capture::KernelCounters, output::OutputStats, rules::Severity};

pub const LOSS_RULE_ID: &str = "sensor-event-loss";

/// `loss_alert:` in the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LossPolicy {
    /// Lost events (kernel drops, untracked children, undecodable records, lines an output gave
    /// up on) that raise the alert.
    pub lost_events: u64,
    /// Failed delivery attempts of outputs (retried, so not yet lost) that raise the alert.
    pub output_failures: u64,
    /// At most one alert per this many seconds.
    pub interval_seconds: u64,
}

impl Default for LossPolicy {
    fn default() -> Self {
        Self {
            lost_events: 1,
            output_failures: 10,
            interval_seconds: 60,
        }
    }
}

/// Everything that counts as loss, as totals since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossTotals {
    pub kernel_dropped: u64,
    pub untracked_children: u64,
    pub unmatched_syscalls: u64,
    pub decode_errors: u64,
    pub output_dropped: u64,
    pub output_failures: u64,
}

impl LossTotals {
    pub fn gather(kernel: &KernelCounters, decode_errors: u64, outputs: &[OutputStats]) -> Self {
        Self {
            kernel_dropped: kernel.lost(),
            untracked_children: kernel.tracked_full,
            unmatched_syscalls: kernel.pending_full,
            decode_errors,
            output_dropped: outputs.iter().map(|o| o.dropped).sum(),
            output_failures: outputs.iter().map(|o| o.failed).sum(),
        }
    }

    fn lost(&self) -> u64 {
        self.kernel_dropped
            + self.untracked_children
            + self.unmatched_syscalls
            + self.decode_errors
            + self.output_dropped
    }

    fn minus(&self, before: &Self) -> Self {
        Self {
            kernel_dropped: self.kernel_dropped.saturating_sub(before.kernel_dropped),
            untracked_children: self.untracked_children.saturating_sub(before.untracked_children),
            unmatched_syscalls: self.unmatched_syscalls.saturating_sub(before.unmatched_syscalls),
            decode_errors: self.decode_errors.saturating_sub(before.decode_errors),
            output_dropped: self.output_dropped.saturating_sub(before.output_dropped),
            output_failures: self.output_failures.saturating_sub(before.output_failures),
        }
    }
}

pub struct LossWatch {
    policy: LossPolicy,
    /// Totals when the last alert was raised (or at start).
    reported: LossTotals,
    last_alert: Option<Instant>,
}

impl LossWatch {
    pub fn new(policy: LossPolicy) -> Self {
        Self {
            policy,
            reported: LossTotals::default(),
            last_alert: None,
        }
    }

    pub fn set_policy(&mut self, policy: LossPolicy) {
        self.policy = policy;
    }

    /// Looks at the totals now; returns an alert when loss since the last alert passed a
    /// threshold and the interval allows one.
    pub fn check(&mut self, now: LossTotals, at: Instant) -> Option<SensorAlert> {
        let new = now.minus(&self.reported);
        let over = (self.policy.lost_events > 0 && new.lost() >= self.policy.lost_events)
            || (self.policy.output_failures > 0 && new.output_failures >= self.policy.output_failures);
        if !over {
            return None;
        }
        let interval = Duration::from_secs(self.policy.interval_seconds);
        if self.last_alert.is_some_and(|last| at.duration_since(last) < interval) {
            return None;
        }
        self.last_alert = Some(at);
        self.reported = now;
        Some(loss_alert(&new, &now))
    }
}

fn loss_alert(new: &LossTotals, total: &LossTotals) -> SensorAlert {
    let mut facts = Map::new();
    let counts = |t: &LossTotals| {
        json!({
            "lost": t.lost(),
            "kernel_dropped": t.kernel_dropped,
            "untracked_children": t.untracked_children,
            "unmatched_syscalls": t.unmatched_syscalls,
            "decode_errors": t.decode_errors,
            "output_dropped": t.output_dropped,
            "output_failures": t.output_failures,
        })
    };
    facts.insert(
        "loss".into(),
        json!({"since_last_alert": counts(new), "since_start": counts(total)}),
    );
    let mut causes = Vec::new();
    if new.kernel_dropped > 0 {
        causes.push(format!(
            "{} events dropped in the kernel (ring buffer full: raise capture.ring_buffer_bytes)",
            new.kernel_dropped
        ));
    }
    if new.untracked_children > 0 {
        causes.push(format!(
            "{} children of agents not tracked (tracked-process map full)",
            new.untracked_children
        ));
    }
    if new.unmatched_syscalls > 0 {
        causes.push(format!(
            "{} syscalls not recorded (pending map full)",
            new.unmatched_syscalls
        ));
    }
    if new.decode_errors > 0 {
        causes.push(format!("{} kernel records undecodable", new.decode_errors));
    }
    if new.output_dropped > 0 {
        causes.push(format!("{} lines dropped by outputs", new.output_dropped));
    }
    if new.output_failures > 0 {
        causes.push(format!("{} failed output deliveries (retrying)", new.output_failures));
    }
    SensorAlert {
        rule_id: LOSS_RULE_ID,
        name: "Sensor lost events or cannot deliver them",
        description: format!(
            "Since the last loss alert: {}. What agents did in that time may be missing from the \
             audit trail and from detection.",
            causes.join("; ")
        ),
        severity: if new.lost() > 0 {
            Severity::High
        } else {
            Severity::Medium
        },
        tags: &["sensor", "visibility"],
        facts,
        top: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(kernel_dropped: u64, output_failures: u64) -> LossTotals {
        LossTotals {
            kernel_dropped,
            output_failures,
            ..LossTotals::default()
        }
    }

    #[test]
    fn loss_is_alerted_once_per_interval_and_carried_over() {
        let mut watch = LossWatch::new(LossPolicy::default());
        let start = Instant::now();
        assert!(watch.check(totals(0, 0), start).is_none(), "nothing lost");
        let first = watch.check(totals(5, 0), start).expect("5 dropped");
        assert_eq!(first.rule_id, LOSS_RULE_ID);
        assert_eq!(first.facts["loss"]["since_last_alert"]["kernel_dropped"], 5);
        assert_eq!(first.severity, Severity::High);
        // More loss within the interval: no alert yet, but it is not forgotten.
        assert!(watch.check(totals(8, 0), start + Duration::from_secs(10)).is_none());
        let second = watch
            .check(totals(9, 0), start + Duration::from_secs(61))
            .expect("after the interval");
        assert_eq!(second.facts["loss"]["since_last_alert"]["kernel_dropped"], 4);
        assert_eq!(second.facts["loss"]["since_start"]["kernel_dropped"], 9);
    }

    #[test]
    fn output_failures_alert_above_their_threshold() {
        let mut watch = LossWatch::new(LossPolicy::default());
        let start = Instant::now();
        assert!(watch.check(totals(0, 9), start).is_none(), "below 10 failures");
        let alert = watch.check(totals(0, 10), start).expect("10 failures");
        assert_eq!(alert.severity, Severity::Medium, "retried, not lost");
        assert!(alert.description.contains("10 failed output deliveries"));
    }
}
