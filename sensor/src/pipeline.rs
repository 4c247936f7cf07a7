//! The flow from kernel records to outputs: decode, enrich, evaluate rules, respond, write.
//! Kernel verdicts (policy records) skip the engine: they are alerts already.

use std::{future::Future, io, sync::Arc, time::Instant};

use crate::{
    baseline::Baselines,
    capture::EventStream,
    decode::{RawEvent, decode},
    enforce::Enforcer,
    event::{Enricher, Event, ecs::EcsEvent},
    output::{
        Outputs,
        fold::{Folder, Outgoing},
    },
    process::SessionChange,
    rules::{Alert, Engine},
    telemetry::{Metrics, SensorAlert, sensor_alert::now_ns},
};

/// Counts of what went through the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Records read from the ring buffer.
    pub records: u64,
    /// Records that could not be decoded (a sensor bug; they are logged).
    pub decode_errors: u64,
    /// Events written to the event output.
    pub events_written: u64,
    /// Alerts written (bursts folded: see `output::fold`; the metrics count every match).
    pub alerts: u64,
    /// Lines (events or alerts) an output could not take, and failed flushes; each output's own
    /// counters are in [`Outputs::stats`].
    pub output_errors: u64,
}

pub struct Pipeline {
    pub enricher: Enricher,
    pub engine: Option<Engine>,
    /// Carries out and reports deny, kill and kill-tree (absent offline).
    pub enforcer: Option<Enforcer>,
    /// Every output (files, stdout, syslog, HTTP) with its filter.
    pub outputs: Outputs,
    /// Per-profile behavioural baselines: facts on every event before the rules see it, and
    /// alerts for deviations (absent when off).
    pub baseline: Option<Baselines>,
    /// Prometheus metrics (absent when the metrics endpoint is off).
    pub metrics: Option<Arc<Metrics>>,
    /// Folds bursts of one rule's alerts in a session before they reach the outputs.
    pub folder: Folder,
    raised: Vec<Alert>,
    outgoing: Vec<Outgoing>,
    /// The event line being written, reused from event to event.
    line: Vec<u8>,
    pub stats: PipelineStats,
    /// The last execs BPF LSM judged (see `judged_again`).
    lsm_execs: std::collections::VecDeque<(u32, String, u64)>,
}

impl Pipeline {
    pub fn new(enricher: Enricher, engine: Option<Engine>, outputs: Outputs) -> Self {
        Self {
            enricher,
            engine,
            enforcer: None,
            outputs,
            baseline: None,
            metrics: None,
            folder: Folder::default(),
            raised: Vec::new(),
            outgoing: Vec::new(),
            line: Vec::with_capacity(4096),
            stats: PipelineStats::default(),
            lsm_execs: std::collections::VecDeque::new(),
        }
    }

    /// True for the tracepoint's verdict on a `#!` script that BPF LSM judged a moment before:
    /// the hook judges the script as the program, and when it lets the exec go on (monitor mode)
    /// the tracepoint at `sched_process_exec` finds the same file as the script its interpreter
    /// is given and judges it again, with the same rules. One exec, one alert.
    fn judged_again(&mut self, verdict: &crate::decode::Policy, event: &crate::event::Event) -> bool {
        use sensor_common::policy::{BACKEND_LSM, BACKEND_TRACEPOINT, PolicyOp};
        let crate::event::Detail::Exec { filename, .. } = &event.detail else {
            return false;
        };
        if verdict.op != PolicyOp::Exec {
            return false;
        }
        let key = (verdict.common.pid, filename.clone(), verdict.fired);
        if verdict.backend == BACKEND_LSM {
            if self.lsm_execs.len() == 16 {
                self.lsm_execs.pop_front();
            }
            self.lsm_execs.push_back(key);
            return false;
        }
        if verdict.backend != BACKEND_TRACEPOINT {
            return false;
        }
        match self.lsm_execs.iter().position(|seen| *seen == key) {
            Some(index) => {
                self.lsm_execs.remove(index);
                true
            }
            None => false,
        }
    }

