//! Destroying documents without unlinking them, each case a process of its own: overwriting in
//! place (`open(…, 'r+')`, `dd conv=notrunc`), moving the protected tree away (`mv docs /tmp/x`)
//! and deleting it there (or where it stayed), and writing ciphertext beside each file and
//! renaming it over the original. Under `over/`, `away/` and `crypt/`.

use super::*;

pub const CASE: Case = Case {
    name: "destruction",
    modes: BOTH,
    prepare,
    script,
    check,
};

/// Asserts what a rule's alerts say the sensor did in `mode`, on this backend.
fn assert_judged(alerts: &[Value], id: &str, mode: Mode) {
    let found = alerts_of(alerts, id);
    assert!(!found.is_empty(), "no alert of {id}: {alerts:#?}");
    for alert in found {
        assert_file_backend(alert);
        let expected: &[&str] = match mode {
            Mode::Monitor => &["would-deny", "would-kill"],
            Mode::Enforce if in_lab() => &["denied"],
            Mode::Enforce => &["killed"],
        };
        assert!(expected.contains(&done(alert)), "{id} in {mode:?}: {alert:#}");
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{}: {e}>", path.display()))
}

/// Where `mv` takes the tree: beside the scenario, in the same temporary directory (/tmp here and
/// in the lab), which the agent may write.
pub fn moved(lab: &Lab) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}-moved", lab.root()))
}

/// Writes the documents; returns the rules.
fn prepare(lab: &Lab) -> String {
    for name in ["a", "b"] {
        write(&lab.path(&format!("over/{name}.txt")), &format!("text {name}\n"));
    }
    for i in 0..3 {
        write(&lab.path(&format!("away/m{i}.txt")), &format!("moved {i}\n"));
        write(&lab.path(&format!("crypt/c{i}.txt")), &format!("plain {i}\n"));
    }
    let _ = std::fs::remove_dir_all(moved(lab));
    let r = lab.root();
    let all = |tests: String| format!("      all:\n{tests}");
    [
        rule(
            "overwrite",
            "deny",
            &all(format!(
                "        - event.action: open\n        - file.path: {{glob: '{r}/over/**'}}\n        - agent_sensor.open.write: true\n"
            )),
        ),
        rule(
            "tree-moved",
            "deny",
            &all(format!(
                "        - event.action: rename\n        - agent_sensor.file.original.path: {{glob: ['{r}/away', '{r}/away/**']}}\n"
            )),
        ),
        rule(
            "tree-deleted",
            "deny",
            &all(format!(
                "        - event.action: [unlink, rmdir]\n        - file.path: {{glob: '{r}/away/**'}}\n"
            )),
        ),
        rule(
            "ciphertext-over",
            "deny",
            &all(format!(
                "        - event.action: rename\n        - file.path: {{glob: '{r}/crypt/**'}}\n"
            )),
        ),
    ]
    .concat()
}

fn script(lab: &Lab) -> String {
    let r = lab.root();
    let moved = moved(lab).display().to_string();
    let encrypt = "import glob, os, sys\nfor p in sorted(glob.glob(sys.argv[1] + '/c*.txt')):\n    data = open(p, 'rb').read()\n    open(p + '.enc', 'wb').write(bytes(b ^ 0x5a for b in data))\n    os.rename(p + '.enc', p)\n";
    format!(
        r#"python3 -c 'open("{r}/over/a.txt", "r+").write("XXXX")'; echo rplus=$?
printf ZZZZ | dd of={r}/over/b.txt conv=notrunc status=none; echo dd=$?
mv {r}/away {moved}; echo mv=$?
rm -rf {moved} {r}/away; echo rm=$?
python3 -c "{encrypt}" {r}/crypt; echo crypt=$?
"#
    )
}

fn check(lab: &Lab, mode: Mode, text: &str, alerts: &[Value]) {
    for id in ["overwrite", "tree-moved", "tree-deleted", "ciphertext-over"] {
        assert_judged(alerts, id, mode);
    }
    let a = read(&lab.path("over/a.txt"));
    let b = read(&lab.path("over/b.txt"));
    let kept = count_files(&lab.path("away"));
    let left = count_files(&moved(lab));
    let plain: Vec<bool> = (0..3)
        .map(|i| read(&lab.path(&format!("crypt/c{i}.txt"))) == format!("plain {i}\n"))
        .collect();
    match mode {
        Mode::Monitor => {
            assert_eq!(a, "XXXX a\n", "monitor mode must not interfere: {text}");
            assert_eq!(b, "ZZZZ b\n", "{text}");
            assert_eq!((kept, left), (0, 0), "moved, then deleted: {text}");
            assert_eq!(plain, [false; 3], "every file replaced by its ciphertext: {text}");
            assert_eq!(matches_of(alerts, "ciphertext-over").0, 3, "{alerts:#?}");
        }
        Mode::Enforce => {
            // Killed at the open's exit (fallback) or refused (BPF LSM): not a byte written,
            // and nothing truncated (neither opens with O_TRUNC).
            assert_eq!(a, "text a\n", "{text}");
            assert_eq!(b, "text b\n", "{text}");
            for label in ["rplus", "dd", "mv", "crypt"] {
                assert_ne!(status(text, label), 0, "{label} must not succeed: {text}");
            }
            if in_lab() {
                assert_eq!((kept, left), (3, 0), "the tree stays where it was, whole: {text}");
                assert_eq!(plain, [true; 3], "every original is kept: {text}");
            } else {
                // The fallback kills at the call's entry and the call completes: mv's rename
                // moves the tree, which keeps its identity at the new name, so rm is killed at
                // its first unlink there (one file lost); the first rename of ciphertext over an
                // original completes, then the process is dead.
                assert_eq!((kept, left), (0, 2), "one file lost at the new name: {text}");
                assert_eq!(plain, [false, true, true], "one original replaced: {text}");
            }
        }
    }
}
