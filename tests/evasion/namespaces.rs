//! A protected directory bind-mounted to another name inside `unshare -Urm` (the agent is root of
//! its own user and mount namespace there), and the key read through the mount: the open reaches
//! the protected inode, so the key's rule judges it under the name used. Under `ns/`.

use super::*;

pub const CASE: Case = Case {
    name: "namespaces",
    modes: BOTH,
    prepare,
    script,
    check,
};

fn secret() -> String {
    format!("FAKE-KEY-BIND-{}", std::process::id())
}

/// Writes the key; returns the rules.
fn prepare(lab: &Lab) -> String {
    write(&lab.path("ns/keys/id_rsa"), &secret());
    std::fs::create_dir_all(lab.path("ns/work")).expect("ns/work");
    let keys = format!(
        "      all:\n        - event.action: open\n        - file.path: {{glob: '{}/ns/keys/*'}}\n",
        lab.root()
    );
    let namespaces = "      event.action: [unshare, mount]\n";
    [
        rule("bind-key-read", "deny", &keys),
        rule("namespace-or-mount", "alert", namespaces),
    ]
    .concat()
}

fn script(lab: &Lab) -> String {
    // A copy of cat: no exception could cover it.
    format!(
        "cp /usr/bin/cat {r}/ns/work/reader && unshare -Urm sh -c 'mkdir {r}/ns/work/mnt && mount --bind {r}/ns/keys {r}/ns/work/mnt && {r}/ns/work/reader {r}/ns/work/mnt/id_rsa'; echo\n",
        r = lab.root()
    )
}

fn check(lab: &Lab, mode: Mode, text: &str, alerts: &[Value]) {
    let secret = secret();
    let alert = the_alert(alerts, "bind-key-read");
    assert_file_backend(alert);
    match mode {
        Mode::Monitor => {
            assert!(text.contains(&secret), "monitor mode must not interfere: {text}");
            assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
        }
        Mode::Enforce => {
            assert!(!text.contains(&secret), "the key reached the agent: {text}");
            let expected = if in_lab() { "denied" } else { "killed" };
            assert_eq!(done(alert), expected, "{alert:#}");
        }
    }
    assert_name_used(alert, &format!("{}/ns/work/mnt/id_rsa", lab.root()));
    let seen: Vec<&str> = alerts_of(alerts, "namespace-or-mount")
        .into_iter()
        .map(|alert| str_field(alert, "event.action"))
        .collect();
    assert!(
        seen.contains(&"unshare") && seen.contains(&"mount"),
        "the unshare and the mount are captured: {seen:?}"
    );
}
