//! The flow from kernel records to outputs: decode, enrich, write.

use std::{future::Future, io};

use crate::{
    capture::EventStream,
    decode::decode,
    event::{
        Enricher, Event,
        ecs::{EcsEvent, SensorContext},
    },
    output::JsonLines,
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
    /// Events that could not be written (the output failed).
    pub output_errors: u64,
}

pub struct Pipeline {
    pub enricher: Enricher,
    context: SensorContext,
    events: Option<JsonLines>,
    pub stats: PipelineStats,
}

impl Pipeline {
    pub fn new(enricher: Enricher, context: SensorContext, events: Option<JsonLines>) -> Self {
        Self {
            enricher,
            context,
            events,
            stats: PipelineStats::default(),
        }
    }

    /// Decodes, enriches and writes one ring-buffer record.
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

    fn handle_event(&mut self, event: &Event) {
        let Some(out) = self.events.as_mut() else {
            return;
        };
        let json = EcsEvent {
            event,
            context: &self.context,
        }
        .to_json();
        match out.write_line(&json) {
            Ok(()) => self.stats.events_written += 1,
            Err(error) => {
                self.stats.output_errors += 1;
                if self.stats.output_errors <= 10 || self.stats.output_errors.is_power_of_two() {
                    tracing::error!(%error, target = %out.target().describe(), "cannot write events");
                }
            }
        }
    }

    /// Flushes the outputs so readers see every complete line written so far.
    pub fn flush(&mut self) {
        if let Some(out) = self.events.as_mut()
            && let Err(error) = out.flush()
        {
            self.stats.output_errors += 1;
            tracing::error!(%error, target = %out.target().describe(), "cannot flush events");
        }
    }

    /// Feeds records from `stream` until `stop` completes, then drains what is left and flushes.
    pub async fn run_until(&mut self, stream: &mut EventStream, stop: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                batch = stream.next_batch(|record| self.handle_record(record)) => {
                    batch?;
                    self.flush();
                }
                () = &mut stop => break,
            }
        }
        stream.drain(|record| self.handle_record(record));
        self.flush();
        Ok(())
    }
}
