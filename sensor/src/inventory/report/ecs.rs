//! Inventory records and findings as ECS documents, in the shape of the sensor's events and
//! alerts (docs/inventory.md): records are `event.kind: state`, findings `event.kind: alert` with
//! `rule.*` (and `vulnerability.*` for advisories), both in `event.dataset: agent_sensor.inventory`.

use serde_json::{Map, Value, json};

use crate::{
    event::ecs::{ECS_VERSION, SensorContext, rfc3339},
    inventory::model::{Finding, Owned, Owner, Record, Report},
    rules::Severity,
    telemetry::sensor_alert::now_ns,
};

/// Every record (as an event) then every finding (as an alert of its severity), serialized.
pub fn documents(report: &Report, context: &SensorContext) -> Vec<(Option<Severity>, Vec<u8>)> {
    numbered_documents(report, context, &mut 0)
}

/// [`documents`], numbering `event.id`s on from `number` (a daemon sends several batches).
pub fn numbered_documents(
    report: &Report,
    context: &SensorContext,
    number: &mut u64,
) -> Vec<(Option<Severity>, Vec<u8>)> {
    let now = now_ns();
    let mut lines = Vec::with_capacity(report.records.len() + report.findings.len());
    for owned in &report.records {
        *number += 1;
        lines.push((
            None,
            serde_json::to_vec(&record(owned, context, now, *number)).unwrap_or_default(),
        ));
    }
    for found in &report.findings {
        *number += 1;
        let doc = finding(found, context, now, *number);
        lines.push((Some(found.severity), serde_json::to_vec(&doc).unwrap_or_default()));
    }
    lines
}

pub const RULESET: &str = "agent-sensor-inventory";
pub const DATASET: &str = "agent_sensor.inventory";

fn base(context: &SensorContext, now_ns: i128, number: u64, kind: &str, category: &str, action: &str) -> Value {
    json!({
        "@timestamp": rfc3339(now_ns),
        "ecs": {"version": ECS_VERSION},
        "agent": {
            "type": "agent-sensor",
            "version": env!("CARGO_PKG_VERSION"),
            "ephemeral_id": format!("{:016x}", context.run_id),
        },
        "event": {
            "id": format!("{:016x}-inventory-{number}", context.run_id),
            "kind": kind,
            "category": [category],
            "type": ["info"],
            "action": action,
            "module": "agent_sensor",
            "dataset": DATASET,
        },
        "host": {"hostname": &context.hostname},
    })
}

fn set(doc: &mut Value, key: &str, value: Value) {
    if let Value::Object(root) = doc {
        root.insert(key.to_string(), value);
    }
}

fn user(owner: &Owner) -> Option<Value> {
    let mut user = Map::new();
    if let Some(name) = &owner.user {
        user.insert("name".into(), json!(name));
    }
    if let Some(uid) = owner.uid {
        user.insert("id".into(), json!(uid.to_string()));
    }
    (!user.is_empty()).then_some(Value::Object(user))
}

/// One record as an ECS document.
pub fn record(owned: &Owned<Record>, context: &SensorContext, now_ns: i128, number: u64) -> Value {
    let item = &owned.item;
    let mut doc = base(
        context,
        now_ns,
        number,
        "state",
        "configuration",
        &format!("inventory-{}", item.kind()),
    );
    if let Some(user) = user(&owned.owner) {
        set(&mut doc, "user", user);
    }
    let agent = match item {
        Record::Agent(agent) => {
            let mut package = json!({"name": agent.package.as_deref().unwrap_or(&agent.agent), "path": agent.path, "type": agent.source});
            if let Some(version) = &agent.version {
                package["version"] = json!(version);
            }
            set(&mut doc, "package", package);
            Some(&agent.agent)
        }
        Record::McpServer(server) => {
            set(&mut doc, "file", json!({"path": server.file}));
            if let Some(url) = &server.url {
                set(&mut doc, "url", json!({"full": url}));
            }
            if let Some((name, version)) = &server.package {
                let mut package = json!({"name": name});
                if let Some(version) = version {
                    package["version"] = json!(version);
                }
                set(&mut doc, "package", package);
            }
            Some(&server.agent)
        }
        Record::Skill(skill) => {
            let mut file = json!({"path": skill.path});
            if let Some(sha256) = &skill.sha256 {
                file["hash"] = json!({"sha256": sha256});
            }
            set(&mut doc, "file", file);
            Some(&skill.agent)
        }
        Record::Instructions(instructions) => {
            let mut file = json!({"path": instructions.path, "size": instructions.bytes});
            if let Some(sha256) = &instructions.sha256 {
                file["hash"] = json!({"sha256": sha256});
            }
            set(&mut doc, "file", file);
            Some(&instructions.agent)
        }
        Record::ModelServer(server) => {
            set(
                &mut doc,
                "server",
                json!({"address": server.address, "port": server.port}),
            );
            None
        }
    };
    if let Some(agent) = agent {
        set(&mut doc, "gen_ai", json!({"agent": {"name": agent}}));
    }
    let inventory = serde_json::to_value(owned).unwrap_or(Value::Null);
    set(
        &mut doc,
        "agent_sensor",
        json!({"schema_version": crate::event::SCHEMA_VERSION, "inventory": inventory}),
    );
    doc
}

/// One finding as an ECS alert document.
pub fn finding(finding: &Finding, context: &SensorContext, now_ns: i128, number: u64) -> Value {
    let check = finding.check;
    let category = if check.category == crate::inventory::catalogue::Category::Vulnerability {
        "vulnerability"
    } else {
        "configuration"
    };
    let mut doc = base(context, now_ns, number, "alert", category, check.id);
    doc["event"]["severity"] = json!(finding.severity.score());
    set(
        &mut doc,
        "rule",
        json!({
            "id": check.id,
            "name": check.title,
            "description": finding.message,
            "ruleset": RULESET,
            "category": check.category.as_str(),
            "reference": format!("docs/inventory.md#{}", check.id),
        }),
    );
    set(&mut doc, "file", json!({"path": finding.file}));
    if let Some(user) = user(&finding.owner) {
        set(&mut doc, "user", user);
    }
    if let Some(agent) = &finding.agent {
        set(&mut doc, "gen_ai", json!({"agent": {"name": agent}}));
    }
    if let Some(id) = &finding.advisory {
        set(
            &mut doc,
            "vulnerability",
            json!({"id": id, "severity": finding.severity.as_str(), "category": ["package"], "scanner": {"vendor": "agent-sensor"}}),
        );
        if let Some((name, version)) = finding.evidence.as_deref().and_then(|e| e.rsplit_once('@')) {
            set(&mut doc, "package", json!({"name": name, "version": version}));
        }
    }
    let mut facts = json!({
        "record": "finding",
        "scope": finding.owner.scope,
        "message": finding.message,
        "remedy": check.remedy,
    });
    if let Some(line) = finding.line {
        facts["line"] = json!(line);
    }
    if let Some(evidence) = &finding.evidence {
        facts["evidence"] = json!(evidence);
    }
    if let Some(secret) = &finding.secret {
        facts["secret"] = json!(secret);
    }
    set(
        &mut doc,
        "agent_sensor",
        json!({
            "schema_version": crate::event::SCHEMA_VERSION,
            "alert": {"severity": finding.severity.as_str(), "action": "alert"},
            "inventory": facts,
        }),
    );
    set(&mut doc, "tags", json!(["inventory", check.category.as_str()]));
    doc
}
