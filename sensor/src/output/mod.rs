//! Where events and alerts go (docs/outputs.md): standard output, files with rotation, syslog,
//! and SIEMs over HTTP, each with its own filter, all fed by [`Outputs`].
//!
//! The pipeline thread never waits for the network: files and stdout are written in place,
//! syslog messages go through a bounded queue to the output's own thread, and HTTP lines are
//! written to a disk spool that the output's own thread sends from.

pub mod config;
mod file;
pub mod fold;
pub mod http;
mod jsonl;
mod stats;
pub mod syslog;

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

pub use self::{
    config::{Filter, OutputConfig, SinkConfig},
    file::{FileError, numbered},
    jsonl::{JsonLines, OutputTarget},
    stats::{Counters, OutputStats, StatsHandle},
};
use self::{file::LineSink, http::HttpSink, syslog::SyslogSink};
use crate::rules::Severity;

/// What a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Alert,
    Event,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output `{name}`: {source}")]
    File { name: String, source: FileError },
    #[error("output `{name}`: {source}")]
    Http { name: String, source: http::HttpError },
    #[error("output `{name}`: cannot start its thread: {source}")]
    Thread { name: String, source: io::Error },
}

enum Sink {
    Lines(LineSink),
    Syslog(SyslogSink),
    Http(HttpSink),
}

struct Output {
    name: String,
    filter: Filter,
    sink: Sink,
}

/// What became of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Outputs that took it (written, queued or spooled).
    pub taken: u32,
    /// Outputs that wanted it and could not take it (counted in their `dropped`).
    pub failed: u32,
}

/// Every configured output; lines go to those whose filter takes them.
#[derive(Default)]
pub struct Outputs {
    outputs: Vec<Output>,
    stats: StatsHandle,
    closed: bool,
}

impl Outputs {
    /// No outputs (lines are discarded).
    pub fn none() -> Self {
        Self::default()
    }

    /// Opens every output. HTTP outputs keep their spool in `<state_dir>/spool/<name>/`.
    pub fn open(configs: &[OutputConfig], state_dir: &Path) -> Result<Self, OutputError> {
        let mut outputs = Vec::with_capacity(configs.len());
        let mut handles = Vec::with_capacity(configs.len());
        for config in configs {
            let name = config.name.clone();
            let counters = Arc::new(Counters::default());
            let sink = match &config.sink {
                SinkConfig::Stdout => Sink::Lines(LineSink::stdout(&name, counters.clone())),
                SinkConfig::File(file) => Sink::Lines(LineSink::file(&name, file, counters.clone()).map_err(
                    |source| OutputError::File {
                        name: name.clone(),
                        source,
                    },
                )?),
                SinkConfig::Syslog(syslog) => {
                    Sink::Syslog(SyslogSink::start(&name, syslog, counters.clone()).map_err(|source| {
                        OutputError::Thread {
                            name: name.clone(),
                            source,
                        }
                    })?)
                }
                SinkConfig::Http(http) => Sink::Http(
                    HttpSink::start(&name, http, &spool_dir(state_dir, &name), counters.clone()).map_err(|source| {
                        OutputError::Http {
                            name: name.clone(),
                            source,
                        }
                    })?,
                ),
            };
            handles.push((name.clone(), config.sink.type_name(), counters));
            outputs.push(Output {
                name,
                filter: config.filter,
                sink,
            });
        }
        Ok(Self {
            outputs,
            stats: StatsHandle {
                outputs: Arc::new(handles),
            },
            closed: false,
        })
    }

    /// Whether any output takes events (so the pipeline can skip serialising them).
    pub fn wants_events(&self) -> bool {
        self.outputs.iter().any(|output| output.filter.events)
    }

    /// Whether any output takes an alert of this severity.
    pub fn wants_alert(&self, severity: Severity) -> bool {
        self.outputs.iter().any(|output| output.filter.accepts_alert(severity))
    }

    /// Sends one event (its JSON, without newline) to the outputs that take events.
    pub fn write_event(&mut self, json: &[u8]) -> Delivery {
        self.write(Kind::Event, None, json)
    }

    /// Sends one alert to the outputs that take alerts of its severity.
    pub fn write_alert(&mut self, json: &[u8], severity: Severity) -> Delivery {
        self.write(Kind::Alert, Some(severity), json)
    }

    fn write(&mut self, kind: Kind, severity: Option<Severity>, json: &[u8]) -> Delivery {
        let mut delivery = Delivery::default();
        for output in &mut self.outputs {
            let wanted = match (kind, severity) {
                (Kind::Event, _) => output.filter.events,
                (Kind::Alert, Some(severity)) => output.filter.accepts_alert(severity),
                (Kind::Alert, None) => output.filter.alerts,
            };
            if !wanted {
                continue;
            }
            let taken = match &mut output.sink {
                Sink::Lines(sink) => sink.write(json),
                Sink::Syslog(sink) => sink.write(kind, severity, json),
                Sink::Http(sink) => sink.write(json),
            };
            if taken {
                delivery.taken += 1;
            } else {
                delivery.failed += 1;
            }
        }
        delivery
    }

    /// Writes out what files and spools buffer; called after each batch. Returns how many
    /// outputs failed.
    pub fn flush(&mut self) -> u32 {
        let mut failed = 0;
        for output in &mut self.outputs {
            match &mut output.sink {
                Sink::Lines(sink) => {
                    if !sink.flush() {
                        failed += 1;
                    }
                }
                Sink::Http(sink) => sink.flush(),
                Sink::Syslog(_) => {}
            }
        }
        failed
    }

