//! Rule tests kept beside packs (`*.tests.yaml`): events in, the rule ids that must fire out.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::{Map, Value as Json};

use super::{
    compile::RuleSet,
    diagnostics::{Diagnostic, Reporter},
    engine::Engine,
    pack::parse_duration,
    yaml_tree::{self, Node, Value},
};
use crate::event::from_json::{event_from_json, nest_dotted};

/// 2026-01-01T00:00:00Z, the time of a case's first event.
const CASE_START_NS: i128 = 1_767_225_600_000_000_000;

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub file: String,
    pub line: u32,
    pub name: String,
    pub expected: BTreeSet<String>,
    pub fired: BTreeSet<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.expected == self.fired
    }
}

/// Every result, and the problems that kept cases from running.
#[derive(Debug, Default)]
pub struct TestReport {
    pub results: Vec<CaseResult>,
    pub problems: Vec<Diagnostic>,
}

impl TestReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.failed() == 0 && !self.results.is_empty()
    }
}

/// The test files beside the packs at `paths`: `*.tests.yaml` in each directory given (or holding
/// a file given), and in its `tests/` subdirectory.
pub fn test_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        let dir = if path.is_dir() {
            path.clone()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        for candidate in [dir.clone(), dir.join("tests")] {
            if !dirs.contains(&candidate) {
                dirs.push(candidate);
            }
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.ends_with(".tests.yaml") || name.ends_with(".tests.yml")
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Runs every case of every file against `rules`.
pub fn run(rules: &Arc<RuleSet>, files: &[PathBuf]) -> TestReport {
    let mut report = TestReport::default();
    for file in files {
        let origin = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => run_file(rules, &origin, &text, &mut report),
            Err(error) => report.problems.push(Diagnostic::new(
                &origin,
                Default::default(),
                format!("cannot read: {error}"),
                "",
            )),
        }
    }
    report
}

/// Runs the cases of one test file's text.
pub fn run_file(rules: &Arc<RuleSet>, origin: &str, text: &str, report: &mut TestReport) {
    let root = match yaml_tree::parse(text, origin) {
        Ok(root) => root,
        Err(problem) => {
            report.problems.push(problem);
            return;
        }
    };
    let mut r = Reporter::new(origin);
    let known: BTreeSet<&str> = rules.rules.iter().map(|rule| &*rule.meta.id).collect();
    let Some(entries) = root.as_map() else {
        r.error(
            root.pos,
            "a test file is a mapping with `defaults:` and `cases:`",
            "see docs/rules.md, Testing rules",
        );
        report.problems.extend(r.found);
        return;
    };
    let mut defaults = Map::new();
    let mut cases = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "defaults" => match to_json(value) {
                Json::Object(map) => defaults = map,
                _ => r.error(
                    value.pos,
                    "`defaults` must map field names to values",
                    "write `field.name: value` lines",
                ),
            },
            "cases" => cases = Some(value),
            other => r.error(
                key.pos,
                format!("unknown key `{other}` in a test file"),
                "a test file has `defaults` and `cases`",
            ),
        }
    }
    let Some(cases) = cases.and_then(Node::as_seq) else {
        r.error(
            root.pos,
            "a test file needs a list of `cases`",
            "write `cases:` with `- name: …` entries",
        );
        report.problems.extend(r.found);
        return;
    };
    for case in cases {
        if let Some(result) = run_case(rules, &defaults, case, &known, &mut r) {
            report.results.push(result);
        }
    }
    report.problems.extend(r.found);
}

