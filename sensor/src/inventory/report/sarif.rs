//! Findings as SARIF 2.1.0, for code-scanning tools and CI.

use serde_json::{Value, json};

use crate::{
    inventory::{catalogue, model::Report},
    rules::Severity,
};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

pub fn render(report: &Report) -> Value {
    let rules: Vec<Value> = catalogue::ALL
        .iter()
        .map(|check| {
            json!({
                "id": check.id,
                "shortDescription": {"text": check.title},
                "help": {"text": check.remedy},
                "defaultConfiguration": {"level": level(check.severity)},
                "properties": {"category": check.category.as_str(), "severity": check.severity.as_str()},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let mut location = json!({"artifactLocation": {"uri": format!("file://{}", finding.file.display())}});
            if let Some(line) = finding.line {
                location["region"] = json!({"startLine": line});
            }
            let mut result = json!({
                "ruleId": finding.check.id,
                "ruleIndex": catalogue::ALL.iter().position(|check| check.id == finding.check.id),
                "level": level(finding.severity),
                "message": {"text": finding.message},
                "locations": [{"physicalLocation": location}],
                "properties": {"severity": finding.severity.as_str()},
            });
            if let Some(secret) = &finding.secret {
                result["partialFingerprints"] = json!({"secretSha256/v1": secret.sha256_16});
            }
            result
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "agent-sensor inventory",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