    /// Decodes, enriches, evaluates and writes one ring-buffer record.
    pub fn handle_record(&mut self, bytes: &[u8]) {
        self.stats.records += 1;
        match decode(bytes) {
            Ok(RawEvent::Policy(verdict)) => {
                let event = self.enricher.verdict_event(&verdict);
                if self.judged_again(&verdict, &event) {
                    return;
                }
                if let Some(enforcer) = self.enforcer.as_mut() {
                    self.raised.extend(enforcer.respond_to_verdict(&event, &verdict));
                }
                self.write_alerts();
            }
            Ok(RawEvent::Tamper(tamper)) => {
                let alert = crate::telemetry::tamper::tamper_alert(&tamper, &mut self.enricher);
                if let Some(metrics) = &self.metrics {
                    metrics.count_enforcement(
                        alert.facts.get("action").and_then(|a| a.as_str()).unwrap_or("alerted"),
                        if tamper.verdict == sensor_common::event::TAMPER_SEEN {
                            "tracepoint"
                        } else {
                            "bpf-lsm"
                        },
                    );
                }
                self.write_sensor_alert(&alert);
            }
            Ok(raw) => {
                if let Some((mut event, kept)) = self.enricher.enrich_deferred(raw) {
                    self.handle_event(&mut event);
                    if kept {
                        self.enricher.remember(event);
                    }
                }
                self.session_changes();
            }
            Err(error) => {
                self.stats.decode_errors += 1;
                if let Some(metrics) = &self.metrics {
                    metrics.decode_errors.inc();
                }
                if self.stats.decode_errors <= 10 || self.stats.decode_errors.is_power_of_two() {
                    tracing::error!(%error, count = self.stats.decode_errors, "undecodable record from the kernel");
                }
            }
        }
    }

    /// Evaluates and writes one enriched event (the baseline adds its facts to it first).
    pub fn handle_event(&mut self, event: &mut Event) {
        let started = self.metrics.as_ref().map(|_| Instant::now());
        if let Some(baseline) = self.baseline.as_mut() {
            baseline.observe(event, &mut self.raised);
        }
        if let Some(engine) = self.engine.as_mut() {
            engine.process(event, &mut self.raised);
        }
        if let (Some(metrics), Some(started)) = (&self.metrics, started) {
            metrics.observe_evaluation(started.elapsed());
            metrics.count_event(event.action.as_str());
        }
        if !self.raised.is_empty() {
            if let Some(enforcer) = self.enforcer.as_mut() {
                for alert in &mut self.raised {
                    enforcer.respond(alert);
                }
            }
            self.write_alerts();
        }
        if self.outputs.wants_events() {
            self.line.clear();
            EcsEvent { event }.write_json(&mut self.line);
            let delivery = self.outputs.write_event(&self.line);
            self.stats.output_errors += u64::from(delivery.failed);
            if delivery.taken > 0 {
                self.stats.events_written += 1;
            }
        }
    }

    /// Counts the alerts raised so far, folds bursts (`output::fold`), numbers and writes what
    /// is left, and flushes at once: an alert does not wait for the rest of the batch.
    fn write_alerts(&mut self) {
        if self.raised.is_empty() {
            return;
        }
        let mut outgoing = std::mem::take(&mut self.outgoing);
        for alert in std::mem::take(&mut self.raised) {
            if let Some(metrics) = &self.metrics {
                metrics.count_alert(&alert.rule.id, alert.rule.severity.as_str());
                if let Some(response) = &alert.response {
                    metrics.count_enforcement(response.action, response.backend);
                }
            }
            self.folder.admit(alert, &mut outgoing);
        }
        self.write_outgoing(&mut outgoing);
        self.outgoing = outgoing;
        self.flush();
    }

    /// Numbers and writes alerts that passed the folder (and follow-ups of bursts).
    fn write_outgoing(&mut self, outgoing: &mut Vec<Outgoing>) {
        for mut out in outgoing.drain(..) {
            self.stats.alerts += 1;
            out.alert_mut().number = self.stats.alerts;
            self.folder.written(&out);
            let severity = out.alert().rule.severity;
            if self.outputs.wants_alert(severity) {
                let delivery = self.outputs.write_alert(&out.to_json(), severity);
                self.stats.output_errors += u64::from(delivery.failed);
            }
        }
    }

