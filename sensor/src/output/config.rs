//! The `outputs:` section of the configuration file (docs/configuration.md, docs/outputs.md).
//!
//! Each entry is read as one flat map ([`OutputSpec`]) so that unknown keys and wrong types are
//! reported by the YAML reader with their line, then checked against its `type` ([`resolve`]):
//! keys that do not apply, missing settings and bad values are errors naming the entry's line.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::OutputTarget;
use crate::{config::yaml::YamlError, rules::Severity};

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

const COMMON_KEYS: [&str; 4] = ["name", "type", "kinds", "min_severity"];
const FILE_KEYS: [&str; 3] = ["path", "max_bytes", "keep"];
const SYSLOG_KEYS: [&str; 6] = [
    "transport",
    "address",
    "facility",
    "hostname",
    "queue_size",
    "shutdown_timeout_seconds",
];
const HTTP_KEYS: [&str; 19] = [
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
    fn keys(&self) -> Vec<&'static str> {
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

/// Checks the `outputs:` entries of the file `origin`; relative paths are relative to `base`.
pub fn resolve(specs: &[Spanned<OutputSpec>], origin: &str, base: &Path) -> Result<Vec<OutputConfig>, YamlError> {
    let mut outputs: Vec<OutputConfig> = Vec::with_capacity(specs.len());
    for (index, spanned) in specs.iter().enumerate() {
        let location = &spanned.referenced;
        let position = (location.line() > 0).then(|| (location.line(), location.column()));
        let fail = |message: String| YamlError {
            origin: origin.to_string(),
            position,
            message: format!("outputs[{index}]: {message}"),
        };
        let spec = &spanned.value;
        let Some(kind) = spec.kind else {
            return Err(fail(
                "`type` is required: one of stdout, file, syslog, http".to_string(),
            ));
        };
        let same_type = specs.iter().filter(|other| other.value.kind == Some(kind)).count();
        let name = match &spec.name {
            Some(name) => name.clone(),
            None if same_type == 1 => kind.as_str().to_string(),
            None => format!("{}-{}", kind.as_str(), index + 1),
        };
        check_name(&name).map_err(|problem| fail(format!("`name` {problem}")))?;
        if outputs.iter().any(|other| other.name == name) {
            return Err(fail(format!(
                "two outputs are named `{name}`; give each a distinct `name`"
            )));
        }
        let allowed: &[&str] = match kind {
            OutputType::Stdout => &[],
            OutputType::File => &FILE_KEYS,
            OutputType::Syslog => &SYSLOG_KEYS,
            OutputType::Http => &HTTP_KEYS,
        };
        if let Some(key) = spec
            .keys()
            .into_iter()
            .find(|key| !COMMON_KEYS.contains(key) && !allowed.contains(key))
        {
            return Err(fail(format!("`{key}` does not apply to a `{}` output", kind.as_str())));
        }
        let filter = filter_of(spec).map_err(fail)?;
        let sink = match kind {
            OutputType::Stdout => SinkConfig::Stdout,
            OutputType::File => SinkConfig::File(file_of(spec, base).map_err(fail)?),
            OutputType::Syslog => SinkConfig::Syslog(syslog_of(spec).map_err(fail)?),
            OutputType::Http => SinkConfig::Http(Box::new(http_of(spec, base).map_err(fail)?)),
        };
        if let SinkConfig::File(file) = &sink
            && let Some(other) = outputs
                .iter()
                .find(|other| matches!(&other.sink, SinkConfig::File(f) if f.path == file.path))
        {
            return Err(fail(format!(
                "output `{}` already writes {}; one file output can take both kinds",
                other.name,
                file.path.display()
            )));
        }
        outputs.push(OutputConfig { name, filter, sink });
    }
    Ok(outputs)
}

/// The outputs in effect: those of the configuration plus the command line's shorthands.
/// `--alerts`/`--events` add a stdout (`-`) or file output (appended to, not rotated) named after
/// the flag; both naming the same target make one output. Without `--alerts`, alerts go to
/// standard output unless a configured output takes them.
pub fn with_flags(
    configured: &[OutputConfig],
    events: Option<&OutputTarget>,
    alerts: Option<&OutputTarget>,
) -> Result<Vec<OutputConfig>, String> {
    let mut outputs = configured.to_vec();
    let default_alerts = OutputTarget::Stdout;
    let alerts = match alerts {
        Some(target) => Some(target),
        None if configured.iter().any(|output| output.filter.alerts) => None,
        None => Some(&default_alerts),
    };
    let sink = |target: &OutputTarget| match target {
        OutputTarget::Stdout => SinkConfig::Stdout,
        OutputTarget::File(path) => SinkConfig::File(FileConfig {
            path: path.clone(),
            max_bytes: 0,
            keep: 0,
        }),
    };
    let mut flags: Vec<OutputConfig> = Vec::new();
    match (alerts, events) {
        (Some(a), Some(e)) if a == e => flags.push(OutputConfig {
            name: "--alerts/--events".to_string(),
            filter: Filter {
                alerts: true,
                events: true,
                min_severity: Severity::Info,
            },
            sink: sink(a),
        }),
        (alerts, events) => {
            if let Some(target) = alerts {
                flags.push(OutputConfig {
                    name: "--alerts".to_string(),
                    filter: Filter::ALERTS,
                    sink: sink(target),
                });
            }
            if let Some(target) = events {
                flags.push(OutputConfig {
                    name: "--events".to_string(),
                    filter: Filter::EVENTS,
                    sink: sink(target),
                });
            }
        }
    }
    for flag in flags {
        if let SinkConfig::File(file) = &flag.sink
            && let Some(other) = outputs
                .iter()
                .find(|other| matches!(&other.sink, SinkConfig::File(f) if f.path == file.path))
        {
            return Err(format!(
                "{} {} is also the file of the configured output `{}`",
                flag.name,
                file.path.display(),
                other.name
            ));
        }
        outputs.push(flag);
    }
    Ok(outputs)
}

/// Names become directory names (the HTTP spool) and metric labels.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`"
        ))
    }
}

