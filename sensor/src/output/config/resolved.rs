//! The outputs once checked: what each takes and where it sends it, with the defaults applied.

use std::{fmt, path::PathBuf, time::Duration};

use super::{Facility, HttpFormat, Secret, Transport};
use crate::rules::Severity;

/// One output, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputConfig {
    pub name: String,
    pub filter: Filter,
    pub sink: SinkConfig,
}

/// What an output takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    pub alerts: bool,
    pub events: bool,
    pub min_severity: Severity,
}

impl Filter {
    pub const ALERTS: Self = Self {
        alerts: true,
        events: false,
        min_severity: Severity::Info,
    };
    pub const EVENTS: Self = Self {
        alerts: false,
        events: true,
        min_severity: Severity::Info,
    };

    pub fn accepts_alert(&self, severity: Severity) -> bool {
        self.alerts && severity >= self.min_severity
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConfig {
    Stdout,
    File(FileConfig),
    Syslog(SyslogConfig),
    Http(Box<HttpConfig>),
}

impl SinkConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::File(_) => "file",
            Self::Syslog(_) => "syslog",
            Self::Http(_) => "http",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileConfig {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes; 0: never.
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` … `PATH.keep`).
    pub keep: u32,
}

impl FileConfig {
    pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
    pub const DEFAULT_KEEP: u32 = 5;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogConfig {
    pub transport: Transport,
    /// `host:port` (udp, tcp) or a socket path (unix, unix-stream).
    pub address: String,
    pub facility: Facility,
    /// HOSTNAME of the header; default: the machine's name.
    pub hostname: Option<String>,
    /// Messages waiting for the network, at most.
    pub queue_size: usize,
    pub shutdown_timeout: Duration,
}

#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub url: String,
    pub format: HttpFormat,
    /// Elasticsearch: the `_index` of every document; Splunk: the HEC `index` (optional).
    pub index: Option<String>,
    /// Splunk: the HEC `sourcetype`.
    pub sourcetype: String,
    /// The `Authorization` header value, when there is one.
    pub authorization: Option<Secret>,
    pub headers: Vec<(String, String)>,
    pub batch_max_events: usize,
    pub batch_max_bytes: u64,
    pub batch_max_wait: Duration,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub spool_max_bytes: u64,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    pub shutdown_timeout: Duration,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("index", &self.index)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    pub const DEFAULT_INDEX: &'static str = "agent-sensor";
    pub const DEFAULT_SOURCETYPE: &'static str = "_json";
    pub const DEFAULT_BATCH_MAX_EVENTS: usize = 500;
    pub const DEFAULT_BATCH_MAX_BYTES: u64 = 1024 * 1024;
    pub const DEFAULT_BATCH_MAX_WAIT_MS: u64 = 1000;
    pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
    pub const DEFAULT_RETRY_INITIAL_MS: u64 = 500;
    pub const DEFAULT_RETRY_MAX_SECONDS: u64 = 30;
    pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
}

pub const DEFAULT_QUEUE_SIZE: usize = 10_000;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 5;
