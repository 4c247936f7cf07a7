//! The rule language end to end: packs compiled, events evaluated, mistakes reported.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{compile::RuleSet, engine::Engine, loader::compile_sources};
use crate::event::{
    Action,
    from_json::{event_from_json, nest_dotted},
};

mod mistakes;

fn compile(packs: &[(&str, &str)]) -> RuleSet {
    let sources: Vec<(String, String)> = packs.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    match compile_sources(&sources) {
        Ok((set, _)) => set,
        Err(problems) => panic!("packs should compile:\n{problems}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    match compile_sources(&[("pack.yaml".to_string(), text.to_string())]) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(problems) => problems.0.iter().map(ToString::to_string).collect(),
    }
}

/// An event from `(dotted field, value)` pairs, in alice's session in /home/alice/project.
pub(crate) fn event(fields: &[(&str, Value)]) -> crate::event::Event {
    let mut flat = Map::new();
    flat.insert("agent_sensor.user.home".into(), json!("/home/alice"));
    flat.insert(
        "agent_sensor.session.working_directory".into(),
        json!("/home/alice/project"),
    );
    flat.insert("process.working_directory".into(), json!("/home/alice/project"));
    flat.insert("@timestamp".into(), json!("2026-01-01T00:00:00Z"));
    for (key, value) in fields {
        flat.insert((*key).to_string(), value.clone());
    }
    event_from_json(&nest_dotted(&flat)).expect("test event")
}

fn at(seconds: u64, fields: &[(&str, Value)]) -> crate::event::Event {
    let mut e = event(fields);
    e.timestamp_ns += seconds as i128 * 1_000_000_000;
    e.sequence = seconds + 1;
    e
}

fn fired(set: &Arc<RuleSet>, events: &[crate::event::Event]) -> Vec<String> {
    let mut engine = Engine::new(set.clone());
    let mut alerts = Vec::new();
    for e in events {
        engine.process(e, &mut alerts);
    }
    alerts.into_iter().map(|a| a.rule.id.to_string()).collect()
}

const META: &str = "name: n\n    description: d\n    severity: high";

/// A `rules:` section of single-event rules `(id, when)`.
fn rules(list: &[(&str, &str)]) -> String {
    let mut text = String::from("rules:\n");
    for (id, when) in list {
        text.push_str(&format!("  - id: {id}\n    {META}\n    when: {when}\n"));
    }
    text
}

#[test]
fn text_matchers_and_home_expansion() {
    let text = rules(&[
        ("glob-home", "{file.path: {glob: '~/.ssh/id_*'}}"),
        ("glob-any-home", "{file.path: {glob: '/home/*/.aws/credentials'}}"),
        ("prefix", "{file.path: {prefix: $HOME/Documents/}}"),
        ("suffix-contains", "{file.name: {suffix: .pem, contains: prod}}"),
        ("regex", "{process.command_line: {regex: 'curl .*\\| *sh'}}"),
        ("in-list", "{process.name: [nc, ncat]}"),
    ]);
    let set = Arc::new(compile(&[("p.yaml", &text)]));
    let open = |path: &str| event(&[("event.action", json!("open")), ("file.path", json!(path))]);
    assert_eq!(fired(&set, &[open("/home/alice/.ssh/id_rsa")]), ["glob-home"]);
    assert!(
        fired(&set, &[open("/home/bob/.ssh/id_rsa")]).is_empty(),
        "~ is the event user's home"
    );
    assert!(
        fired(&set, &[open("/home/alice/.ssh/id_rsa.d/x")]).is_empty(),
        "* stops at /"
    );
    assert_eq!(fired(&set, &[open("/home/bob/.aws/credentials")]), ["glob-any-home"]);
    assert_eq!(fired(&set, &[open("/home/alice/Documents/tax.pdf")]), ["prefix"]);
    assert_eq!(fired(&set, &[open("/srv/prod-db.pem")]), ["suffix-contains"]);
    assert!(
        fired(&set, &[open("/srv/dev-db.pem")]).is_empty(),
        "all operators must hold"
    );
    let exec = |cmd: &str, exe: &str| {
        event(&[
            ("event.action", json!("exec")),
            ("process.executable", json!(exe)),
            ("process.command_line", json!(cmd)),
        ])
    };
    assert_eq!(fired(&set, &[exec("bash -c curl -s x | sh", "/bin/bash")]), ["regex"]);
    assert_eq!(fired(&set, &[exec("nc -l 4444", "/usr/bin/nc")]), ["in-list"]);
}

#[test]
fn numbers_networks_flags_booleans_lists_and_exists() {
    let text = String::from("lists:\n  local: [127.0.0.0/8, '::1/128']\n  web: [80, 443]\n")
        + &rules(&[
            (
                "egress",
                "{destination.ip: {cidr: $local}, destination.port: {range: '1024-65535'}}",
            ),
            ("web", "{destination.port: $web}"),
            ("create", "{agent_sensor.open.flags: O_CREAT}"),
            ("write", "{agent_sensor.open.write: true}"),
            ("arg", "{event.action: exec, process.args: {eq: -rf}}"),
            ("no-error", "{event.action: connect, error.code: {exists: false}}"),
            ("big-pid", "{event.action: fork, process.pid: {gt: 40000}}"),
        ]);
    let set = Arc::new(compile(&[("p.yaml", &text)]));
    let connect = |ip: &str, port: u16, outcome: &str| {
        let mut fields = vec![
            ("event.action", json!("connect")),
            ("destination.ip", json!(ip)),
            ("destination.port", json!(port)),
            ("event.outcome", json!(outcome)),
        ];
        if outcome == "failure" {
            fields.push(("error.code", json!("ECONNREFUSED")));
        }
        event(&fields)
    };
    assert_eq!(
        fired(&set, &[connect("127.0.0.2", 8080, "success")]),
        ["egress", "no-error"]
    );
    assert_eq!(fired(&set, &[connect("::1", 3000, "failure")]), ["egress"]);
    assert_eq!(fired(&set, &[connect("8.8.8.8", 443, "success")]), ["web", "no-error"]);
    let open = |flags: Value| {
        event(&[
            ("event.action", json!("open")),
            ("file.path", json!("/t")),
            ("agent_sensor.open.flags", flags),
        ])
    };
    assert_eq!(
        fired(&set, &[open(json!(["O_WRONLY", "O_CREAT"]))]),
        ["create", "write"]
    );
    assert!(fired(&set, &[open(json!(["O_RDONLY"]))]).is_empty());
    let exec = event(&[
        ("event.action", json!("exec")),
        ("process.args", json!(["rm", "-rf", "x"])),
    ]);
    assert_eq!(fired(&set, &[exec]), ["arg"]);
    let fork = event(&[("event.action", json!("fork")), ("process.pid", json!(40001))]);
    assert_eq!(fired(&set, &[fork]), ["big-pid"]);
}

#[test]
fn macros_combinators_and_exceptions() {
    let text = "macros:
  open_write: {event.action: open, agent_sensor.open.write: true}
  rc_file: {file.path: {glob: ['~/.bashrc', '~/.zshrc']}}
  persist: {all: [{macro: open_write}, {macro: rc_file}]}
rules:
  - id: persistence
    name: n
    description: d
    severity: high
    when:
      any:
        - macro: persist
        - all: [{event.action: open}, {not: {agent_sensor.open.write: false}}, {file.name: crontab}]
    except:
      - process.name: [bash]
";
    let set = Arc::new(compile(&[("p.yaml", text)]));
    let write = |path: &str, exe: &str| {
        event(&[
            ("event.action", json!("open")),
            ("agent_sensor.open.write", json!(true)),
            ("file.path", json!(path)),
            ("process.executable", json!(exe)),
        ])
    };
    assert_eq!(
        fired(&set, &[write("/home/alice/.bashrc", "/usr/bin/tee")]),
        ["persistence"]
    );
    assert_eq!(
        fired(&set, &[write("/var/spool/cron/crontab", "/usr/bin/tee")]),
        ["persistence"]
    );
    assert!(
        fired(&set, &[write("/home/alice/.bashrc", "/bin/bash")]).is_empty(),
        "exception"
    );
    assert!(fired(&set, &[write("/home/alice/.vimrc", "/usr/bin/tee")]).is_empty());
}

#[test]
fn rules_are_indexed_by_the_actions_they_can_match() {
    let text = rules(&[
        ("file-only", "{file.path: /etc/passwd}"),
        ("exec-only", "{event.action: exec}"),
        ("either", "{any: [{event.action: exec}, {destination.port: 22}]}"),
        ("everything", "{not: {event.action: exit}}"),
    ]);
    let set = compile(&[("p.yaml", &text)]);
    let ids = |action: Action| -> Vec<&str> {
        set.for_action(action)
            .iter()
            .map(|r| &*set.rules[r.rule].meta.id)
            .collect()
    };
    assert_eq!(ids(Action::Open), ["file-only", "everything"]);
    assert_eq!(ids(Action::Unlink), ["file-only", "everything"]);
    assert_eq!(ids(Action::Exec), ["exec-only", "either", "everything"]);
    assert_eq!(ids(Action::Connect), ["either", "everything"]);
}

/// Actions whose rules test the same operators share one index; another operator, another index.
#[test]
fn actions_with_the_same_operators_share_an_index() {
    let text = rules(&[
        (
            "removal",
            "{event.action: [unlink, rmdir], file.path: {glob: ['/etc/**', '~/.ssh/*']}}",
        ),
        ("opened", "{event.action: open, file.path: {glob: '/srv/**'}}"),
    ]);
    let set = compile(&[("p.yaml", &text)]);
    let index = |action: Action| set.action_index(action) as *const _;
    assert_eq!(index(Action::Unlink), index(Action::Rmdir));
    assert_ne!(index(Action::Unlink), index(Action::Open));
    let removed = |action: &str, path: &str| {
        let events = [event(&[("event.action", json!(action)), ("file.path", json!(path))])];
        fired(&Arc::new(set.clone()), &events)
    };
    assert_eq!(removed("rmdir", "/etc/x"), ["removal"]);
    assert_eq!(removed("unlink", "/home/alice/.ssh/id_rsa"), ["removal"]);
    assert!(removed("unlink", "/srv/x").is_empty());
    assert_eq!(removed("open", "/srv/x"), ["opened"]);
}

#[test]
fn thresholds_count_distinct_values_per_group() {
    let text = "rules:
  - id: bulk
    name: n
    description: d
    severity: critical
    when: {event.action: open, file.path: {glob: '~/secrets/*'}}
    threshold: {count: 3, distinct: file.path, within: 60s, per: session}
";
    let set = Arc::new(compile(&[("p.yaml", text)]));
    let open = |s: u64, name: &str, session: &str| {
        at(
            s,
            &[
                ("event.action", json!("open")),
                ("file.path", json!(format!("/home/alice/secrets/{name}"))),
                ("gen_ai.agent.id", json!(session)),
            ],
        )
    };
    assert!(fired(&set, &[open(0, "a", "01"), open(1, "a", "01"), open(2, "b", "01")]).is_empty());
    assert_eq!(
        fired(&set, &[open(0, "a", "01"), open(1, "b", "01"), open(2, "c", "01")]),
        ["bulk"]
    );
    assert!(
        fired(&set, &[open(0, "a", "01"), open(1, "b", "02"), open(2, "c", "01")]).is_empty(),
        "per session"
    );
    assert!(
        fired(&set, &[open(0, "a", "01"), open(30, "b", "01"), open(61, "c", "01")]).is_empty(),
        "window"
    );

    let mut engine = Engine::new(set.clone());
    let mut alerts = Vec::new();
    for (s, name) in [(0, "a"), (1, "b"), (2, "c")] {
        engine.process(&open(s, name, "01"), &mut alerts);
    }
    assert_eq!(alerts[0].contributing.len(), 3);
    let doc = alerts[0].to_value();
    assert_eq!(doc["event"]["kind"], "alert");
    assert_eq!(doc["rule"]["id"], "bulk");
    assert_eq!(doc["agent_sensor"]["alert"]["count"], 3);
    assert_eq!(doc["agent_sensor"]["alert"]["severity"], "critical");
    assert_eq!(doc["event"]["severity"], 99);
    assert_eq!(doc["file"]["path"], "/home/alice/secrets/c");
}

#[test]
fn sequences_join_written_files_to_their_execution() {
    let text = "rules:
  - id: dropper
    name: n
    description: d
    severity: high
    sequence:
      within: 5m
      steps:
        - when: {event.action: open, agent_sensor.open.write: true}
          key: file.path
        - when: {event.action: exec}
          key: [agent_sensor.exec.filename, agent_sensor.exec.path_args]
";
    let set = Arc::new(compile(&[("p.yaml", text)]));
    let write = |s: u64, path: &str| {
        at(
            s,
            &[
                ("event.action", json!("open")),
                ("agent_sensor.open.write", json!(true)),
                ("file.path", json!(path)),
            ],
        )
    };
    let exec = |s: u64, filename: &str, args: Value| {
        at(
            s,
            &[
                ("event.action", json!("exec")),
                ("agent_sensor.exec.filename", json!(filename)),
                ("process.executable", json!(filename)),
                ("process.args", args),
            ],
        )
    };
    assert_eq!(
        fired(&set, &[write(0, "/tmp/x"), exec(10, "/tmp/x", json!(["/tmp/x"]))]),
        ["dropper"]
    );
    assert_eq!(
        fired(
            &set,
            &[
                write(0, "/home/alice/project/run.sh"),
                exec(10, "/bin/bash", json!(["bash", "run.sh"]))
            ]
        ),
        ["dropper"],
        "a script argument resolved against the working directory joins too"
    );
    assert!(
        fired(&set, &[exec(0, "/tmp/x", json!(["/tmp/x"])), write(10, "/tmp/x")]).is_empty(),
        "order matters"
    );
    assert!(
        fired(&set, &[write(0, "/tmp/x"), exec(400, "/tmp/x", json!(["/tmp/x"]))]).is_empty(),
        "window"
    );
}

#[test]
fn derived_fields_follow_the_session() {
    let text = rules(&[
        (
            "outside",
            "{event.action: exec, agent_sensor.exec.args_outside_workspace: true}",
        ),
        (
            "inside-delete",
            "{event.action: unlink, agent_sensor.file.in_workspace: true}",
        ),
        (
            "own-file",
            "{event.action: unlink, agent_sensor.file.written_by_session: true}",
        ),
    ]);
    let set = Arc::new(compile(&[("p.yaml", &text)]));
    let find = |dir: &str| {
        event(&[
            ("event.action", json!("exec")),
            ("process.args", json!(["find", dir, "-delete"])),
        ])
    };
    assert_eq!(fired(&set, &[find("/home/alice")]), ["outside"]);
    assert!(fired(&set, &[find("src")]).is_empty(), "relative to the project");
    let unlink = |s: u64, path: &str| at(s, &[("event.action", json!("unlink")), ("file.path", json!(path))]);
    let create = at(
        0,
        &[
            ("event.action", json!("open")),
            ("agent_sensor.open.flags", json!(["O_WRONLY", "O_CREAT"])),
            ("file.path", json!("/tmp/mine")),
        ],
    );
    assert_eq!(fired(&set, &[create.clone(), unlink(1, "/tmp/mine")]), ["own-file"]);
    assert!(fired(&set, &[unlink(1, "/tmp/mine")]).is_empty());
    assert_eq!(fired(&set, &[unlink(1, "/home/alice/project/a.o")]), ["inside-delete"]);
}

#[test]
fn later_packs_override_earlier_ones() {
    let base = "lists:
  tools: [curl]
macros:
  fetch: {process.name: $tools}
rules:
  - id: fetcher
    name: n
    description: d
    severity: low
    when: {all: [{event.action: exec}, {macro: fetch}]}
  - id: quiet
    name: n
    description: d
    severity: low
    enabled: false
    when: {event.action: exec}
";
    let site = "overrides:
  lists:
    tools: {append: [wget]}
  rules:
    fetcher:
      severity: critical
      action: kill
      except: [{process.args: {eq: --version}}]
    quiet: {enabled: true}
";
    let set = Arc::new(compile(&[("10-base.yaml", base), ("20-site.yaml", site)]));
    let exec = |exe: &str, args: Value| {
        event(&[
            ("event.action", json!("exec")),
            ("process.executable", json!(exe)),
            ("process.args", args),
        ])
    };
    assert_eq!(
        fired(&set, &[exec("/usr/bin/wget", json!(["wget", "x"]))]),
        ["fetcher", "quiet"]
    );
    assert_eq!(
        fired(&set, &[exec("/usr/bin/curl", json!(["curl", "--version"]))]),
        ["quiet"]
    );
    let fetcher = set.rules.iter().find(|r| &*r.meta.id == "fetcher").expect("rule");
    assert_eq!(fetcher.meta.severity, super::Severity::Critical);
    assert_eq!(fetcher.meta.action, super::RuleAction::Kill);
    assert_eq!(&*fetcher.meta.ruleset, "10-base");

    let replaced = compile(&[
        ("10-base.yaml", base),
        ("20-site.yaml", "overrides:\n  lists:\n    tools: {replace: [aria2c]}\n"),
    ]);
    let set = Arc::new(replaced);
    assert!(fired(&set, &[exec("/usr/bin/curl", json!(["curl"]))]).is_empty());
}
