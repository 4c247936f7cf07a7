use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::*;
use crate::{
    event::from_json::{event_from_json, nest_dotted},
    rules::{RuleAction, Severity, alert::Response, rule::RuleMeta},
};

const SECOND: i128 = 1_000_000_000;

/// Alert numbers, as the pipeline gives them (distinct `event.id`s).
static NUMBER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);

fn rule(id: &str) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: Arc::from(id),
        name: Arc::from("n"),
        description: Arc::from("d"),
        ruleset: Arc::from("test"),
        severity: Severity::High,
        action: RuleAction::Deny,
        tags: Vec::new(),
        mitre: Vec::new(),
        escalate: None,
    })
}

/// An alert of `rule` about an unlink of `path` in `session`, `ms` after the start, whose
/// response was `action` (`None`: offline, no response).
fn alert(rule_id: &str, session: u64, path: &str, ms: i128, action: Option<&'static str>) -> Alert {
    let mut flat = Map::new();
    for (key, value) in [
        ("event.action", json!("unlink")),
        ("file.path", json!(path)),
        ("process.executable", json!("/usr/bin/rm")),
        ("gen_ai.agent.id", json!(format!("{session:016x}"))),
        ("agent_sensor.session.working_directory", json!("/home/alice/project")),
        ("@timestamp", json!("2026-01-01T00:00:00Z")),
    ] {
        flat.insert(key.to_string(), value);
    }
    let mut event = event_from_json(&nest_dotted(&flat)).expect("test event");
    event.timestamp_ns += ms * 1_000_000;
    Alert {
        number: 0,
        rule: rule(rule_id),
        event,
        contributing: Vec::new(),
        response: action.map(|action| Response {
            action,
            mode: "monitor",
            backend: "bpf-lsm",
            note: None,
        }),
    }
}

fn admit(folder: &mut Folder, alert: Alert) -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = Vec::new();
    folder.admit(alert, &mut out);
    for written in &mut out {
        written.alert_mut().number = NUMBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    for written in &out {
        folder.written(written);
    }
    out
}

fn summary(outgoing: &Outgoing) -> &FoldSummary {
    match outgoing {
        Outgoing::FollowUp(_, summary) => summary,
        Outgoing::Alert(alert) => panic!("not a follow-up: {}", alert.rule.id),
    }
}

#[test]
fn a_burst_is_its_first_alert_and_one_follow_up_with_an_exact_count() {
    let mut folder = Folder::default();
    let mut written = Vec::new();
    for i in 0..63 {
        let path = format!("/home/alice/Documents/f{i:02}");
        written.extend(admit(
            &mut folder,
            alert("protected-delete", 1, &path, i * 10, Some("would-deny")),
        ));
    }
    assert_eq!(written.len(), 1, "only the first alert is written during the window");
    assert!(
        matches!(&written[0], Outgoing::Alert(a) if a.event.file().map(|f| f.path.as_str()) == Some("/home/alice/Documents/f00"))
    );
    let first_id = written[0].alert().id();

    let mut out = Vec::new();
    folder.expire(written[0].alert().event.timestamp_ns + 4 * SECOND, &mut out);
    assert!(out.is_empty(), "the window is still open");
    folder.expire(written[0].alert().event.timestamp_ns + 5 * SECOND, &mut out);
    assert_eq!(out.len(), 1);
    let folded = summary(&out[0]);
    assert_eq!(folded.count, 62);
    assert_eq!(folded.first_alert.as_deref(), Some(first_id.as_str()));
    assert_eq!(folded.actions, BTreeMap::from([("would-deny", 62)]));
    assert_eq!(folded.last_ns - folded.first_ns, 610 * 1_000_000);
    assert_eq!(folded.sample.len(), 10);
    assert_eq!(folded.sample[0], "/home/alice/Documents/f01");
    assert!(folded.sample_truncated);
    assert_eq!(folder.open(), 0);

    let doc: Value = serde_json::from_slice(&out[0].to_json()).expect("json");
    let fields = &doc["agent_sensor"]["alert"]["folded"];
    assert_eq!(fields["count"], 62);
    assert_eq!(fields["window_ms"], 5000);
    assert_eq!(fields["first_alert"], json!(first_id));
    assert_eq!(fields["actions"]["would-deny"], 62);
    assert_eq!(fields["sample"].as_array().map(Vec::len), Some(10));
    assert_eq!(fields["first"], "2026-01-01T00:00:00.01Z");
    assert_eq!(
        doc["file"]["path"], "/home/alice/Documents/f62",
        "the follow-up is the last match's document"
    );
    assert_eq!(doc["rule"]["id"], "protected-delete");
}

