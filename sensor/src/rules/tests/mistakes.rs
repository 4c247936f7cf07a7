//! Mistakes in packs: each reported with its line, column and advice, every one of them, and
//! duplicates across packs.

use super::*;

/// Every kind of mistake is reported with its line and column and a piece of advice.
#[test]
fn mistakes_are_reported_precisely() {
    let cases: &[(&str, &str, &str)] = &[
        // (pack, expected position, expected words)
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.pth: /x}\n",
            "6:12",
            "unknown event field `file.pth`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    colour: red\n    when: {file.path: /x}\n",
            "6:5",
            "unknown key `colour` in a rule",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {destination.port: {glob: '8*'}}\n",
            "6:31",
            "`glob` does not apply to `destination.port`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.path: {like: x}}\n",
            "6:24",
            "unknown operator `like`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.path: {regex: '(unclosed'}}\n",
            "6:31",
            "bad regular expression",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.path: {glob: '[a-'}}\n",
            "6:30",
            "bad glob",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {destination.ip: {cidr: 10.0.0.0/33}}\n",
            "6:35",
            "is not a network",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.path: $nope}\n",
            "6:23",
            "unknown list `$nope`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {macro: nope}\n",
            "6:19",
            "unknown macro `nope`",
        ),
        (
            "macros:\n  a: {macro: b}\n  b: {macro: a}\nrules: []\n",
            "3:14",
            "refers to itself",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: severe\n    when: {file.path: /x}\n",
            "5:15",
            "unknown severity `severe`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    action: block\n    when: {file.path: /x}\n",
            "6:13",
            "unknown action `block`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    mitre: [T12]\n    when: {file.path: /x}\n",
            "6:13",
            "not a MITRE ATT&CK technique id",
        ),
        (
            "rules:\n  - id: a\n    description: d\n    severity: high\n    when: {file.path: /x}\n",
            "2:5",
            "needs a `name`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {event.action: exec, file.path: /x}\n",
            "2:5",
            "can never match",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {event.action: execve}\n",
            "6:26",
            "event.action is never `execve`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {event.action: exec}\n    threshold: {count: 0, within: 1m}\n",
            "7:24",
            "`count` must be a whole number from 1",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {event.action: exec}\n    threshold: {count: 2, within: soon}\n",
            "7:35",
            "is not a duration",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    sequence: {within: 1m, steps: [{when: {event.action: exec}}]}\n",
            "6:35",
            "two or more steps",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {process.name: true}\n",
            "6:26",
            "quote it",
        ),
        (
            "overrides:\n  rules:\n    nope: {enabled: false}\n",
            "3:5",
            "override of unknown rule `nope`",
        ),
        (
            "rules:\n  - id: a\n    name: n\n    description: d\n    severity: high\n    when: {file.path: /x\n",
            "",
            "invalid YAML",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, position, words) in cases {
        let found = problems(text);
        let Some(shown) = found.iter().find(|p| p.contains(words)) else {
            wrong.push(format!("no problem mentioning {words:?} in {found:?}"));
            continue;
        };
        if !shown.starts_with(&format!("pack.yaml:{position}")) {
            wrong.push(format!("{shown:?} should be at {position}"));
        }
        if !shown.contains("help: ") {
            wrong.push(format!("advice missing in {shown:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_problem_in_a_file_is_reported_not_just_the_first() {
    let text = "rules:
  - id: a
    name: n
    description: d
    severity: high
    when: {file.pth: /x}
  - id: b
    name: n
    description: d
    severity: extreme
    when: {file.path: {regex: '('}}
  - id: a
    name: n
    description: d
    severity: high
    when: {file.path: /y}
";
    let found = problems(text);
    assert!(found.iter().any(|p| p.contains("file.pth")));
    assert!(found.iter().any(|p| p.contains("extreme")));
    assert!(found.iter().any(|p| p.contains("regular expression")));
    assert!(found.iter().any(|p| p.contains("already used")));
    assert!(found.len() >= 4, "{found:#?}");
}

#[test]
fn duplicates_across_packs_are_errors() {
    let pack = "lists:\n  l: [a]\nmacros:\n  m: {event.action: exec}\n";
    let sources = vec![
        ("a.yaml".to_string(), pack.to_string()),
        ("b.yaml".to_string(), pack.to_string()),
    ];
    let found = compile_sources(&sources).expect_err("duplicates").to_string();
    assert!(
        found.contains("b.yaml:2:3: list `l` is already defined in a.yaml"),
        "{found}"
    );
    assert!(
        found.contains("b.yaml:4:3: macro `m` is already defined in a.yaml"),
        "{found}"
    );
}
