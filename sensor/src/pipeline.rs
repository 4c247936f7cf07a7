//! The flow from kernel records to outputs: decode, enrich, evaluate rules, write.

use std::{future::Future, io};

use crate::{
    capture::EventStream,
    decode::decode,
    event::{Enricher, Event, ecs::EcsEvent},
    output::JsonLines,
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
            Ok(raw) => {
                if let Some(event) = self.enricher.enrich(raw) {
                    self.handle_event(&event);
                }
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
            for alert in std::mem::take(&mut self.raised) {
                self.stats.alerts += 1;
                write(&mut self.alerts, &alert.to_json(), &mut self.stats.output_errors);
            }
        }
        if self.events.is_some() {
            let json = EcsEvent { event }.to_json();
            if write(&mut self.events, &json, &mut self.stats.output_errors) {
                self.stats.events_written += 1;
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
