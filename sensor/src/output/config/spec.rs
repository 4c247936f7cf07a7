//! The `outputs:` entries as written: one flat map per entry, and the values its keys take.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use serde::Deserialize;

use crate::rules::Severity;

/// One entry of `outputs:` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Name in logs, metrics and the spool directory; default: the type (`type-N` when several
    /// outputs share a type).
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<OutputType>,
    /// What goes out: `alerts`, `events`, or both. Default: `[alerts]`.
    pub kinds: Option<Vec<KindName>>,
    /// Alerts below this severity are not sent (events have none and are not affected).
    pub min_severity: Option<SeverityName>,

    // file
    pub path: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub keep: Option<u32>,

    // syslog
    pub transport: Option<Transport>,
    pub address: Option<String>,
    pub facility: Option<Facility>,
    pub hostname: Option<String>,
    pub queue_size: Option<usize>,

    // http
    pub url: Option<String>,
    pub format: Option<HttpFormat>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
    pub token: Option<Secret>,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub headers: Option<BTreeMap<String, String>>,
    pub batch_max_events: Option<usize>,
    pub batch_max_bytes: Option<u64>,
    pub batch_max_wait_ms: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub retry_initial_ms: Option<u64>,
    pub retry_max_seconds: Option<u64>,
    pub spool_max_bytes: Option<u64>,
    pub ca_file: Option<PathBuf>,
    pub tls_insecure_skip_verify: Option<bool>,

    // syslog and http
    pub shutdown_timeout_seconds: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputType {
    Stdout,
    File,
    Syslog,
    Http,
}

impl OutputType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::File => "file",
            Self::Syslog => "syslog",
            Self::Http => "http",
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    Alerts,
    Events,
}

/// A severity name (`info`, `low`, `medium`, `high`, `critical`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeverityName(pub Severity);

impl<'de> Deserialize<'de> for SeverityName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::parse(&text).map(SeverityName).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown severity `{text}`, expected one of {}",
                Severity::NAMES.join(", ")
            ))
        })
    }
}

/// How syslog messages travel.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// One datagram per message (RFC 5426).
    Udp,
    /// Octet-counted frames (RFC 6587 3.4.1) on a TCP connection.
    Tcp,
    /// One datagram per message on a unix datagram socket (`/dev/log` style).
    Unix,
    /// Octet-counted frames on a unix stream socket.
    UnixStream,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Unix => "unix",
            Self::UnixStream => "unix-stream",
        }
    }
}

/// A syslog facility by name (RFC 5424 table 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

impl Facility {
    const NAMES: [(&'static str, u8); 20] = [
        ("kern", 0),
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("ftp", 11),
        ("local0", 16),
        ("local1", 17),
        ("local2", 18),
        ("local3", 19),
        ("local4", 20),
        ("local5", 21),
        ("local6", 22),
        ("local7", 23),
    ];

    pub const USER: Self = Self(1);
}

impl<'de> Deserialize<'de> for Facility {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == text)
            .map(|&(_, code)| Self(code))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(name, _)| *name).collect();
                serde::de::Error::custom(format!(
                    "unknown syslog facility `{text}`, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// What an HTTP output speaks.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HttpFormat {
    /// Elasticsearch (and OpenSearch) `_bulk` NDJSON.
    #[serde(alias = "opensearch")]
    Elasticsearch,
    /// Splunk HTTP Event Collector (`/services/collector/event`).
    Splunk,
}

impl HttpFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Splunk => "splunk",
        }
    }
}

/// A credential: never shown by `Debug`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

pub(super) const COMMON_KEYS: [&str; 4] = ["name", "type", "kinds", "min_severity"];
pub(super) const FILE_KEYS: [&str; 3] = ["path", "max_bytes", "keep"];
pub(super) const SYSLOG_KEYS: [&str; 6] = [
    "transport",
    "address",
    "facility",
    "hostname",
    "queue_size",
    "shutdown_timeout_seconds",
];
pub(super) const HTTP_KEYS: [&str; 19] = [
    "url",
    "format",
    "index",
    "sourcetype",
    "token",
    "api_key",
    "username",
    "password",
    "headers",
    "batch_max_events",
    "batch_max_bytes",
    "batch_max_wait_ms",
    "timeout_seconds",
    "retry_initial_ms",
    "retry_max_seconds",
    "spool_max_bytes",
    "ca_file",
    "tls_insecure_skip_verify",
    "shutdown_timeout_seconds",
];

impl OutputSpec {
    /// The keys this entry sets.
    pub(super) fn keys(&self) -> Vec<&'static str> {
        let set = [
            ("name", self.name.is_some()),
            ("type", self.kind.is_some()),
            ("kinds", self.kinds.is_some()),
            ("min_severity", self.min_severity.is_some()),
            ("path", self.path.is_some()),
            ("max_bytes", self.max_bytes.is_some()),
            ("keep", self.keep.is_some()),
            ("transport", self.transport.is_some()),
            ("address", self.address.is_some()),
            ("facility", self.facility.is_some()),
            ("hostname", self.hostname.is_some()),
            ("queue_size", self.queue_size.is_some()),
            ("url", self.url.is_some()),
            ("format", self.format.is_some()),
            ("index", self.index.is_some()),
            ("sourcetype", self.sourcetype.is_some()),
            ("token", self.token.is_some()),
            ("api_key", self.api_key.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("headers", self.headers.is_some()),
            ("batch_max_events", self.batch_max_events.is_some()),
            ("batch_max_bytes", self.batch_max_bytes.is_some()),
            ("batch_max_wait_ms", self.batch_max_wait_ms.is_some()),
            ("timeout_seconds", self.timeout_seconds.is_some()),
            ("retry_initial_ms", self.retry_initial_ms.is_some()),
            ("retry_max_seconds", self.retry_max_seconds.is_some()),
            ("spool_max_bytes", self.spool_max_bytes.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("tls_insecure_skip_verify", self.tls_insecure_skip_verify.is_some()),
            ("shutdown_timeout_seconds", self.shutdown_timeout_seconds.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(key, _)| key).collect()
    }
}
