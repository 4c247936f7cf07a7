//! A protected key read another way: through a hard link, after its directory was renamed away,
//! after it was renamed to a name its rule excludes, by a copy of an excepted program under the
//! excepted name, and (monitor mode) under a flood of noise. Each case under a directory of its
//! own (`link/`, `moved/`, `public/`, `masquerade/`, `flood/`), with a rule of its own.

use super::*;

/// Writes the key `keys/KEY` of `case` (its secret) and makes its `work/` directory; returns
/// the case's rule: a deny rule `CASE-key-read` on opens of its `keys/` directory, excepting the
/// system's own `cat` by name.
fn prepare_key(lab: &Lab, case: &str, key: &str) -> String {
    write(&lab.path(&format!("{case}/keys/{key}")), &secret(case));
    std::fs::create_dir_all(lab.path(&format!("{case}/work"))).expect("work");
    let except = "    except:\n      - {process.name: cat, agent_sensor.process.trusted: true}\n";
    let glob = format!("{}/keys/*", dir(lab, case));
    format!("{}{except}", deny_on(&format!("{case}-key-read"), "open", &glob))
}

fn secret(case: &str) -> String {
    format!("FAKE-KEY-{}-{}", case.to_uppercase(), std::process::id())
}

/// Asserts the key was read (monitor) or not (enforce), and what the sensor said (rule `id`).
fn assert_key_judged(mode: Mode, text: &str, secret: &str, alerts: &[Value], id: &str) {
    let alert = the_alert(alerts, id);
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

pub const LINK: Case = Case {
    name: "link",
    modes: BOTH,
    prepare: |lab| prepare_key(lab, "link", "id_ed25519"),
    // The key is read through a name no rule covers, by a program no exception covers.
    script: |lab| {
        at(
            lab,
            "link",
            "ln {r}/keys/id_ed25519 {r}/work/notes.txt && cp /usr/bin/cat {r}/work/reader && {r}/work/reader {r}/work/notes.txt; echo",
        )
    },
    check: |lab, mode, text, alerts| {
        assert_key_judged(mode, text, &secret("link"), alerts, "link-key-read");
        let alert = the_alert(alerts, "link-key-read");
        assert_name_used(alert, &format!("{}/work/notes.txt", dir(lab, "link")));
    },
};

pub const MOVED: Case = Case {
    name: "moved",
    modes: BOTH,
    prepare: |lab| prepare_key(lab, "moved", "id_rsa"),
    // The pause lets the sensor notice the move and re-seed its protected identities: the key
    // must stay protected after that too.
    script: |lab| {
        at(
            lab,
            "moved",
            "mv {r}/keys {r}/public && sleep 2 && cp /usr/bin/cat {r}/c && {r}/c {r}/public/id_rsa; echo",
        )
    },
    check: |_, mode, text, alerts| assert_key_judged(mode, text, &secret("moved"), alerts, "moved-key-read"),
};

pub const PUBLIC: Case = Case {
    name: "public",
    modes: BOTH,
    prepare: |lab| {
        write(&lab.path("public/keys/id_rsa"), &secret("public"));
        write(&lab.path("public/keys/id_rsa.pub"), "ssh-ed25519 AAAA public");
        // Opens under `keys/`, public keys (`*.pub`) excepted by name, as the default pack does
        // for `~/.ssh`.
        let when = format!(
            "      all:\n        - event.action: open\n        - file.path: {{glob: '{r}/keys/**'}}\n        - not: {{file.path: {{glob: '{r}/keys/**/*.pub'}}}}\n",
            r = dir(lab, "public")
        );
        rule("public-key-read", "deny", &when)
    },
    // The real public key stays readable; the private key renamed to a public name is still the
    // private key, before and after the sensor re-seeds (the pause).
    script: |lab| {
        at(
            lab,
            "public",
            "cat {r}/keys/id_rsa.pub && mv {r}/keys/id_rsa {r}/keys/id_rsa.pub && sleep 2 && cp /usr/bin/cat {r}/c && {r}/c {r}/keys/id_rsa.pub; echo",
        )
    },
    check: |lab, mode, text, alerts| {
        assert!(
            text.contains("AAAA public"),
            "the public key must stay readable: {text}"
        );
        assert_key_judged(mode, text, &secret("public"), alerts, "public-key-read");
        let found = alerts_of(alerts, "public-key-read");
        assert_eq!(found.len(), 1, "only the renamed key is judged: {found:#?}");
        let alert = found[0];
        assert_name_used(alert, &format!("{}/keys/id_rsa.pub", dir(lab, "public")));
    },
};

pub const MASQUERADE: Case = Case {
    name: "masquerade",
    modes: BOTH,
    prepare: |lab| prepare_key(lab, "masquerade", "id_ecdsa"),
    // `cat` is excepted; the session's own copy named `cat` is not.
    script: |lab| {
        at(
            lab,
            "masquerade",
            "cp /usr/bin/cat {r}/work/cat && {r}/work/cat {r}/keys/id_ecdsa; echo; echo real; /usr/bin/cat {r}/keys/id_ecdsa; echo",
        )
    },
    check: |_, mode, text, alerts| {
        let secret = secret("masquerade");
        let after_real = text.split("real").nth(1).unwrap_or_default();
        assert!(
            after_real.contains(&secret),
            "the system's cat keeps its exception: {text}"
        );
        let found = alerts_of(alerts, "masquerade-key-read");
        assert_eq!(found.len(), 1, "only the copy is judged: {found:#?}");
        let before_real = text.split("real").next().unwrap_or_default();
        match mode {
            Mode::Monitor => assert!(before_real.contains(&secret), "{text}"),
            Mode::Enforce => assert!(!before_real.contains(&secret), "the copy read the key: {text}"),
        }
    },
};

pub const FLOOD: Case = Case {
    name: "flood",
    modes: &[Mode::Monitor],
    prepare: |lab| {
        let rules = prepare_key(lab, "flood", "key000");
        for i in 1..100 {
            write(&lab.path(&format!("flood/keys/key{i:03}")), "secret\n");
        }
        rules
    },
    // Two noisy processes open distinct missing files at full speed while a third reads every
    // key once (through a copy of cat, which the exception does not cover).
    script: |lab| {
        let r = dir(lab, "flood");
        let flood = format!(
            "python3 -c \"import os\nstop='{r}/stop'\ni=0\nwhile not os.path.exists(stop):\n  i+=1\n  try: os.open('{r}/missing/' + 'x'*200 + str(i), 0)\n  except OSError: pass\""
        );
        format!(
            "mkdir -p {r}/bin && cp /usr/bin/cat {r}/bin/reader; ({flood}) & ({flood}) & sleep 1; for k in {r}/keys/*; do {r}/bin/reader \"$k\" > /dev/null; done; touch {r}/stop; wait; echo done"
        )
    },
    check: |lab, _, text, alerts| {
        assert!(text.contains("done"), "{text}");
        // The reads are one burst of the rule: its first alert and follow-ups that count every
        // other verdict exactly (docs/rules.md), with a sample of their paths.
        let (count, files) = matches_of(alerts, "flood-key-read");
        assert_eq!(
            count, 100,
            "every protected read is counted, however loud the session: {alerts:#?}"
        );
        let keys = lab.path("flood/keys").display().to_string();
        assert!(files.iter().all(|file| file.starts_with(&keys)), "{files:?}");
    },
};
