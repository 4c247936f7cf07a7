//! Alerts the sensor raises about itself (event loss, tampering with the sensor): the same ECS
//! alert shape as rule alerts (docs/alerts.md), with `rule.ruleset: agent-sensor-builtin`.

use serde_json::{Map, Value, json};

use crate::{
    event::ecs::{ECS_VERSION, SensorContext, rfc3339},
    rules::Severity,
};

pub const BUILTIN_RULESET: &str = "agent-sensor-builtin";

#[derive(Clone, Debug)]
pub struct SensorAlert {
    pub rule_id: &'static str,
    pub name: &'static str,
    pub description: String,
    pub severity: Severity,
    pub tags: &'static [&'static str],
    /// Extra facts, placed under `agent_sensor.<key>`.
    pub facts: Map<String, Value>,
    /// ECS fields about who did it (`process`, `user`, `gen_ai`), at the top of the document.
    pub top: Map<String, Value>,
}

impl SensorAlert {
    /// The alert as one JSON document; `number` makes its `event.id` unique in the run.
    pub fn to_value(&self, context: &SensorContext, number: u64, now_ns: i128) -> Value {
        let mut sensor = Map::new();
        sensor.insert("schema_version".into(), json!(crate::event::SCHEMA_VERSION));
        sensor.insert(
            "alert".into(),
            json!({"severity": self.severity.as_str(), "action": "alert", "events": [], "count": 0}),
        );
        sensor.insert("action".into(), json!("alerted"));
        for (key, value) in &self.facts {
            sensor.insert(key.clone(), value.clone());
        }
        let mut doc = json!({
            "@timestamp": rfc3339(now_ns),
            "ecs": {"version": ECS_VERSION},
            "agent": {
                "type": "agent-sensor",
                "version": env!("CARGO_PKG_VERSION"),
                "ephemeral_id": format!("{:016x}", context.run_id),
            },
            "event": {
                "id": format!("{:016x}-sensor-alert-{number}", context.run_id),
                "kind": "alert",
                "category": ["host"],
                "type": ["info"],
                "action": self.rule_id,
                "severity": self.severity.score(),
                "module": "agent_sensor",
                "dataset": "agent_sensor.alerts",
            },
            "host": {"hostname": &context.hostname},
            "process": {"pid": std::process::id(), "name": "agent-sensor"},
            "rule": {
                "id": self.rule_id,
                "name": self.name,
                "description": &self.description,
                "ruleset": BUILTIN_RULESET,
                "category": self.tags.join(","),
            },
            "tags": self.tags,
            "agent_sensor": sensor,
        });
        if let Value::Object(root) = &mut doc {
            for (key, value) in &self.top {
                root.insert(key.clone(), value.clone());
            }
        }
        doc
    }

    pub fn to_json(&self, context: &SensorContext, number: u64, now_ns: i128) -> Vec<u8> {
        serde_json::to_vec(&self.to_value(context, number, now_ns)).unwrap_or_default()
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as i128)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensor_alert_has_the_alert_shape() {
        let context = SensorContext {
            hostname: "ws-1".into(),
            run_id: 0xfeed,
        };
        let mut facts = Map::new();
        facts.insert("loss".into(), json!({"kernel_dropped": 12}));
        let alert = SensorAlert {
            rule_id: "sensor-event-loss",
            name: "Sensor lost events",
            description: "12 events lost".into(),
            severity: Severity::High,
            tags: &["sensor", "visibility"],
            facts,
            top: Map::new(),
        };
        let doc = alert.to_value(&context, 3, 1_700_000_000_000_000_000);
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["id"], "000000000000feed-sensor-alert-3");
        assert_eq!(doc["rule"]["id"], "sensor-event-loss");
        assert_eq!(doc["rule"]["ruleset"], BUILTIN_RULESET);
        assert_eq!(doc["agent_sensor"]["alert"]["severity"], "high");
        assert_eq!(doc["agent_sensor"]["loss"]["kernel_dropped"], 12);
        assert_eq!(doc["host"]["hostname"], "ws-1");
        assert!(doc["@timestamp"].as_str().is_some_and(|t| t.starts_with("2023-11-14T")));
    }
}
