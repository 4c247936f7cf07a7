//! The flow from kernel records to outputs: decode, enrich, evaluate rules, respond, write.
//! Kernel verdicts (policy records) skip the engine: they are alerts already.

use std::{future::Future, io};

use crate::{
    capture::EventStream,
    decode::{RawEvent, decode},
    enforce::Enforcer,
    event::{Enricher, Event, ecs::EcsEvent},
    output::JsonLines,
    process::SessionChange,
    rules::{Alert, Engine},
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
    /// Alerts raised by the rules.
    pub alerts: u64,
    /// Events or alerts that could not be written (the output failed).
    pub output_errors: u64,
}

pub struct Pipeline {
    pub enricher: Enricher,
    pub engine: Option<Engine>,
    /// Carries out and reports deny, kill and kill-tree (absent offline).
    pub enforcer: Option<Enforcer>,
    events: Option<JsonLines>,
    alerts: Option<JsonLines>,
    raised: Vec<Alert>,
    pub stats: PipelineStats,
}

impl Pipeline {
    pub fn new(
        enricher: Enricher,
        engine: Option<Engine>,
        events: Option<JsonLines>,
        alerts: Option<JsonLines>,
    ) -> Self {
        Self {
            enricher,
            engine,
            enforcer: None,
            events,
            alerts,
            raised: Vec::new(),
            stats: PipelineStats::default(),
        }
    }

    /// Decodes, enriches, evaluates and writes one ring-buffer record.
    pub fn handle_record(&mut self, bytes: &[u8]) {
        self.stats.records += 1;
        match decode(bytes) {
            Ok(RawEvent::Policy(verdict)) => {
                let event = self.enricher.verdict_event(&verdict);
                if let Some(enforcer) = self.enforcer.as_mut() {
                    self.raised.extend(enforcer.respond_to_verdict(&event, &verdict));
                }
                self.write_alerts();
            }
            Ok(raw) => {
                if let Some(event) = self.enricher.enrich(raw) {
                    self.handle_event(&event);
                }
                self.session_changes();
            }
            Err(error) => {
                self.stats.decode_errors += 1;
                if self.stats.decode_errors <= 10 || self.stats.decode_errors.is_power_of_two() {
                    tracing::error!(%error, count = self.stats.decode_errors, "undecodable record from the kernel");
                }
            }
        }
    }

    /// Evaluates and writes one enriched event.
    pub fn handle_event(&mut self, event: &Event) {
        if let Some(engine) = self.engine.as_mut() {
            engine.process(event, &mut self.raised);
            if let Some(enforcer) = self.enforcer.as_mut() {
                for alert in &mut self.raised {
                    enforcer.respond(alert);
                }
            }
            self.write_alerts();
        }
        if self.events.is_some() {
            let json = EcsEvent { event }.to_json();
            if write(&mut self.events, &json, &mut self.stats.output_errors) {
                self.stats.events_written += 1;
            }
        }
    }

    /// Numbers and writes the alerts raised so far.
    fn write_alerts(&mut self) {
        for mut alert in std::mem::take(&mut self.raised) {
            self.stats.alerts += 1;
            alert.number = self.stats.alerts;
            write(&mut self.alerts, &alert.to_json(), &mut self.stats.output_errors);
        }
    }

    /// Tells the enforcer about sessions that started or ended.
    fn session_changes(&mut self) {
        let changes = self.enricher.sessions.take_changes();
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

    /// Flushes the outputs so readers see every complete line written so far.
    pub fn flush(&mut self) {
        for out in [&mut self.alerts, &mut self.events].into_iter().flatten() {
            if let Err(error) = out.flush() {
                self.stats.output_errors += 1;
                tracing::error!(%error, target = %out.target().describe(), "cannot flush output");
            }
        }
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

/// Writes one line; counts and logs (sparingly) a failure. Returns whether it was written.
fn write(out: &mut Option<JsonLines>, json: &[u8], errors: &mut u64) -> bool {
    let Some(out) = out.as_mut() else {
        return false;
    };
    match out.write_line(json) {
        Ok(()) => true,
        Err(error) => {
            *errors += 1;
            if *errors <= 10 || errors.is_power_of_two() {
                tracing::error!(%error, target = %out.target().describe(), "cannot write output");
            }
            false
        }
    }
}