fn filter_of(spec: &OutputSpec) -> Result<Filter, String> {
    let kinds = spec.kinds.clone().unwrap_or_else(|| vec![KindName::Alerts]);
    if kinds.is_empty() {
        return Err("`kinds` is empty: list `alerts`, `events`, or both".to_string());
    }
    Ok(Filter {
        alerts: kinds.contains(&KindName::Alerts),
        events: kinds.contains(&KindName::Events),
        min_severity: spec.min_severity.map_or(Severity::Info, |s| s.0),
    })
}

fn file_of(spec: &OutputSpec, base: &Path) -> Result<FileConfig, String> {
    let path = spec
        .path
        .as_ref()
        .ok_or_else(|| "a `file` output needs `path`".to_string())?;
    if path.as_os_str().is_empty() {
        return Err("`path` is empty".to_string());
    }
    Ok(FileConfig {
        path: base.join(path),
        max_bytes: spec.max_bytes.unwrap_or(FileConfig::DEFAULT_MAX_BYTES),
        keep: spec.keep.unwrap_or(FileConfig::DEFAULT_KEEP),
    })
}

fn syslog_of(spec: &OutputSpec) -> Result<SyslogConfig, String> {
    let transport = spec
        .transport
        .ok_or_else(|| "a `syslog` output needs `transport`: udp, tcp, unix or unix-stream".to_string())?;
    let address = spec.address.clone().ok_or_else(|| {
        "a `syslog` output needs `address`: host:port (udp, tcp) or a socket path (unix, unix-stream)".to_string()
    })?;
    match transport {
        Transport::Udp | Transport::Tcp => {
            let port = address.rsplit_once(':').map(|(_, port)| port);
            if !port.is_some_and(|port| port.parse::<u16>().is_ok_and(|port| port > 0)) {
                return Err(format!(
                    "`address` `{address}` must be host:port for transport {}",
                    transport.as_str()
                ));
            }
        }
        Transport::Unix | Transport::UnixStream => {
            if !address.starts_with('/') {
                return Err(format!(
                    "`address` `{address}` must be an absolute socket path for transport {}",
                    transport.as_str()
                ));
            }
        }
    }
    if let Some(hostname) = &spec.hostname
        && (hostname.is_empty() || hostname.len() > 255 || !hostname.bytes().all(|b| (33..=126).contains(&b)))
    {
        return Err(format!(
            "`hostname` `{hostname}` must be 1 to 255 printable ASCII characters without spaces"
        ));
    }
    let queue_size = spec.queue_size.unwrap_or(DEFAULT_QUEUE_SIZE);
    if queue_size == 0 {
        return Err("`queue_size` must be at least 1".to_string());
    }
    Ok(SyslogConfig {
        transport,
        address,
        facility: spec.facility.unwrap_or(Facility::USER),
        hostname: spec.hostname.clone(),
        queue_size,
        shutdown_timeout: Duration::from_secs(
            spec.shutdown_timeout_seconds
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS),
        ),
    })
}

