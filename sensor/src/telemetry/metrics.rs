//! The sensor's Prometheus metrics (docs/deployment.md lists them).
//!
//! Everything is an atomic inside a shared registry: the pipeline updates, the metrics endpoint
//! encodes. Totals kept elsewhere (the kernel's per-CPU counters, the outputs' counters) are
//! turned into counter increments by remembering the last total seen.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{capture::KernelCounters, output::OutputStats};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnforcementLabels {
    pub action: String,
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabels {
    pub output: String,
}

pub struct Metrics {
    registry: Registry,
    pub events: Family<ActionLabels, Counter>,
    pub alerts: Family<RuleLabels, Counter>,
    pub enforcement: Family<EnforcementLabels, Counter>,
    pub kernel_emitted: Counter,
    pub kernel_dropped: Family<ReasonLabels, Counter>,
    pub decode_errors: Counter,
    pub rule_evaluation: Histogram,
    pub sessions: Gauge,
    pub tracked_processes: Gauge,
    pub output_written: Family<OutputLabels, Counter>,
    pub output_failed: Family<OutputLabels, Counter>,
    pub output_dropped: Family<OutputLabels, Counter>,
    pub output_queued: Family<OutputLabels, Gauge>,
    pub loss_alerts: Counter,
    pub reloads: Family<ReasonLabels, Counter>,
    /// Last totals seen, to turn them into increments.
    last_kernel: Mutex<KernelCounters>,
    last_outputs: Mutex<HashMap<String, OutputStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agent_sensor");
        let events = Family::<ActionLabels, Counter>::default();
        registry.register(
            "events",
            "Events through the pipeline, per event.action",
            events.clone(),
        );
        let alerts = Family::<RuleLabels, Counter>::default();
        registry.register("alerts", "Alerts raised, per rule id and severity", alerts.clone());
        let enforcement = Family::<EnforcementLabels, Counter>::default();
        registry.register(
            "enforcement_actions",
            "What was done about alerts (denied, killed, would-deny, failed, ...), per backend",
            enforcement.clone(),
        );
        let kernel_emitted = Counter::default();
        registry.register(
            "kernel_events",
            "Records the kernel programs wrote to the ring buffer",
            kernel_emitted.clone(),
        );
        let kernel_dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "kernel_dropped",
            "Records or tracking the kernel lost: ring_buffer_full, scratch_missing, pending_full, tracked_full",
            kernel_dropped.clone(),
        );
        let decode_errors = Counter::default();
        registry.register(
            "decode_errors",
            "Kernel records userspace could not decode",
            decode_errors.clone(),
        );
        // 1 µs to ~16 ms.
        let rule_evaluation = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            1e-6, 2.0, 15,
        ));
        registry.register(
            "rule_evaluation_seconds",
            "Time the rule engine and baselines took per event",
            rule_evaluation.clone(),
        );
        let sessions = Gauge::default();
        registry.register("sessions", "Agent sessions being watched", sessions.clone());
        let tracked_processes = Gauge::default();
        registry.register(
            "tracked_processes",
            "Processes of agent sessions the process table holds",
            tracked_processes.clone(),
        );
        let output_written = Family::<OutputLabels, Counter>::default();
        registry.register(
            "output_delivered",
            "Lines that reached an output's destination (flushed, sent, acknowledged)",
            output_written.clone(),
        );
        let output_failed = Family::<OutputLabels, Counter>::default();
        registry.register(
            "output_failures",
            "Failed attempts to deliver (retried where the output retries)",
            output_failed.clone(),
        );
        let output_dropped = Family::<OutputLabels, Counter>::default();
        registry.register(
            "output_dropped",
            "Lines an output gave up on (spool full, write error)",
            output_dropped.clone(),
        );
        let output_queued = Family::<OutputLabels, Gauge>::default();
        registry.register(
            "output_queue_depth",
            "Lines waiting in an output's queue or disk spool",
            output_queued.clone(),
        );
        let loss_alerts = Counter::default();
        registry.register("loss_alerts", "sensor-event-loss alerts raised", loss_alerts.clone());
        let reloads = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reloads",
            "Configuration and rule reloads (SIGHUP), by result: applied or rejected",
            reloads.clone(),
        );
        Self {
            registry,
            events,
            alerts,
            enforcement,
            kernel_emitted,
            kernel_dropped,
            decode_errors,
            rule_evaluation,
            sessions,
            tracked_processes,
            output_written,
            output_failed,
            output_dropped,
            output_queued,
            loss_alerts,
            reloads,
            last_kernel: Mutex::new(KernelCounters::default()),
            last_outputs: Mutex::new(HashMap::new()),
        }
    }

    /// The exposition text (Prometheus/OpenMetrics text format).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    pub fn count_event(&self, action: &str) {
        self.events.get_or_create(&ActionLabels { action: action.into() }).inc();
    }

    pub fn count_alert(&self, rule: &str, severity: &str) {
        self.alerts
            .get_or_create(&RuleLabels {
                rule: rule.into(),
                severity: severity.into(),
            })
            .inc();
    }

    pub fn count_enforcement(&self, action: &str, backend: &str) {
        self.enforcement
            .get_or_create(&EnforcementLabels {
                action: action.into(),
                backend: backend.into(),
            })
            .inc();
    }

    pub fn observe_evaluation(&self, took: Duration) {
        self.rule_evaluation.observe(took.as_secs_f64());
    }

    /// Brings the kernel counters up to `now` (totals since the programs were loaded).
    pub fn update_kernel(&self, now: &KernelCounters) {
        let Ok(mut last) = self.last_kernel.lock() else {
            return;
        };
        self.kernel_emitted.inc_by(now.emitted.saturating_sub(last.emitted));
        for (reason, now, before) in [
            ("ring_buffer_full", now.ringbuf_full, last.ringbuf_full),
            ("scratch_missing", now.scratch_missing, last.scratch_missing),
            ("pending_full", now.pending_full, last.pending_full),
            ("tracked_full", now.tracked_full, last.tracked_full),
        ] {
            let counter = self
                .kernel_dropped
                .get_or_create(&ReasonLabels { reason: reason.into() });
            counter.inc_by(now.saturating_sub(before));
        }
        *last = *now;
    }

    /// Brings the outputs' counters up to their current totals.
    pub fn update_outputs(&self, outputs: &[OutputStats]) {
        let Ok(mut last) = self.last_outputs.lock() else {
            return;
        };
        for totals in outputs {
            let before = last.get(&totals.name).cloned().unwrap_or_default();
            let labels = OutputLabels {
                output: totals.name.clone(),
            };
            self.output_written
                .get_or_create(&labels)
                .inc_by(totals.delivered.saturating_sub(before.delivered));
            self.output_failed
                .get_or_create(&labels)
                .inc_by(totals.failed.saturating_sub(before.failed));
            self.output_dropped
                .get_or_create(&labels)
                .inc_by(totals.dropped.saturating_sub(before.dropped));
            self.output_queued
                .get_or_create(&labels)
                .set(i64::try_from(totals.queued).unwrap_or(i64::MAX));
            last.insert(totals.name.clone(), totals.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_become_increments_and_the_text_names_every_family() {
        let metrics = Metrics::new();
        metrics.count_event("open");
        metrics.count_event("open");
        metrics.count_alert("mass-delete", "critical");
        metrics.update_kernel(&KernelCounters {
            emitted: 10,
            ringbuf_full: 2,
            ..KernelCounters::default()
        });
        metrics.update_kernel(&KernelCounters {
            emitted: 15,
            ringbuf_full: 3,
            ..KernelCounters::default()
        });
        metrics.update_outputs(&[OutputStats {
            name: "siem".into(),
            kind: "http",
            written: 9,
            delivered: 4,
            failed: 1,
            dropped: 0,
            queued: 7,
            queued_bytes: 700,
        }]);
        let text = metrics.encode();
        assert!(text.contains("agent_sensor_events_total{action=\"open\"} 2"), "{text}");
        assert!(
            text.contains("agent_sensor_alerts_total{rule=\"mass-delete\",severity=\"critical\"} 1"),
            "{text}"
        );
        assert!(text.contains("agent_sensor_kernel_events_total 15"), "{text}");
        assert!(
            text.contains("agent_sensor_kernel_dropped_total{reason=\"ring_buffer_full\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("agent_sensor_output_queue_depth{output=\"siem\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("agent_sensor_output_delivered_total{output=\"siem\"} 4"),
            "{text}"
        );
        assert!(text.contains("agent_sensor_rule_evaluation_seconds"), "{text}");
    }
}
