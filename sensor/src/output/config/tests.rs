use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{resolve::basic_auth, *};
use crate::{output::OutputTarget, rules::Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    outputs: Vec<Spanned<OutputSpec>>,
}

fn load(text: &str) -> Result<Vec<OutputConfig>, String> {
    let doc: Doc = crate::yaml::parse(text, "conf.yaml").map_err(|e| e.to_string())?;
    resolve(&doc.outputs, "conf.yaml", Path::new("/etc/agent-sensor")).map_err(|e| e.to_string())
}

#[test]
fn reads_every_type_with_defaults() {
    let outputs = load(
            "outputs:\n\
             - type: stdout\n\
             - type: file\n  path: alerts.jsonl\n  kinds: [alerts, events]\n  min_severity: high\n\
             - type: syslog\n  transport: tcp\n  address: 127.0.0.1:514\n  facility: local3\n\
             - type: http\n  name: siem\n  format: splunk\n  url: https://splunk:8088/services/collector/event\n  token: abc\n",
        )
        .expect("valid");
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[0].name, "stdout");
    assert_eq!(outputs[0].filter, Filter::ALERTS);
    let SinkConfig::File(file) = &outputs[1].sink else {
        panic!("file")
    };
    assert_eq!(file.path, Path::new("/etc/agent-sensor/alerts.jsonl"));
    assert_eq!(file.max_bytes, FileConfig::DEFAULT_MAX_BYTES);
    assert_eq!(file.keep, 5);
    assert!(outputs[1].filter.events && outputs[1].filter.alerts);
    assert!(!outputs[1].filter.accepts_alert(Severity::Medium));
    assert!(outputs[1].filter.accepts_alert(Severity::Critical));
    let SinkConfig::Syslog(syslog) = &outputs[2].sink else {
        panic!("syslog")
    };
    assert_eq!(syslog.facility, Facility(19));
    let SinkConfig::Http(http) = &outputs[3].sink else {
        panic!("http")
    };
    assert_eq!(outputs[3].name, "siem");
    assert_eq!(http.authorization, Some(Secret("Splunk abc".into())));
    assert!(!format!("{http:?}").contains("abc"), "the token is not shown");
}

#[test]
fn errors_name_the_line_and_the_key() {
    let error = load("outputs:\n  - type: stdout\n  - type: file\n    pathh: x\n").expect_err("unknown key");
    assert!(error.starts_with("conf.yaml:4:"), "{error}");
    assert!(error.contains("pathh"), "{error}");

    let error = load("outputs:\n  - type: stdout\n  - type: file\n    url: http://x\n    path: x\n")
        .expect_err("key of another type");
    assert!(error.starts_with("conf.yaml:3:"), "{error}");
    assert!(error.contains("`url` does not apply to a `file` output"), "{error}");

    let error = load("outputs:\n  - type: http\n    format: splunk\n    url: http://x:8088/\n").expect_err("token");
    assert!(error.starts_with("conf.yaml:2:"), "{error}");
    assert!(error.contains("needs `token`"), "{error}");

    let error = load("outputs:\n  - type: file\n    path: x\n    min_severity: severe\n").expect_err("severity");
    assert!(error.starts_with("conf.yaml:4:"), "{error}");
    assert!(error.contains("unknown severity `severe`"), "{error}");

    let error = load("outputs:\n  - type: syslog\n    transport: udp\n    address: localhost\n").expect_err("port");
    assert!(error.contains("host:port"), "{error}");

    let error = load("outputs:\n  - type: pigeon\n").expect_err("type");
    assert!(error.starts_with("conf.yaml:2:"), "{error}");

    let error = load("outputs:\n  - type: http\n    format: elasticsearch\n    url: ftp://x/\n").expect_err("scheme");
    assert!(error.contains("http:// or https://"), "{error}");
}

#[test]
fn names_are_unique_and_default_to_the_type() {
    let outputs =
        load("outputs:\n  - type: stdout\n  - type: file\n    path: a\n  - type: file\n    path: b\n").expect("valid");
    let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["stdout", "file-2", "file-3"]);
    let error = load("outputs:\n  - type: file\n    path: a\n  - type: file\n    path: a\n").expect_err("same file");
    assert!(error.contains("already writes"), "{error}");
    let error = load("outputs:\n  - type: stdout\n    name: x\n  - type: file\n    name: x\n    path: a\n")
        .expect_err("same name");
    assert!(error.contains("two outputs are named `x`"), "{error}");
    let error = load("outputs:\n  - type: stdout\n    name: ../up\n").expect_err("bad name");
    assert!(error.contains("letters, digits"), "{error}");
}

#[test]
fn elasticsearch_credentials() {
    let outputs = load(
            "outputs:\n  - type: http\n    format: elasticsearch\n    url: http://127.0.0.1:9200/_bulk\n    username: elastic\n    password: changeme\n",
        )
        .expect("valid");
    let SinkConfig::Http(http) = &outputs[0].sink else {
        panic!("http")
    };
    assert_eq!(
        http.authorization,
        Some(Secret("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==".into()))
    );
    assert_eq!(http.index.as_deref(), Some("agent-sensor"));
    assert_eq!(basic_auth("a", "b"), "Basic YTpi");
    assert_eq!(basic_auth("ab", "cd"), "Basic YWI6Y2Q=");
}

#[test]
fn flags_add_outputs_and_alerts_default_to_stdout() {
    let none = with_flags(&[], None, None).expect("defaults");
    assert_eq!(none.len(), 1);
    assert_eq!(none[0].name, "--alerts");
    assert_eq!(none[0].sink, SinkConfig::Stdout);
    let same = OutputTarget::File("/tmp/x.jsonl".into());
    let both = with_flags(&[], Some(&same), Some(&same)).expect("one file");
    assert_eq!(both.len(), 1);
    assert!(both[0].filter.alerts && both[0].filter.events);
    let configured = load("outputs:\n  - type: file\n    path: /var/log/a.jsonl\n").expect("valid");
    let merged = with_flags(&configured, Some(&OutputTarget::Stdout), None).expect("merged");
    let names: Vec<&str> = merged.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["file", "--events"],
        "a configured alert output replaces the stdout default"
    );
    let clash = with_flags(&configured, None, Some(&OutputTarget::File("/var/log/a.jsonl".into())));
    assert!(
        clash
            .expect_err("same file")
            .to_string()
            .contains("--alerts /var/log/a.jsonl")
    );
}
