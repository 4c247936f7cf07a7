//! Request bodies and responses of the SIEM formats.
//!
//! - Elasticsearch / OpenSearch `_bulk`: NDJSON, an action line and the document per line. The
//!   action is `create` with `_id` set to the document's `event.id`, so a batch sent again after
//!   an unanswered request is not indexed twice (Elasticsearch answers 409 for the copies) and
//!   data streams accept it.
//! - Splunk HEC (`/services/collector/event`): one envelope per line,
//!   `{"time":…,"host":…,"source":"agent-sensor","sourcetype":…,"index":…,"event":{…}}`, one
//!   per line; `time` is the document's `@timestamp` in epoch seconds.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// The fields of a document the envelopes need.
#[derive(Default, Deserialize)]
struct Head<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<EventHead<'a>>,
    #[serde(borrow, default)]
    host: Option<HostHead<'a>>,
}

#[derive(Default, Deserialize)]
struct EventHead<'a> {
    #[serde(borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Default, Deserialize)]
struct HostHead<'a> {
    #[serde(borrow, default)]
    hostname: Option<std::borrow::Cow<'a, str>>,
}

fn head(line: &[u8]) -> Head<'_> {
    serde_json::from_slice(line).unwrap_or_default()
}

/// An Elasticsearch `_bulk` body: `create` actions into `index`, `_id` = `event.id`.
pub fn bulk(lines: &[&[u8]], index: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 80).sum());
    for line in lines {
        let mut action = Map::new();
        action.insert("_index".into(), json!(index));
        if let Some(id) = head(line).event.and_then(|event| event.id) {
            action.insert("_id".into(), json!(id));
        }
        let _ = serde_json::to_writer(&mut body, &json!({ "create": action }));
        body.push(b'\n');
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    body
}

/// A Splunk HEC body: one event envelope per line.
pub fn hec(lines: &[&[u8]], index: Option<&str>, sourcetype: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 160).sum());
    for line in lines {
        let head = head(line);
        let mut envelope = Map::new();
        if let Some(time) = head
            .timestamp
            .as_deref()
            .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        {
            let micros = time.unix_timestamp_nanos() / 1000;
            if let Ok(seconds) = format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
                .parse::<serde_json::Number>()
            {
                envelope.insert("time".into(), Value::Number(seconds));
            }
        }
        if let Some(host) = head.host.and_then(|host| host.hostname) {
            envelope.insert("host".into(), json!(host));
        }
        envelope.insert("source".into(), json!("agent-sensor"));
        envelope.insert("sourcetype".into(), json!(sourcetype));
        if let Some(index) = index {
            envelope.insert("index".into(), json!(index));
        }
        // The document goes in as it is (valid JSON: the sensor wrote it), spliced after the
        // other members rather than parsed again.
        let Ok(mut text) = serde_json::to_vec(&envelope) else {
            continue;
        };
        text.pop(); // the closing brace
        body.extend_from_slice(&text);
        body.extend_from_slice(b",\"event\":");
        body.extend_from_slice(line);
        body.extend_from_slice(b"}\n");
    }
    body
}

/// What became of each line of a `_bulk` request that was answered with a 2xx.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Indexes of the lines to send again (429 or 5xx items).
    pub retry: Vec<usize>,
    /// Indexes of the lines Elasticsearch refused for good, with the first reason.
    pub rejected: Vec<usize>,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<Map<String, Value>>,
}

/// Reads a `_bulk` answer for `count` lines. Items that were created, or that exist already
/// (409: sent before), are delivered. An answer that is not a bulk response counts as
/// delivered (the 2xx said so).
pub fn bulk_outcome(response: &[u8], count: usize) -> BulkOutcome {
    let Ok(parsed) = serde_json::from_slice::<BulkResponse>(response) else {
        return BulkOutcome::default();
    };
    if !parsed.errors {
        return BulkOutcome::default();
    }
    if parsed.items.len() != count {
        return BulkOutcome {
            retry: (0..count).collect(),
            rejected: Vec::new(),
            reason: Some(format!(
                "the bulk answer has {} items for {count} documents",
                parsed.items.len()
            )),
        };
    }
    let mut outcome = BulkOutcome::default();
    for (index, item) in parsed.items.iter().enumerate() {
        let Some(result) = item.values().next() else {
            continue;
        };
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        match status {
            200..=299 | 409 => {}
            429 | 500..=599 => outcome.retry.push(index),
            _ => {
                outcome.rejected.push(index);
                if outcome.reason.is_none() {
                    let error = result.get("error").cloned().unwrap_or(Value::Null);
                    outcome.reason = Some(format!("status {status}: {error}"));
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &[u8] = br#"{"@timestamp":"2026-11-21T19:28:17.852867584Z","event":{"id":"3f1c-alert-1","kind":"alert"},"host":{"hostname":"dev-laptop"}}"#;
    const BARE: &[u8] = br#"{"x":"no id"}"#;

    #[test]
    fn bulk_body_creates_each_document_with_its_event_id() {
        let body = bulk(&[ALERT, BARE], "agent-sensor-alerts");
        let text = String::from_utf8(body).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(text.ends_with('\n'), "a bulk body ends with a newline");
        let action: Value = serde_json::from_str(lines[0]).expect("action");
        assert_eq!(
            action,
            json!({"create": {"_index": "agent-sensor-alerts", "_id": "3f1c-alert-1"}})
        );
        assert_eq!(lines[1].as_bytes(), ALERT);
        let action: Value = serde_json::from_str(lines[2]).expect("action");
        assert_eq!(action, json!({"create": {"_index": "agent-sensor-alerts"}}));
        assert_eq!(lines[3].as_bytes(), BARE);
    }

    #[test]
    fn hec_body_wraps_each_document() {
        let body = hec(&[ALERT, BARE], Some("security"), "_json");
        let text = String::from_utf8(body).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: Value = serde_json::from_str(lines[0]).expect("envelope");
        assert_eq!(first["time"], json!(1795289297.852867));
        assert_eq!(first["host"], "dev-laptop");
        assert_eq!(first["source"], "agent-sensor");
        assert_eq!(first["sourcetype"], "_json");
        assert_eq!(first["index"], "security");
        let document: Value = serde_json::from_slice(ALERT).expect("alert");
        assert_eq!(first["event"], document);
        let second: Value = serde_json::from_str(lines[1]).expect("envelope");
        assert!(second.get("time").is_none() && second.get("host").is_none());
        assert_eq!(second["event"]["x"], "no id");
        let no_index = hec(&[BARE], None, "st");
        assert!(!String::from_utf8_lossy(&no_index).contains("index"));
    }

    #[test]
    fn bulk_answers_sort_items_into_delivered_retried_and_rejected() {
        assert_eq!(
            bulk_outcome(br#"{"errors":false,"items":[]}"#, 3),
            BulkOutcome::default()
        );
        assert_eq!(bulk_outcome(b"not json", 3), BulkOutcome::default());
        let answer = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad field"}}},
            {"create":{"status":503}}]}"#;
        let outcome = bulk_outcome(answer, 5);
        assert_eq!(outcome.retry, [2, 4]);
        assert_eq!(outcome.rejected, [3]);
        assert!(
            outcome
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("document_parsing_exception"))
        );
        let short = bulk_outcome(br#"{"errors":true,"items":[{"create":{"status":201}}]}"#, 2);
        assert_eq!(short.retry, [0, 1]);
    }
}