fn http_of(spec: &OutputSpec, base: &Path) -> Result<HttpConfig, String> {
    let url = spec
        .url
        .clone()
        .ok_or_else(|| "an `http` output needs `url`".to_string())?;
    let parsed: ureq::http::Uri = url
        .parse()
        .map_err(|error| format!("`url` `{url}` is not a URL: {error}"))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err(format!("`url` `{url}` must be an http:// or https:// URL with a host"));
    }
    let format = spec
        .format
        .ok_or_else(|| "an `http` output needs `format`: elasticsearch or splunk".to_string())?;
    let basic = match (&spec.username, &spec.password) {
        (Some(user), Some(password)) => Some(basic_auth(user, &password.0)),
        (None, None) => None,
        _ => return Err("`username` and `password` go together".to_string()),
    };
    let authorization = match format {
        HttpFormat::Splunk => {
            if spec.api_key.is_some() || basic.is_some() {
                return Err("a `splunk` output authenticates with `token` only".to_string());
            }
            let token = spec
                .token
                .as_ref()
                .filter(|token| !token.0.is_empty())
                .ok_or_else(|| "a `splunk` output needs `token` (the HEC token)".to_string())?;
            Some(Secret(format!("Splunk {}", token.0)))
        }
        HttpFormat::Elasticsearch => match (&spec.api_key, basic, &spec.token) {
            (_, _, Some(_)) => {
                return Err(
                    "`token` is for splunk; an `elasticsearch` output takes `api_key` or `username`/`password`"
                        .to_string(),
                );
            }
            (Some(_), Some(_), _) => return Err("give `api_key` or `username`/`password`, not both".to_string()),
            (Some(key), None, _) => Some(Secret(format!("ApiKey {}", key.0))),
            (None, basic, _) => basic.map(Secret),
        },
    };
    if spec.sourcetype.is_some() && format != HttpFormat::Splunk {
        return Err("`sourcetype` applies to `splunk` outputs only".to_string());
    }
    let index = match format {
        HttpFormat::Elasticsearch => Some(
            spec.index
                .clone()
                .unwrap_or_else(|| HttpConfig::DEFAULT_INDEX.to_string()),
        ),
        HttpFormat::Splunk => spec.index.clone(),
    };
    if index.as_deref().is_some_and(str::is_empty) {
        return Err("`index` is empty".to_string());
    }
    let mut headers = Vec::new();
    for (name, value) in spec.headers.iter().flatten() {
        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || ureq::http::HeaderValue::from_str(value).is_err()
        {
            return Err(format!("`headers`: `{name}: {value}` is not a valid HTTP header"));
        }
        if name.eq_ignore_ascii_case("authorization") && authorization.is_some() {
            return Err("`headers` sets Authorization, and so do the credentials".to_string());
        }
        headers.push((name.clone(), value.clone()));
    }
    let batch_max_events = spec.batch_max_events.unwrap_or(HttpConfig::DEFAULT_BATCH_MAX_EVENTS);
    let batch_max_bytes = spec.batch_max_bytes.unwrap_or(HttpConfig::DEFAULT_BATCH_MAX_BYTES);
    let spool_max_bytes = spec.spool_max_bytes.unwrap_or(HttpConfig::DEFAULT_SPOOL_MAX_BYTES);
    if batch_max_events == 0 {
        return Err("`batch_max_events` must be at least 1".to_string());
    }
    if batch_max_bytes < 1024 {
        return Err(format!(
            "`batch_max_bytes` must be at least 1024, not {batch_max_bytes}"
        ));
    }
    if spool_max_bytes < batch_max_bytes.saturating_mul(4) {
        return Err(format!(
            "`spool_max_bytes` ({spool_max_bytes}) must be at least four times `batch_max_bytes` ({batch_max_bytes})"
        ));
    }
    let timeout = spec.timeout_seconds.unwrap_or(HttpConfig::DEFAULT_TIMEOUT_SECONDS);
    if timeout == 0 {
        return Err("`timeout_seconds` must be at least 1".to_string());
    }
    let retry_initial = spec
        .retry_initial_ms
        .unwrap_or(HttpConfig::DEFAULT_RETRY_INITIAL_MS)
        .max(1);
    let retry_max = spec
        .retry_max_seconds
        .unwrap_or(HttpConfig::DEFAULT_RETRY_MAX_SECONDS)
        .max(1);
    Ok(HttpConfig {
        url,
        format,
        index,
        sourcetype: spec
            .sourcetype
            .clone()
            .unwrap_or_else(|| HttpConfig::DEFAULT_SOURCETYPE.to_string()),
        authorization,
        headers,
        batch_max_events,
        batch_max_bytes,
        batch_max_wait: Duration::from_millis(
            spec.batch_max_wait_ms
                .unwrap_or(HttpConfig::DEFAULT_BATCH_MAX_WAIT_MS)
                .max(1),
        ),
        timeout: Duration::from_secs(timeout),
        retry_initial: Duration::from_millis(retry_initial),
        retry_max: Duration::from_secs(retry_max).max(Duration::from_millis(retry_initial)),
        spool_max_bytes,
        ca_file: spec.ca_file.as_ref().map(|path| base.join(path)),
        insecure_skip_verify: spec.tls_insecure_skip_verify.unwrap_or(false),
        shutdown_timeout: Duration::from_secs(
            spec.shutdown_timeout_seconds
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS),
        ),
    })
}

