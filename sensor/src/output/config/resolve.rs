//! From the entries as written to the outputs in effect: each entry checked against its `type`,
//! and the command line's `--alerts`/`--events` shorthands added.

use std::{path::Path, time::Duration};

use serde_saphyr::Spanned;

use super::{
    spec::{COMMON_KEYS, FILE_KEYS, HTTP_KEYS, SYSLOG_KEYS},
    *,
};
use crate::{output::OutputTarget, rules::Severity, yaml::YamlError};

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
) -> Result<Vec<OutputConfig>, FlagClash> {
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
            return Err(FlagClash {
                flag: flag.name,
                path: file.path.clone(),
                output: other.name.clone(),
            });
        }
        outputs.push(flag);
    }
    Ok(outputs)
}

/// A command-line output flag names the file of a configured output.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {} is also the file of the configured output `{output}`", path.display())]
pub struct FlagClash {
    pub flag: String,
    pub path: std::path::PathBuf,
    pub output: String,
}

/// A name that cannot be an output's or a command's (the text follows the name's key).
#[derive(Debug, thiserror::Error)]
#[error("`{0}` must be 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`")]
pub struct BadName(pub String);

/// Names become directory names (the HTTP spool) and metric labels.
pub fn check_name(name: &str) -> Result<(), BadName> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid { Ok(()) } else { Err(BadName(name.to_string())) }
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
pub(super) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}