fn run_case(
    rules: &Arc<RuleSet>,
    defaults: &Map<String, Json>,
    case: &Node,
    known: &BTreeSet<&str>,
    r: &mut Reporter,
) -> Option<CaseResult> {
    let Some(entries) = case.as_map() else {
        r.error(
            case.pos,
            "a case is a mapping with `name`, `events` and `expect`",
            "see docs/rules.md",
        );
        return None;
    };
    let mut name = None;
    let mut events = None;
    let mut expect = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "name" => name = value.as_str().map(str::to_string),
            "events" => events = value.as_seq(),
            "expect" => expect = Some(value),
            other => r.error(
                key.pos,
                format!("unknown key `{other}` in a case"),
                "a case has `name`, `events` and `expect`",
            ),
        }
    }
    let name = name.unwrap_or_else(|| format!("case at line {}", case.pos.line));
    let (Some(events), Some(expect)) = (events, expect) else {
        r.error(
            case.pos,
            format!("case `{name}` needs `events` (a list) and `expect` (a list of rule ids)"),
            "write `expect: []` when nothing may fire",
        );
        return None;
    };
    let mut expected = BTreeSet::new();
    match expect.as_seq() {
        Some(ids) => {
            for id in ids {
                match id.as_str() {
                    Some(id) if known.contains(id) => {
                        expected.insert(id.to_string());
                    }
                    Some(id) => r.error(
                        id_pos(id, expect),
                        format!("case `{name}` expects `{id}`, which is no enabled rule"),
                        "check the rule id",
                    ),
                    None => r.error(expect.pos, "`expect` lists rule ids", "write `expect: [rule-id]`"),
                }
            }
        }
        None => {
            r.error(
                expect.pos,
                "`expect` must be a list of rule ids",
                "write `expect: []` when nothing may fire",
            );
            return None;
        }
    }

    let mut engine = Engine::new(rules.clone());
    let mut fired = BTreeSet::new();
    let mut alerts = Vec::new();
    for (index, node) in events.iter().enumerate() {
        let Json::Object(mut fields) = to_json(node) else {
            r.error(
                node.pos,
                "an event is a mapping of field names to values",
                "write `event.action: open` and so on",
            );
            return None;
        };
        let at = match fields.remove("at") {
            Some(Json::String(offset)) => match parse_duration(&offset).or_else(|| zero_duration(&offset)) {
                Some(offset) => offset.as_nanos() as i128,
                None => {
                    r.error(
                        node.pos,
                        format!("`at: {offset}` is not a duration"),
                        "write e.g. `at: 30s`",
                    );
                    return None;
                }
            },
            Some(_) => {
                r.error(node.pos, "`at` is a duration such as 30s", "quote nothing: `at: 30s`");
                return None;
            }
            None => index as i128 * 1_000_000_000,
        };
        let mut merged = defaults.clone();
        merged.extend(fields);
        merged
            .entry("gen_ai.agent.id".to_string())
            .or_insert_with(|| Json::from("00000000000000ca"));
        merged
            .entry("event.sequence".to_string())
            .or_insert_with(|| Json::from(index as u64 + 1));
        let mut event = match event_from_json(&nest_dotted(&merged)) {
            Ok(event) => event,
            Err(error) => {
                r.error(node.pos, format!("case `{name}`: {error}"), "fix the event's fields");
                return None;
            }
        };
        event.timestamp_ns = CASE_START_NS + at;
        engine.process(&event, &mut alerts);
    }
    for alert in alerts {
        fired.insert(alert.rule.id.to_string());
    }
    Some(CaseResult {
        file: r.file.to_string(),
        line: case.pos.line,
        name,
        expected,
        fired,
    })
}

/// `0s`, `0ms`, `0m`, `0h`: rule windows may not be zero, but a case may start at zero.
fn zero_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    (!digits.is_empty() && digits.chars().all(|c| c == '0') && matches!(unit, "ms" | "s" | "m" | "h"))
        .then_some(std::time::Duration::ZERO)
}

fn id_pos(id: &str, expect: &Node) -> yaml_tree::Pos {
    expect
        .as_seq()
        .and_then(|items| items.iter().find(|item| item.as_str() == Some(id)))
        .map_or(expect.pos, |item| item.pos)
}

/// A YAML node as JSON (for events, whose fields are written as in the event JSON).
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => Json::from(*f),
        Value::Str(s) => Json::from(s.as_str()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, value)| (key.name.clone(), to_json(value)))
                .collect(),
        ),
    }
}