    /// Flushes everything and closes: syslog and HTTP outputs get up to their
    /// `shutdown_timeout_seconds` (together, not one after the other) to deliver what they
    /// hold; what an HTTP output could not deliver stays in its spool for the next start.
    /// Blocks; idempotent (dropping `Outputs` closes them too).
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.flush();
        let now = Instant::now();
        for output in &mut self.outputs {
            match &mut output.sink {
                Sink::Syslog(sink) => sink.begin_close(now + sink.shutdown_timeout()),
                Sink::Http(sink) => sink.begin_close(now + sink.shutdown_timeout()),
                Sink::Lines(_) => {}
            }
        }
        for output in &mut self.outputs {
            match &mut output.sink {
                Sink::Syslog(sink) => sink.finish_close(),
                Sink::Http(sink) => sink.finish_close(),
                Sink::Lines(_) => {}
            }
        }
        for stats in self.stats() {
            tracing::info!(
                output = %stats.name,
                kind = stats.kind,
                written = stats.written,
                delivered = stats.delivered,
                failed = stats.failed,
                dropped = stats.dropped,
                queued = stats.queued,
                "output closed"
            );
        }
    }

    /// Every output's counters now.
    pub fn stats(&self) -> Vec<OutputStats> {
        self.stats.snapshot()
    }

    /// A handle that reads the counters from anywhere (another task or thread).
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// One line per output, for the start-up log.
    pub fn describe(&self) -> Vec<String> {
        self.outputs
            .iter()
            .map(|output| {
                let target = match &output.sink {
                    Sink::Lines(sink) => sink.describe(),
                    Sink::Syslog(_) => "syslog".to_string(),
                    Sink::Http(_) => "http".to_string(),
                };
                let mut kinds = Vec::new();
                if output.filter.alerts {
                    kinds.push(format!("alerts >= {}", output.filter.min_severity.as_str()));
                }
                if output.filter.events {
                    kinds.push("events".to_string());
                }
                format!("{} ({target}): {}", output.name, kinds.join(", "))
            })
            .collect()
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        self.close();
    }
}

/// `<state_dir>/spool/<name>`.
pub fn spool_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("spool").join(name)
}

/// Whether the `count`-th occurrence of a repeated error is logged: the first ten, then at
/// powers of two.
pub(crate) fn throttled(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{config::FileConfig, *};

    fn file_output(name: &str, path: &Path, filter: Filter) -> OutputConfig {
        OutputConfig {
            name: name.to_string(),
            filter,
            sink: SinkConfig::File(FileConfig {
                path: path.to_path_buf(),
                max_bytes: 0,
                keep: 0,
            }),
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn filters_by_kind_and_severity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let high = Filter {
            alerts: true,
            events: false,
            min_severity: Severity::High,
        };
        let everything = Filter {
            alerts: true,
            events: true,
            min_severity: Severity::Info,
        };
        let configs = [
            file_output("high", &dir.path().join("high"), high),
            file_output("events", &dir.path().join("events"), Filter::EVENTS),
            file_output("all", &dir.path().join("all"), everything),
        ];
        let mut outputs = Outputs::open(&configs, dir.path()).expect("open");
        assert!(outputs.wants_events());
        assert!(outputs.wants_alert(Severity::Low), "`all` takes low alerts");
        assert_eq!(outputs.write_event(b"\"e\"").taken, 2);
        assert_eq!(outputs.write_alert(b"\"low\"", Severity::Low).taken, 1);
        assert_eq!(outputs.write_alert(b"\"high\"", Severity::High).taken, 2);
        assert_eq!(outputs.write_alert(b"\"critical\"", Severity::Critical).taken, 2);
        outputs.close();
        assert_eq!(lines(&dir.path().join("high")), ["\"high\"", "\"critical\""]);
        assert_eq!(lines(&dir.path().join("events")), ["\"e\""]);
        assert_eq!(
            lines(&dir.path().join("all")),
            ["\"e\"", "\"low\"", "\"high\"", "\"critical\""]
        );
        let stats = outputs.stats();
        assert_eq!(stats[0].name, "high");
        assert_eq!(stats[0].kind, "file");
        assert_eq!((stats[0].written, stats[0].delivered, stats[0].dropped), (2, 2, 0));
        assert_eq!(stats[2].written, 4);
    }

    #[test]
    fn an_unreachable_receiver_keeps_everything_in_the_spool() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let config = OutputConfig {
            name: "siem".into(),
            filter: Filter::ALERTS,
            sink: SinkConfig::Http(Box::new(config::HttpConfig {
                url: format!("http://127.0.0.1:{port}/_bulk"),
                format: config::HttpFormat::Elasticsearch,
                index: Some("a".into()),
                sourcetype: "_json".into(),
                authorization: None,
                headers: Vec::new(),
                batch_max_events: 2,
                batch_max_bytes: 1 << 20,
                batch_max_wait: Duration::from_millis(10),
                timeout: Duration::from_secs(2),
                retry_initial: Duration::from_millis(10),
                retry_max: Duration::from_millis(50),
                spool_max_bytes: 8 << 20,
                ca_file: None,
                insecure_skip_verify: false,
                shutdown_timeout: Duration::from_millis(100),
            })),
        };
        let mut outputs = Outputs::open(std::slice::from_ref(&config), dir.path()).expect("open");
        for n in 0..5 {
            outputs.write_alert(format!("{{\"n\":{n}}}").as_bytes(), Severity::High);
        }
        outputs.close();
        let stats = &outputs.stats()[0];
        assert_eq!(stats.written, 5);
        assert_eq!(stats.delivered, 0);
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.queued, 5, "{stats:?}");
        assert!(stats.failed >= 1);
        drop(outputs);
        // The next run finds them.
        let again = Outputs::open(&[config], dir.path()).expect("reopen");
        assert_eq!(again.stats()[0].queued, 5);
    }
}