/// `Basic base64(user:password)`.
fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4 + 6);
    out.push_str("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        outputs: Vec<Spanned<OutputSpec>>,
    }

    fn load(text: &str) -> Result<Vec<OutputConfig>, String> {
        let doc: Doc = crate::config::yaml::parse(text, "conf.yaml").map_err(|e| e.to_string())?;
        resolve(&doc.outputs, "conf.yaml", Path::new("/etc/agent-sensor")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_type_with_defaults() {
        let outputs = load(
            "outputs:\n\
             - type: stdout\n\
             - type: file\n  path: alerts.jsonl\n  kinds: [alerts, events]\n  min_severity: high\n\
             - type: syslog\n  transport: tcp\n  address: 127.0.0.1:514\n  facility: local3\n\
             - type: http\n  name: siem\n  format: splunk\n  url: https://splunk:8088/services/collector/event\n  token: abc\n",
        )
        .expect("valid");
        assert_eq!(outputs.len(), 4);
        assert_eq!(outputs[0].name, "stdout");
        assert_eq!(outputs[0].filter, Filter::ALERTS);
        let SinkConfig::File(file) = &outputs[1].sink else {
            panic!("file")
        };
        assert_eq!(file.path, Path::new("/etc/agent-sensor/alerts.jsonl"));
        assert_eq!(file.max_bytes, FileConfig::DEFAULT_MAX_BYTES);
        assert_eq!(file.keep, 5);
        assert!(outputs[1].filter.events && outputs[1].filter.alerts);
        assert!(!outputs[1].filter.accepts_alert(Severity::Medium));
        assert!(outputs[1].filter.accepts_alert(Severity::Critical));
        let SinkConfig::Syslog(syslog) = &outputs[2].sink else {
            panic!("syslog")
        };
        assert_eq!(syslog.facility, Facility(19));
        let SinkConfig::Http(http) = &outputs[3].sink else {
            panic!("http")
        };
        assert_eq!(outputs[3].name, "siem");
        assert_eq!(http.authorization, Some(Secret("Splunk abc".into())));
        assert!(!format!("{http:?}").contains("abc"), "the token is not shown");
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let error = load("outputs:\n  - type: stdout\n  - type: file\n    pathh: x\n").expect_err("unknown key");
        assert!(error.starts_with("conf.yaml:4:"), "{error}");
        assert!(error.contains("pathh"), "{error}");

        let error = load("outputs:\n  - type: stdout\n  - type: file\n    url: http://x\n    path: x\n")
            .expect_err("key of another type");
        assert!(error.starts_with("conf.yaml:3:"), "{error}");
        assert!(error.contains("`url` does not apply to a `file` output"), "{error}");

        let error = load("outputs:\n  - type: http\n    format: splunk\n    url: http://x:8088/\n").expect_err("token");
        assert!(error.starts_with("conf.yaml:2:"), "{error}");
        assert!(error.contains("needs `token`"), "{error}");

        let error = load("outputs:\n  - type: file\n    path: x\n    min_severity: severe\n").expect_err("severity");
        assert!(error.starts_with("conf.yaml:4:"), "{error}");
        assert!(error.contains("unknown severity `severe`"), "{error}");

        let error = load("outputs:\n  - type: syslog\n    transport: udp\n    address: localhost\n").expect_err("port");
        assert!(error.contains("host:port"), "{error}");

        let error = load("outputs:\n  - type: pigeon\n").expect_err("type");
        assert!(error.starts_with("conf.yaml:2:"), "{error}");

        let error =
            load("outputs:\n  - type: http\n    format: elasticsearch\n    url: ftp://x/\n").expect_err("scheme");
        assert!(error.contains("http:// or https://"), "{error}");
    }

    #[test]
    fn names_are_unique_and_default_to_the_type() {
        let outputs = load("outputs:\n  - type: stdout\n  - type: file\n    path: a\n  - type: file\n    path: b\n")
            .expect("valid");
        let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["stdout", "file-2", "file-3"]);
        let error =
            load("outputs:\n  - type: file\n    path: a\n  - type: file\n    path: a\n").expect_err("same file");
        assert!(error.contains("already writes"), "{error}");
        let error = load("outputs:\n  - type: stdout\n    name: x\n  - type: file\n    name: x\n    path: a\n")
            .expect_err("same name");
        assert!(error.contains("two outputs are named `x`"), "{error}");
        let error = load("outputs:\n  - type: stdout\n    name: ../up\n").expect_err("bad name");
        assert!(error.contains("letters, digits"), "{error}");
    }

    #[test]
    fn elasticsearch_credentials() {
        let outputs = load(
            "outputs:\n  - type: http\n    format: elasticsearch\n    url: http://127.0.0.1:9200/_bulk\n    username: elastic\n    password: changeme\n",
        )
        .expect("valid");
        let SinkConfig::Http(http) = &outputs[0].sink else {
            panic!("http")
        };
        assert_eq!(
            http.authorization,
            Some(Secret("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==".into()))
        );
        assert_eq!(http.index.as_deref(), Some("agent-sensor"));
        assert_eq!(basic_auth("a", "b"), "Basic YTpi");
        assert_eq!(basic_auth("ab", "cd"), "Basic YWI6Y2Q=");
    }

    #[test]
    fn flags_add_outputs_and_alerts_default_to_stdout() {
        let none = with_flags(&[], None, None).expect("defaults");
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].name, "--alerts");
        assert_eq!(none[0].sink, SinkConfig::Stdout);
        let same = OutputTarget::File("/tmp/x.jsonl".into());
        let both = with_flags(&[], Some(&same), Some(&same)).expect("one file");
        assert_eq!(both.len(), 1);
        assert!(both[0].filter.alerts && both[0].filter.events);
        let configured = load("outputs:\n  - type: file\n    path: /var/log/a.jsonl\n").expect("valid");
        let merged = with_flags(&configured, Some(&OutputTarget::Stdout), None).expect("merged");
        let names: Vec<&str> = merged.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["file", "--events"],
            "a configured alert output replaces the stdout default"
        );
        let clash = with_flags(&configured, None, Some(&OutputTarget::File("/var/log/a.jsonl".into())));
        assert!(clash.expect_err("same file").contains("--alerts /var/log/a.jsonl"));
    }
}
