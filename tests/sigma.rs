//! End-to-end: SigmaHQ's community rules (rules/sigma) beside the default pack, on the real
//! kernel, under `agent-sensor watch`: a base64 payload piped into a shell and a curl upload to a
//! loopback listener raise the community rules' alerts, and ordinary agent work raises none.

mod support;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
};

use serde_json::Value;
use support::*;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// Runs `script` under `watch` with the default and Sigma packs, in a fresh project directory,
/// and returns the alerts.
fn run(script: &str) -> Vec<Value> {
    let root = durable_tempdir("sigma-e2e-");
    let project = root.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("project");
    std::fs::write(project.join("src/main.c"), "int main(void) { return 0; }\n").expect("source");
    std::fs::write(project.join("notes.txt"), "notes\n").expect("notes");
    let alerts = root.path().join("alerts.jsonl");
    let rules = rules_dir();
    let out = sensor()
        .arg("watch")
        .arg("--alerts")
        .arg(&alerts)
        .arg("--rules")
        .arg(rules.join("default"))
        .arg("--rules")
        .arg(rules.join("sigma"))
        .args(["--", "bash", "-c", script])
        .current_dir(&project)
        .stdin(Stdio::null())
        .output()
        .expect("run watch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("agent-sensor:"), "the sensor failed: {stderr}");
    assert!(
        stderr.contains("session summary"),
        "the session did not run to its end: {stderr}"
    );
    assert!(!stderr.contains("problems"), "rule packs did not load: {stderr}");
    assert!(!stderr.contains("not loaded"), "a Sigma rule was left out: {stderr}");
    read_events(&alerts)
}

fn sigma_alerts(alerts: &[Value]) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| str_field(a, "rule.ruleset") == "sigma")
        .collect()
}

fn sigma_ids(alerts: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = sigma_alerts(alerts)
        .iter()
        .map(|a| str_field(a, "rule.id").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn a_base64_payload_piped_into_a_shell_raises_the_community_rules() {
    if !require_root("sigma e2e") {
        return;
    }
    // `echo hi`, encoded; the inner bash's command line is what base64_execution looks at.
    let alerts = run("bash -c 'echo ZWNobyBoaQ== | base64 -d | bash'");
    let ids = sigma_ids(&alerts);
    for (id, title) in [
        ("e2072cab-8c9a-459b-b63c-40ae79e27031", "Decode Base64 Encoded Text"),
        (
            "ba592c6d-6888-43c3-b8c6-689b8fe47337",
            "Linux Base64 Encoded Pipe to Shell",
        ),
    ] {
        let found = alerts
            .iter()
            .find(|a| str_field(a, "rule.id") == id)
            .unwrap_or_else(|| panic!("no {title} ({id}) among {ids:?}"));
        assert_eq!(str_field(found, "rule.ruleset"), "sigma");
        assert_eq!(str_field(found, "event.action"), "exec");
        assert!(str_field(found, "rule.name").contains("Base64"), "{found}");
        assert!(
            field(found, "threat.technique.id")
                .as_array()
                .is_some_and(|ids| !ids.is_empty()),
            "{found}"
        );
        assert_eq!(str_field(found, "agent_sensor.alert.action"), "alert");
    }
    // The events carry the parent's command line (ParentCommandLine): base64's parent is the
    // inner bash.
    let decode = alerts
        .iter()
        .find(|a| str_field(a, "rule.id") == "e2072cab-8c9a-459b-b63c-40ae79e27031")
        .expect("decode alert");
    assert!(
        str_field(decode, "process.parent.command_line").contains("base64 -d | bash"),
        "{decode}"
    );
}

#[test]
fn a_curl_upload_to_a_loopback_listener_raises_the_community_rule() {
    if !require_root("sigma e2e") {
        return;
    }
    // The rule leaves out uploads to `localhost` and 127.0.0.1; 127.0.0.2 is loopback too.
    let listener = TcpListener::bind("127.0.0.2:0").expect("loopback listener");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            use std::io::{Read, Write};
            let mut buffer = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let alerts = run(&format!(
        "curl -s --max-time 5 -T notes.txt http://127.0.0.2:{port}/upload > /dev/null; true"
    ));
    let _ = server.join();
    let upload = alerts
        .iter()
        .find(|a| str_field(a, "rule.id") == "00b90cc1-17ec-402c-96ad-3a8117d7a582")
        .unwrap_or_else(|| panic!("no curl upload alert among {:?}", sigma_ids(&alerts)));
    assert_eq!(str_field(upload, "rule.name"), "Suspicious Curl File Upload - Linux");
    assert!(str_field(upload, "process.command_line").contains("-T notes.txt"));
    assert!(
        str_field(upload, "rule.description").contains("False positives"),
        "{upload}"
    );
}

#[test]
fn ordinary_agent_work_raises_no_community_alert() {
    if !require_root("sigma e2e") {
        return;
    }
    let alerts = run(
        "git init -q . && git add -A && git -c user.name=a -c user.email=a@b status --short > /dev/null; \
         ls -la; cat src/main.c > /dev/null; grep -rn main src > /dev/null; \
         find . -name '*.c' > /dev/null; cc -c src/main.c -o /dev/null 2>/dev/null || true; \
         echo done > out.txt && rm out.txt; base64 notes.txt > /dev/null; python3 -c 'print(1)' > /dev/null",
    );
    assert_eq!(sigma_ids(&alerts), Vec::<String>::new(), "{alerts:#?}");
}
