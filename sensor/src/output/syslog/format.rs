//! The RFC 5424 line of one alert or event, and RFC 6587 octet counting for streams.

use std::io::Write;

use time::OffsetDateTime;

use super::APP_NAME;
use crate::{
    output::{Kind, config::SyslogConfig},
    rules::Severity,
};

/// The syslog severity of a line: alerts by their rule's severity, events are informational.
pub fn syslog_severity(kind: Kind, severity: Option<Severity>) -> u8 {
    match (kind, severity) {
        (Kind::Alert, Some(Severity::Critical)) => 2,
        (Kind::Alert, Some(Severity::High)) => 3,
        (Kind::Alert, Some(Severity::Medium)) => 4,
        (Kind::Alert, Some(Severity::Low)) => 5,
        _ => 6,
    }
}

/// The fixed parts of the header.
#[derive(Clone, Debug)]
pub struct Header {
    pub facility: u8,
    pub hostname: String,
    pub procid: u32,
}

impl Header {
    pub fn new(config: &SyslogConfig) -> Self {
        let hostname = config.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Self {
            facility: config.facility.0,
            hostname: header_field(&hostname, 255),
            procid: std::process::id(),
        }
    }

    /// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`.
    pub fn format(&self, kind: Kind, severity: Option<Severity>, now: OffsetDateTime, json: &[u8]) -> Vec<u8> {
        let pri = u32::from(self.facility) * 8 + u32::from(syslog_severity(kind, severity));
        let msgid = match kind {
            Kind::Alert => "alert",
            Kind::Event => "event",
        };
        let mut out = Vec::with_capacity(json.len() + 96);
        let _ = write!(
            out,
            "<{pri}>1 {} {} {APP_NAME} {} {msgid} - ",
            timestamp(now),
            self.hostname,
            self.procid
        );
        out.extend_from_slice(json);
        out
    }
}

/// RFC 5424 TIMESTAMP: UTC, microseconds (the most the RFC allows).
pub fn timestamp(now: OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// A header field: printable US-ASCII without spaces, at most `max` bytes, `-` when empty.
pub(super) fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if field.is_empty() { "-".to_string() } else { field }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 8);
    let _ = write!(framed, "{} ", message.len());
    framed.extend_from_slice(message);
    framed
}
