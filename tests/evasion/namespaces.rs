//! A protected directory bind-mounted to another name inside `unshare -Urm` (the agent is root of
//! its own user and mount namespace there), and the key read through the mount: the open reaches
//! the protected inode, so the key's rule judges it under the name used.

use super::*;

#[test]
fn a_bind_mount_in_a_user_namespace_is_still_the_key() {
    if !require_root("a_bind_mount_in_a_user_namespace_is_still_the_key") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("bind");
        let secret = format!("FAKE-KEY-BIND-{}", std::process::id());
        write(&lab.path("keys/id_rsa"), &secret);
        std::fs::create_dir_all(lab.path("work")).expect("work");
        give_to_agent(&lab);
        let keys = format!(
            "      all:\n        - event.action: open\n        - file.path: {{glob: '{}/keys/*'}}\n",
            lab.root()
        );
        let namespaces = "      event.action: [unshare, mount]\n";
        let pack = lab.pack(&format!(
            "{}{}",
            rule("key-read", "deny", &keys),
            rule("namespace-or-mount", "alert", namespaces)
        ));
        // A copy of cat: no exception could cover it.
        let script = format!(
            "cp /usr/bin/cat {r}/work/reader && unshare -Urm sh -c 'mkdir {r}/work/mnt && mount --bind {r}/keys {r}/work/mnt && {r}/work/reader {r}/work/mnt/id_rsa'; echo",
            r = lab.root()
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        assert_key_judged(mode, &text, &secret, &alerts);
        let alert = the_alert(&alerts, "key-read");
        assert_eq!(
            str_field(alert, "file.path"),
            format!("{}/work/mnt/id_rsa", lab.root()),
            "the name used: {alert:#}"
        );
        let seen: Vec<&str> = alerts_of(&alerts, "namespace-or-mount")
            .into_iter()
            .map(|alert| str_field(alert, "event.action"))
            .collect();
        assert!(
            seen.contains(&"unshare") && seen.contains(&"mount"),
            "the unshare and the mount are captured: {seen:?}"
        );
    }
}
