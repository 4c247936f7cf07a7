//! Running code the session staged itself, indirectly: a script given to
//! `sh` and to `python3`, a script renamed after it was written, a script written the way agents'
//! file tools write (`<path>.tmp.<pid>.<hex>`, then renamed), a binary copied into the workspace,
//! and a program run from a memfd through `/proc/self/fd/N`. The written-by-session lineage must
//! follow each one to the exec. Under `stage/`.

use super::*;

pub const CASE: Case = Case {
    name: "staged",
    modes: BOTH,
    prepare,
    script,
    check,
};

/// The cases: rule id, the directory its files are staged in, the marker the staged code prints
/// when it runs, and whether the file is a script given to an interpreter as an argument (BPF
/// LSM's `bprm_check_security` sees only the interpreter then: the tracepoint at
/// `sched_process_exec` judges the script on every backend, and kills).
const CASES: [(&str, &str, &str, bool); 5] = [
    ("staged-sh", "sh", "RAN-SH", true),
    ("staged-python", "py", "RAN-PYTHON", true),
    ("staged-renamed", "renamed", "RAN-RENAMED", false),
    ("staged-agent-write", "agent", "RAN-AGENT-WRITE", true),
    ("staged-workspace", "work", "RAN-WORKSPACE", false),
];

/// Makes the staging directories; returns the rules.
fn prepare(lab: &Lab) -> String {
    for (_, dir, _, _) in CASES {
        std::fs::create_dir_all(lab.path(&format!("stage/{dir}"))).expect("stage dir");
    }
    let r = lab.root();
    let staged = |dir: &str| {
        format!(
            "      all:\n        - event.action: exec\n        - agent_sensor.exec.filename: {{glob: '{r}/stage/{dir}/**'}}\n        - agent_sensor.file.written_by_session: true\n"
        )
    };
    let mut rules: Vec<String> = CASES
        .iter()
        .map(|(id, dir, _, _)| rule(id, "deny", &staged(dir)))
        .collect();
    // A memory file has no path under the scenario: any other program the session wrote.
    rules.push(rule(
        "staged-memfd",
        "deny",
        &format!(
            "      all:\n        - event.action: exec\n        - agent_sensor.file.written_by_session: true\n        - not: {{agent_sensor.exec.filename: {{glob: '{r}/**'}}}}\n"
        ),
    ));
    rules.concat()
}

fn script(lab: &Lab) -> String {
    let s = format!("{}/stage", lab.root());
    format!(
        r#"printf 'echo RAN-SH\n' > {s}/sh/p.sh; sh {s}/sh/p.sh; echo sh=$?
printf 'print("RAN-PYTHON")\n' > {s}/py/p.py; python3 {s}/py/p.py; echo python=$?
printf '#!/bin/sh\necho RAN-RENAMED\n' > {s}/renamed/notes.txt; chmod +x {s}/renamed/notes.txt; mv {s}/renamed/notes.txt {s}/renamed/run; {s}/renamed/run; echo renamed=$?
printf 'echo RAN-AGENT-WRITE\n' > {s}/agent/p.sh.tmp.4242.9f3a1c; mv {s}/agent/p.sh.tmp.4242.9f3a1c {s}/agent/p.sh; bash {s}/agent/p.sh; echo agent=$?
cp /usr/bin/echo {s}/work/tool; {s}/work/tool RAN-WORKSPACE; echo workspace=$?
python3 -c 'import os; fd = os.memfd_create("x"); os.write(fd, open("/usr/bin/echo", "rb").read()); os.execv(f"/proc/self/fd/{{fd}}", ["x", "RAN-MEMFD"])'; echo memfd=$?
"#
    )
}

fn check(lab: &Lab, mode: Mode, text: &str, alerts: &[Value]) {
    let cases = CASES.iter().map(|(id, _, marker, argument)| (*id, *marker, *argument));
    for (id, marker, argument) in cases.chain([("staged-memfd", "RAN-MEMFD", false)]) {
        let found = alerts_of(alerts, id);
        // One alert per exec: with BPF LSM in monitor mode a `#!` script is judged by the hook
        // as the program and, as the exec goes on, by the tracepoint as the script its
        // interpreter is given; the sensor drops the second verdict.
        assert_eq!(found.len(), 1, "alerts of {id}: {alerts:#?}");
        let alert = found[0];
        let by_lsm = in_lab() && !argument;
        let expected_backend = if by_lsm { "bpf-lsm" } else { "tracepoint-sigkill" };
        assert_eq!(backend(alert), expected_backend, "{id}: {alert:#}");
        match mode {
            Mode::Monitor => {
                assert!(text.contains(marker), "monitor mode must not interfere ({id}): {text}");
                let would = if by_lsm { "would-deny" } else { "would-kill" };
                assert_eq!(done(alert), would, "{id}: {alert:#}");
            }
            Mode::Enforce => {
                assert!(!text.contains(marker), "{id} ran: {text}");
                let did = if by_lsm { "denied" } else { "killed" };
                assert_eq!(done(alert), did, "{id}: {alert:#}");
            }
        }
    }
    let memfd = the_alert(alerts, "staged-memfd");
    if in_lab() {
        // `bprm_check_security` judges before the program is replaced: the process is still
        // the loader.
        assert!(
            str_field(memfd, "process.command_line").starts_with("python3 "),
            "{memfd:#}"
        );
    } else {
        // Judged once the program is loaded, by the path given to execve (as the exec event
        // has it).
        assert_eq!(str_field(memfd, "process.command_line"), "x RAN-MEMFD", "{memfd:#}");
        assert!(
            str_field(memfd, "agent_sensor.exec.filename").starts_with("/proc/self/fd/"),
            "{memfd:#}"
        );
    }
    let renamed = the_alert(alerts, "staged-renamed");
    assert_eq!(
        str_field(renamed, "agent_sensor.exec.filename"),
        format!("{}/stage/renamed/run", lab.root()),
        "{renamed:#}"
    );
}
