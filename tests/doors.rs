//! End-to-end: other doors to the same operation. An unprivileged agent session opens a
//! protected key through io_uring (`IORING_OP_OPENAT`) and through the 32-bit `open` (`int 0x80`
//! from a 64-bit process), in monitor and in enforce mode, with programs the test builds from
//! `tests/doors/*.c` with the system's C compiler (in the kernel lab, which has none, `cargo
//! xtask vm-test` builds them static on the host and puts them in the guest). On the dev/CI
//! kernel (no BPF LSM): monitor mode captures both doors and judges the key; enforce mode kills
//! the io_uring set-up (a ring's requests cannot be stopped one by one from tracepoints) and the
//! 32-bit open at its entry. In the lab BPF LSM's `file_open` refuses both opens (EPERM).

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
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

fn scenario(name: &str) -> (Lab, String, PathBuf) {
    let lab = Lab::new(name);
    std::fs::set_permissions(lab.path(""), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let secret = format!("FAKE-KEY-DOOR-{}", std::process::id());
    std::fs::create_dir_all(lab.path("keys")).expect("keys");
    std::fs::write(lab.path("keys/id_ed25519"), &secret).expect("key");
    std::fs::set_permissions(lab.path("keys/id_ed25519"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let when = format!(
        "      all:\n        - event.action: open\n        - file.path: {{glob: '{}/keys/*'}}\n",
        lab.root()
    );
    let pack = lab.pack(&rule("key-read", "deny", &when));
    (lab, secret, pack)
}

fn run(lab: &Lab, pack: &Path, mode: Mode, program: &Path) -> (String, Vec<Value>) {
    let session = Session {
        user: Some("nobody"),
        ..Session::new(pack)
    };
    let script = format!("{} {}/keys/id_ed25519; echo status=$?", program.display(), lab.root());
    let (output, alerts) = lab.watch_with(&session, mode, &script);
    (stdout(&output), alerts)
}

#[test]
fn a_key_opened_through_io_uring_is_judged() {
    if !require_root("a_key_opened_through_io_uring_is_judged") {
        return;
    }
    let (lab, secret, pack) = scenario("uring");
    let program = build(&lab, "uring_open.c", &[]);

    let (text, alerts) = run(&lab, &pack, Mode::Monitor, &program);
    assert!(text.contains(&secret), "monitor mode must not interfere: {text}");
    let alert = the_alert(&alerts, "key-read");
    assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");

    let (text, alerts) = run(&lab, &pack, Mode::Enforce, &program);
    assert!(!text.contains(&secret), "the key reached the agent: {text}");
    if !in_lab() {
        // The ring was refused: the process is killed at io_uring_setup.
        assert_eq!(status(&text, "status"), 137, "killed by SIGKILL: {text}");
    } else {
        // io_uring's worker calls `file_open`: the request fails, the program goes on.
        assert!(text.contains(&format!("open=-{}", libc::EPERM)), "{text}");
        let alert = the_alert(&alerts, "key-read");
        assert_file_backend(alert);
        assert_eq!(done(alert), "denied", "{alert:#}");
    }
}

#[test]
fn a_key_opened_through_the_32_bit_entry_is_judged() {
    if !require_root("a_key_opened_through_the_32_bit_entry_is_judged") {
        return;
    }
    let (lab, secret, pack) = scenario("int80");
    let program = build(&lab, "int80_open.c", &["-static", "-no-pie"]);

    let (text, alerts) = run(&lab, &pack, Mode::Monitor, &program);
    assert!(text.contains(&secret), "monitor mode must not interfere: {text}");
    let alert = the_alert(&alerts, "key-read");
    assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");

    let (text, alerts) = run(&lab, &pack, Mode::Enforce, &program);
    assert!(!text.contains(&secret), "the key reached the agent: {text}");
    let alert = the_alert(&alerts, "key-read");
    assert_file_backend(alert);
    if in_lab() {
        assert!(text.contains(&format!("open=-{}", libc::EPERM)), "{text}");
        assert_eq!(done(alert), "denied", "{alert:#}");
    } else {
        assert_eq!(done(alert), "killed", "{alert:#}");
    }
}
