//! End-to-end: other doors to the same operation. An unprivileged agent session opens a
//! protected key through io_uring (`IORING_OP_OPENAT`) and another through the 32-bit `open`
//! (`int 0x80` from a 64-bit process), and deletes a protected file (`IORING_OP_UNLINKAT`) and
//! reaches a denied loopback port (`IORING_OP_CONNECT`) through io_uring, in monitor and in
//! enforce mode (both doors in one session
//! per mode: a session costs half a minute in the kernel lab), with programs the test builds from
//! `tests/doors/*.c` with the system's C compiler (in the kernel lab, which has none, `cargo
//! xtask vm-test` builds them static on the host and puts them in the guest). On the dev/CI
//! kernel (no BPF LSM): monitor mode captures both doors and judges the key; enforce mode kills
//! the io_uring set-up (a ring's requests cannot be stopped one by one from tracepoints) and the
//! 32-bit open at its entry. In the lab BPF LSM's `file_open`, `path_unlink` and `socket_connect`
//! refuse the opens, the unlink and the connect (EPERM).

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use support::{lab::*, *};

/// Where the kernel lab's guest holds the programs, built by `cargo xtask vm-test`
/// (xtask/src/vm/initramfs.rs, `test_programs`).
const LAB_PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/vm/doors");

fn build(lab: &Lab, source: &str, extra: &[&str]) -> PathBuf {
    let name = source.trim_end_matches(".c");
    if in_lab() {
        let program = Path::new(LAB_PROGRAMS).join(name);
        assert!(
            program.is_file(),
            "{} is missing from the lab's image",
            program.display()
        );
        return program;
    }
    let output = lab.path(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/doors")
        .join(source);
    let status = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&output)
        .args(extra)
        .arg(&source)
        .status()
        .expect("run cc (the doors tests build their programs with the system's C compiler)");
    assert!(status.success(), "cc failed on {}", source.display());
    output
}

/// The doors: the program's source, its extra compiler flags, its arguments before the key's
/// path, and the key it opens.
const DOORS: [(&str, &[&str], &str, &str); 2] = [
    ("uring_op.c", &[], "open ", "uring"),
    ("int80_open.c", &["-static", "-no-pie"], "", "int80"),
];

fn secret(door: &str) -> String {
    format!("FAKE-KEY-DOOR-{door}-{}", std::process::id())
}

#[test]
fn opens_unlinks_and_connects_through_io_uring_and_the_32_bit_entry_are_judged() {
    if !require_root("opens_unlinks_and_connects_through_io_uring_and_the_32_bit_entry_are_judged") {
        return;
    }
    let lab = Lab::new("doors");
    std::fs::set_permissions(lab.path(""), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all(lab.path("keys")).expect("keys");
    let mut rules = String::new();
    let mut script = String::new();
    for (source, extra, mode, door) in DOORS {
        let key = lab.path(&format!("keys/{door}"));
        std::fs::write(&key, secret(door)).expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let when = format!(
            "      all:\n        - event.action: open\n        - file.path: {{glob: '{}'}}\n",
            key.display()
        );
        rules.push_str(&rule(&format!("key-read-{door}"), "deny", &when));
        let program = build(&lab, source, extra);
        script.push_str(&format!(
            "{} {mode}{}; echo {door}=$?\n",
            program.display(),
            key.display()
        ));
    }
    // io_uring's other requests: an unlink of a protected file, a connect to a denied port.
    let doomed = lab.path("keys/doomed");
    std::fs::write(&doomed, "keep me\n").expect("doomed");
    std::fs::set_permissions(lab.path("keys"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback listener");
    let port = listener.local_addr().expect("port").port();
    rules.push_str(&rule(
        "delete-uring",
        "deny",
        &format!(
            "      all:\n        - event.action: unlink\n        - file.path: '{}'\n",
            doomed.display()
        ),
    ));
    rules.push_str(&rule(
        "connect-uring",
        "deny",
        &format!("      all:\n        - event.action: connect\n        - destination.port: {port}\n"),
    ));
    let uring_op = build(&lab, "uring_op.c", &[]);
    script.push_str(&format!(
        "{op} unlink {doomed}; echo uring-unlink=$?\n{op} connect {port}; echo uring-connect=$?\n",
        op = uring_op.display(),
        doomed = doomed.display()
    ));
    let pack = lab.pack(&rules);
    let session = Session {
        user: Some("nobody"),
        ..Session::new(&pack)
    };

    let (output, alerts) = lab.watch_with(&session, Mode::Monitor, &script);
    let text = stdout(&output);
    for (_, _, _, door) in DOORS {
        assert!(
            text.contains(&secret(door)),
            "monitor mode must not interfere ({door}): {text}"
        );
        let alert = the_alert(&alerts, &format!("key-read-{door}"));
        assert_file_backend(alert);
        assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
    }

    assert!(
        !doomed.exists(),
        "monitor mode lets the io_uring unlink through: {text}"
    );
    assert_eq!(
        status(&text, "uring-connect"),
        0,
        "monitor mode lets the io_uring connect through: {text}"
    );
    for id in ["delete-uring", "connect-uring"] {
        let alert = the_alert(&alerts, id);
        assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
    }
    std::fs::write(&doomed, "keep me\n").expect("doomed again");

    let (output, alerts) = lab.watch_with(&session, Mode::Enforce, &script);
    let text = stdout(&output);
    for (_, _, _, door) in DOORS {
        assert!(
            !text.contains(&secret(door)),
            "the {door} key reached the agent: {text}"
        );
    }
    let uring = alerts_of(&alerts, "key-read-uring");
    let int80 = the_alert(&alerts, "key-read-int80");
    assert_file_backend(int80);
    if in_lab() {
        // BPF LSM's `file_open` refuses both opens (io_uring's worker calls it too): the
        // request and the call fail with EPERM, and the programs go on.
        assert!(text.contains(&format!("open=-{}", libc::EPERM)), "{text}");
        assert_eq!((status(&text, "uring"), status(&text, "int80")), (1, 1), "{text}");
        assert_eq!(uring.len(), 1, "{alerts:#?}");
        assert_file_backend(uring[0]);
        assert_eq!((done(uring[0]), done(int80)), ("denied", "denied"), "{alerts:#?}");
        // The unlink and the connect requests fail; the programs go on.
        assert_eq!(
            (status(&text, "uring-unlink"), status(&text, "uring-connect")),
            (1, 1),
            "{text}"
        );
        for id in ["delete-uring", "connect-uring"] {
            let alert = the_alert(&alerts, id);
            assert_eq!((done(alert), backend(alert)), ("denied", "bpf-lsm"), "{alert:#}");
        }
    } else {
        // The ring was refused: the process is killed at io_uring_setup, before any request.
        assert_eq!(status(&text, "uring"), 137, "killed by SIGKILL: {text}");
        assert!(uring.is_empty(), "{alerts:#?}");
        // So is every other ring: nothing is deleted, nothing connects.
        for (label, id) in [("uring-unlink", "delete-uring"), ("uring-connect", "connect-uring")] {
            assert_eq!(status(&text, label), 137, "killed by SIGKILL: {text}");
            assert!(alerts_of(&alerts, id).is_empty(), "{alerts:#?}");
        }
        // The 32-bit open is killed at its entry, before the read.
        assert_eq!(status(&text, "int80"), 137, "killed by SIGKILL: {text}");
        assert_eq!(done(int80), "killed", "{int80:#}");
    }
    assert!(doomed.exists(), "the protected file survived the io_uring unlink");
    drop(listener);
}