    /// Writes the follow-ups of bursts whose window has closed (`finish`: of every burst).
    fn close_bursts(&mut self, finish: bool) {
        let mut outgoing = std::mem::take(&mut self.outgoing);
        if finish {
            self.folder.finish(&mut outgoing);
        } else {
            self.folder.expire(now_ns(), &mut outgoing);
        }
        if !outgoing.is_empty() {
            self.write_outgoing(&mut outgoing);
            self.flush();
        }
        self.outgoing = outgoing;
    }

    /// Numbers and writes an alert the sensor raises about itself (event loss, tampering).
    pub fn write_sensor_alert(&mut self, alert: &SensorAlert) {
        self.stats.alerts += 1;
        tracing::warn!(rule = alert.rule_id, "{}", alert.description);
        if let Some(metrics) = &self.metrics {
            metrics.count_alert(alert.rule_id, alert.severity.as_str());
        }
        if self.outputs.wants_alert(alert.severity) {
            let json = alert.to_json(self.enricher.context(), self.stats.alerts, now_ns());
            let delivery = self.outputs.write_alert(&json, alert.severity);
            self.stats.output_errors += u64::from(delivery.failed);
        }
    }

    /// Writes lines made elsewhere (inventory records as events, findings as alerts of their
    /// severity), and flushes.
    pub fn write_lines(&mut self, lines: &[(Option<crate::rules::Severity>, Vec<u8>)]) {
        for (severity, json) in lines {
            let delivery = match severity {
                Some(severity) => self.outputs.write_alert(json, *severity),
                None => self.outputs.write_event(json),
            };
            self.stats.output_errors += u64::from(delivery.failed);
        }
        self.flush();
    }

    /// Tells the enforcer (and the baselines) about sessions that started or ended.
    fn session_changes(&mut self) {
        let changes = self.enricher.sessions.take_changes();
        if let Some(baseline) = self.baseline.as_mut() {
            for change in &changes {
                if let SessionChange::Ended(id) = change {
                    baseline.session_ended(*id);
                }
            }
        }
        let Some(enforcer) = self.enforcer.as_mut() else {
            return;
        };
        for change in changes {
            match change {
                SessionChange::Started(session) => enforcer.add_session(
                    session.id,
                    session.working_directory.as_deref(),
                    session.home.as_ref().map(|home| &*home.dir),
                    None,
                ),
                SessionChange::Ended(id) => enforcer.end_session(id),
            }
        }
    }

    /// Once a second: the enforcer's bookkeeping (protected identities that changed on disk), and
    /// the follow-ups of bursts whose window has closed.
    pub fn tick(&mut self) {
        if let Some(enforcer) = self.enforcer.as_mut() {
            enforcer.tick();
        }
        self.close_bursts(false);
    }

    /// Flushes the outputs so readers see every complete line written so far.
    pub fn flush(&mut self) {
        self.stats.output_errors += u64::from(self.outputs.flush());
    }

    /// Flushes and closes every output, giving syslog and HTTP outputs their shutdown time to
    /// deliver (what HTTP outputs cannot deliver stays spooled for the next start). Blocks.
    pub fn close_outputs(&mut self) {
        self.close_bursts(true);
        self.outputs.close();
    }

    /// Waits for records, handles every available one, and flushes.
    pub async fn pump(&mut self, stream: &mut EventStream) -> io::Result<()> {
        stream.next_batch(|record| self.handle_record(record)).await?;
        self.flush();
        Ok(())
    }

    /// Handles every record available now, and flushes.
    pub fn drain(&mut self, stream: &mut EventStream) {
        stream.drain(|record| self.handle_record(record));
        self.flush();
    }

    /// Feeds records from `stream` until `stop` completes, then drains what is left and flushes.
    pub async fn run_until(&mut self, stream: &mut EventStream, stop: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                pumped = self.pump(stream) => pumped?,
                () = &mut stop => break,
            }
        }
        self.drain(stream);
        Ok(())
    }
}