#[test]
fn rules_and_sessions_fold_apart_and_a_late_match_opens_a_new_burst() {
    let mut folder = Folder::default();
    let mut written = Vec::new();
    written.extend(admit(&mut folder, alert("a", 1, "/x/1", 0, None)));
    written.extend(admit(&mut folder, alert("b", 1, "/x/2", 100, None)));
    written.extend(admit(&mut folder, alert("a", 2, "/x/3", 200, None)));
    written.extend(admit(&mut folder, alert("a", 1, "/x/4", 300, None)));
    assert_eq!(written.len(), 3, "first alerts of (a, s1), (b, s1), (a, s2)");
    // After the window, a match of (a, s1) writes the burst's follow-up, then itself.
    let late = admit(&mut folder, alert("a", 1, "/x/5", 6000, None));
    assert_eq!(late.len(), 2);
    assert_eq!(summary(&late[0]).count, 1);
    assert_eq!(summary(&late[0]).actions, BTreeMap::from([("alerted", 1)]));
    assert!(matches!(&late[1], Outgoing::Alert(_)));
    // Bursts without folded matches close silently.
    let mut out = Vec::new();
    folder.expire(late[1].alert().event.timestamp_ns, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(folder.open(), 1, "the new burst of (a, 1)");
    // The new burst's follow-up names the late alert as its first, not the old follow-up.
    admit(&mut folder, alert("a", 1, "/x/6", 6100, None));
    folder.finish(&mut out);
    assert_eq!(summary(&out[0]).first_alert, Some(late[1].alert().id()));
}

#[test]
fn kills_and_failures_are_each_written_and_denials_counted_by_action() {
    let mut folder = Folder::default();
    let mut written = Vec::new();
    // A kill written in the same batch before the burst's first alert is not that alert.
    let mut batch = Vec::new();
    folder.admit(alert("r", 1, "/d/0", 0, Some("killed")), &mut batch);
    folder.admit(alert("r", 1, "/d/1", 0, Some("denied")), &mut batch);
    for (number, out) in batch.iter_mut().enumerate() {
        out.alert_mut().number = 1 + number as u64;
    }
    for out in &batch {
        folder.written(out);
    }
    let opener = batch[1].alert().id();
    written.extend(batch);
    written.extend(admit(&mut folder, alert("r", 1, "/d/2", 10, Some("killed"))));
    written.extend(admit(&mut folder, alert("r", 1, "/d/3", 20, Some("killed-tree"))));
    written.extend(admit(&mut folder, alert("r", 1, "/d/4", 30, Some("failed"))));
    written.extend(admit(&mut folder, alert("r", 1, "/d/5", 40, Some("denied"))));
    written.extend(admit(&mut folder, alert("r", 1, "/d/5", 50, Some("would-kill"))));
    let actions: Vec<&str> = written
        .iter()
        .map(|o| o.alert().response.as_ref().map_or("", |r| r.action))
        .collect();
    assert_eq!(actions, ["killed", "denied", "killed", "killed-tree", "failed"]);
    let mut out = Vec::new();
    folder.finish(&mut out);
    let folded = summary(&out[0]);
    assert_eq!(folded.first_alert, Some(opener));
    assert_eq!(folded.count, 2);
    assert_eq!(folded.actions, BTreeMap::from([("denied", 1), ("would-kill", 1)]));
    assert_eq!(folded.sample, ["/d/5"], "distinct values only");
    assert!(!folded.sample_truncated);
}

#[test]
fn windows_are_configurable_per_rule_and_zero_turns_folding_off() {
    let config = FoldConfig {
        window_ms: 1000,
        sample: 2,
        rules: BTreeMap::from([("never".to_string(), 0), ("long".to_string(), 60_000)]),
    };
    let mut folder = Folder::new(config);
    let mut written = Vec::new();
    for i in 0..5 {
        written.extend(admit(&mut folder, alert("never", 1, "/n", i * 100, None)));
    }
    assert_eq!(written.len(), 5, "rule `never` is not folded");
    written.clear();
    for i in 0..5 {
        written.extend(admit(
            &mut folder,
            alert("long", 1, &format!("/l/{i}"), i * 10_000, None),
        ));
        written.extend(admit(
            &mut folder,
            alert("short", 1, &format!("/s/{i}"), i * 10_000, None),
        ));
    }
    let ids: Vec<&str> = written.iter().map(|o| &*o.alert().rule.id).collect();
    assert_eq!(
        ids,
        ["long", "short", "short", "short", "short", "short"],
        "1 s windows close between matches 10 s apart"
    );
    let mut out = Vec::new();
    folder.finish(&mut out);
    let long = summary(&out[0]);
    assert_eq!((long.count, long.sample.len(), long.sample_truncated), (4, 2, true));

    let off = FoldConfig {
        window_ms: 0,
        ..FoldConfig::default()
    };
    let mut folder = Folder::new(off);
    let written: usize = (0..3)
        .map(|i| admit(&mut folder, alert("x", 1, "/p", i, None)).len())
        .sum();
    assert_eq!(written, 3);
}

#[test]
fn the_configuration_section_reads_with_defaults() {
    let config: AlertsConfig =
        serde_saphyr::from_str("fold:\n  window_ms: 2000\n  rules: {mass-delete: 0}\n").expect("config");
    assert_eq!(config.fold.window(&Arc::<str>::from("x")), Duration::from_secs(2));
    assert_eq!(config.fold.window("mass-delete"), Duration::ZERO);
    assert_eq!(config.fold.sample, 10);
    assert_eq!(AlertsConfig::default().fold.window_ms, 5000);
    assert!(serde_saphyr::from_str::<AlertsConfig>("fold: {windw_ms: 1}\n").is_err());
}
