//! Per-output counters, shared between the pipeline thread, the sinks' own threads and whoever
//! exports them (metrics, the event-loss alert).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering::Relaxed},
};

/// The live counters of one output.
#[derive(Debug, Default)]
pub struct Counters {
    pub written: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub queued: AtomicU64,
    pub queued_bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        // Saturating: a gauge never wraps below zero.
        let _ = counter.fetch_update(Relaxed, Relaxed, |value| Some(value.saturating_sub(n)));
    }
}

/// A snapshot of one output's counters. Every count is of lines (one event or one alert each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// The output's name (`name:` in the configuration, `--alerts`/`--events` for the flags).
    pub name: String,
    /// `stdout`, `file`, `syslog` or `http`.
    pub kind: &'static str,
    /// Lines the output accepted: written to the file, queued for syslog, spooled for HTTP.
    pub written: u64,
    /// Lines that reached their destination: written and flushed (file, stdout), sent (syslog),
    /// acknowledged with a 2xx (HTTP).
    pub delivered: u64,
    /// Failed attempts: write or flush errors, failed sends and requests (each retry counts).
    /// A failure is not a loss by itself: see `dropped`.
    pub failed: u64,
    /// Lines lost for good: not written, refused by a full queue or spool, evicted from a full
    /// spool, rejected by the receiver, or still queued for syslog at shutdown.
    pub dropped: u64,
    /// Lines waiting: in the syslog queue, or in the HTTP spool (across restarts).
    pub queued: u64,
    /// Bytes waiting in the HTTP spool (0 for the other types).
    pub queued_bytes: u64,
}

/// A cloneable handle on every output's counters, for readers on other threads or tasks.
#[derive(Clone, Debug, Default)]
pub struct StatsHandle {
    pub(crate) outputs: Arc<Vec<(String, &'static str, Arc<Counters>)>>,
}

impl StatsHandle {
    pub fn snapshot(&self) -> Vec<OutputStats> {
        self.outputs
            .iter()
            .map(|(name, kind, counters)| OutputStats {
                name: name.clone(),
                kind,
                written: counters.written.load(Relaxed),
                delivered: counters.delivered.load(Relaxed),
                failed: counters.failed.load(Relaxed),
                dropped: counters.dropped.load(Relaxed),
                queued: counters.queued.load(Relaxed),
                queued_bytes: counters.queued_bytes.load(Relaxed),
            })
            .collect()
    }
}
