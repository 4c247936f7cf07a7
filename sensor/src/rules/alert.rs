//! Alerts and their JSON form: the triggering event's document plus the rule (docs/rules.md).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::rule::RuleMeta;
use crate::event::{Event, ecs::EcsEvent};

#[derive(Clone, Debug)]
pub struct Alert {
    /// Position among this engine's alerts (part of the alert's `event.id`).
    pub number: u64,
    pub rule: Arc<RuleMeta>,
    /// The event that made the rule fire.
    pub event: Event,
    /// Ids of the contributing events, oldest first.
    pub contributing: Vec<String>,
    /// What was done about it (set by the sensor's enforcer; `None` offline).
    pub response: Option<Response>,
}

/// What the sensor did when a rule fired (`agent_sensor.action` and `agent_sensor.enforcement`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `alerted`, `denied`, `killed`, `killed-tree`, `would-deny`, `would-kill`, `would-kill-tree`
    /// or `failed`.
    pub action: &'static str,
    /// `monitor` or `enforce`.
    pub mode: &'static str,
    /// Who judged: `bpf-lsm`, `tracepoint-sigkill`, `cgroup-sock-addr`, or `sensor` (after detection).
    pub backend: &'static str,
    /// Why it failed, or what the backend could not prevent.
    pub note: Option<String>,
}

impl Alert {
    /// The alert's own `event.id`.
    pub fn id(&self) -> String {
        format!("{:016x}-alert-{}", self.event.run_id, self.number)
    }

    pub fn to_value(&self) -> Value {
        let mut doc = serde_json::to_value(EcsEvent { event: &self.event }).unwrap_or_else(|_| json!({}));
        let rule = &self.rule;
        let tags: Vec<&str> = rule.tags.iter().map(|tag| &**tag).collect();
        let techniques: Vec<&str> = rule.mitre.iter().map(|id| &**id).collect();
        if let Value::Object(root) = &mut doc {
            if let Some(event) = object(root, "event") {
                event.insert("kind".into(), json!("alert"));
                event.insert("id".into(), json!(self.id()));
                event.insert("severity".into(), json!(rule.severity.score()));
            }
            root.insert(
                "rule".into(),
                json!({
                    "id": &*rule.id,
                    "name": &*rule.name,
                    "description": &*rule.description,
                    "ruleset": &*rule.ruleset,
                    "category": tags.join(","),
                }),
            );
            root.insert("tags".into(), json!(tags));
            if !techniques.is_empty() {
                root.insert(
                    "threat".into(),
                    json!({"framework": "MITRE ATT&CK", "technique": {"id": techniques}}),
                );
            }
            if let Some(sensor) = object(root, "agent_sensor") {
                sensor.insert(
                    "alert".into(),
                    json!({
                        "severity": rule.severity.as_str(),
                        "action": rule.action.as_str(),
                        "events": &self.contributing,
                        "count": self.contributing.len(),
                    }),
                );
                if let Some(response) = &self.response {
                    sensor.insert("action".into(), json!(response.action));
                    let mut enforcement = json!({"mode": response.mode, "backend": response.backend});
                    if let (Some(note), Value::Object(map)) = (&response.note, &mut enforcement) {
                        map.insert("note".into(), json!(note));
                    }
                    sensor.insert("enforcement".into(), enforcement);
                }
            }
        }
        doc
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

fn object<'m>(root: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Map<String, Value>> {
    let entry = root.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut()
}
