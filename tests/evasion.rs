//! End-to-end: the classic ways around a path-and-syscall sensor, tried by an unprivileged agent
//! session (`watch --user nobody`) in monitor and in enforce mode. A sensor start costs half a
//! minute in the kernel lab, so each mode is one session holding every case of that mode, one
//! process (or more) per case so that a kill ends that case only, with one rule pack made of the
//! cases' rules. Each case has a directory of its own under the scenario, rules of its own (told
//! apart by rule id), and its own part of the session's output (between the lines the session
//! prints around it); its assertions read that part and its own alerts. The cases:
//!
//! - `keys.rs`: a hard link to a protected key, the key's directory renamed away, the key renamed
//!   to an excepted name, a copy of an excepted program under the excepted name, and a flood of
//!   noise around protected reads (monitor mode);
//! - `changes.rs`: truncation, a persistence file replaced by rename, and one `rm` per protected
//!   file (enforce mode: escalation);
//! - `hidden.rs`: a path and an address in memory the process never touched;
//! - `namespaces.rs`: a bind mount in a user namespace;
//! - `destruction.rs`: destruction without unlink;
//! - `staged.rs`: code the session staged, run indirectly.
//!
//! On the dev/CI kernel (no BPF LSM) the tracepoint fallback enforces and the tests assert its
//! documented result (docs/enforcement.md: the first operation of a killed process may complete);
//! inside the kernel lab (`cargo xtask vm-test --test evasion`) BPF LSM must refuse each one.

mod support;

#[path = "evasion/changes.rs"]
mod changes;
#[path = "evasion/destruction.rs"]
mod destruction;
#[path = "evasion/hidden.rs"]
mod hidden;
#[path = "evasion/keys.rs"]
mod keys;
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

/// The modes of a case that runs in both.
const BOTH: &[Mode] = &[Mode::Monitor, Mode::Enforce];

/// One case of the sessions: the modes it runs in; its files, written before the session, and
/// its rules (`prepare`); its part of the session's script; and its assertions on its part of
/// the output and on the session's alerts (`check`).
pub struct Case {
    pub name: &'static str,
    pub modes: &'static [Mode],
    pub prepare: fn(&Lab) -> String,
    pub script: fn(&Lab) -> String,
    pub check: fn(&Lab, Mode, &str, &[Value]),
}

/// The cases, in the order the sessions run them. Two must come last in enforce mode, because
/// without BPF LSM they stop the session's new programs: a path hidden from the sensor stops them
/// for ten seconds (its script waits that out), and one `rm` per file escalates the session for
/// a minute (nothing can run after it).
const CASES: [Case; 13] = [
    namespaces::CASE,
    destruction::CASE,
    staged::CASE,
    keys::LINK,
    keys::MOVED,
    keys::PUBLIC,
    keys::MASQUERADE,
    keys::FLOOD,
    changes::TRUNCATE,
    changes::RENAME_OVER,
    hidden::ADDRESS,
    hidden::PATH,
    changes::ONE_RM_EACH,
];

#[test]
fn evasions_in_monitor_mode_are_judged_and_go_ahead() {
    if !require_root("evasions_in_monitor_mode_are_judged_and_go_ahead") {
        return;
    }
    run_cases(Mode::Monitor);
}

#[test]
fn evasions_in_enforce_mode_are_judged_and_stopped() {
    if !require_root("evasions_in_enforce_mode_are_judged_and_stopped") {
        return;
    }
    run_cases(Mode::Enforce);
}

/// Runs every case of `mode` in one session and checks each.
fn run_cases(mode: Mode) {
    let lab = scenario("cases");
    let cases: Vec<&Case> = CASES.iter().filter(|case| case.modes.contains(&mode)).collect();
    let rules: String = cases.iter().map(|case| (case.prepare)(&lab)).collect();
    let _moved = RemoveOnDrop(destruction::moved(&lab));
    let blind_spots = hidden::blind_spots(&lab);
    // The two cases of `hidden.rs` both raise `unreadable-argument`: unfolded, each alert tells
    // which case it belongs to.
    let config = lab.path("config.yaml");
    write(&config, "alerts:\n  fold:\n    rules: {unreadable-argument: 0}\n");
    give_to_agent(&lab);
    let pack = lab.pack(&rules);
    let script: String = cases
        .iter()
        .map(|case| {
            let name = case.name;
            format!(
                "echo '{}'\n{}\necho '{}'\n",
                begin(name),
                (case.script)(&lab),
                end(name)
            )
        })
        .collect();
    let session = Session {
        user: Some(AGENT_USER),
        packs: vec![&pack, &blind_spots],
        config: Some(&config),
        ..Session::new(&pack)
    };
    let (output, alerts) = lab.watch_with(&session, mode, &script);
    let text = stdout(&output);
    for case in cases {
        eprintln!("checking the case {} in {mode:?} mode", case.name);
        (case.check)(&lab, mode, part(&text, case.name), &alerts);
    }
}

fn begin(case: &str) -> String {
    format!("=== case {case} ===")
}

fn end(case: &str) -> String {
    format!("=== end of case {case} ===")
}

/// What the session printed for `case`, which must have run to its end.
fn part<'a>(text: &'a str, case: &str) -> &'a str {
    let (begin, end) = (begin(case), end(case));
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("the case {case} did not start:\n{text}"))
        + begin.len();
    let length = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("the case {case} did not finish:\n{text}"));
    &text[start..start + length]
}

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

/// The directory of the case that names it `case`, under the scenario.
fn dir(lab: &Lab, case: &str) -> String {
    lab.path(case).display().to_string()
}

/// `template` with `{r}` replaced by the directory of `case`.
fn at(lab: &Lab, case: &str, template: &str) -> String {
    template.replace("{r}", &dir(lab, case))
}

/// A deny rule `id` on the file operations `actions` (one, or a YAML list) on paths matching
/// `glob`.
fn deny_on(id: &str, actions: &str, glob: &str) -> String {
    let when = format!("      all:\n        - event.action: {actions}\n        - file.path: {{glob: '{glob}'}}\n");
    rule(id, "deny", &when)
}

/// Asserts the alert names the file by the path the agent used (not the protected name).
fn assert_name_used(alert: &Value, path: &str) {
    assert_eq!(str_field(alert, "file.path"), path, "the name used: {alert:#}");
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// Removes a path when dropped (a failed assertion included).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
