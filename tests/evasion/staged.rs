//! Running code the session staged itself, indirectly, in one session per mode: a script given to
//! `sh` and to `python3`, a script renamed after it was written, a script written the way agents'
//! file tools write (`<path>.tmp.<pid>.<hex>`, then renamed), a binary copied into the workspace,
//! and a program run from a memfd through `/proc/self/fd/N`. The written-by-session lineage must
//! follow each one to the exec.

use super::*;

/// The cases: rule id, the directory its files are staged in, and the marker the staged code
/// prints when it runs.
const CASES: [(&str, &str, &str); 5] = [
    ("staged-sh", "sh", "RAN-SH"),
    ("staged-python", "py", "RAN-PYTHON"),
    ("staged-renamed", "renamed", "RAN-RENAMED"),
    ("staged-agent-write", "agent", "RAN-AGENT-WRITE"),
    ("staged-workspace", "work", "RAN-WORKSPACE"),
];

#[test]
fn staged_code_run_indirectly_is_judged() {
    if !require_root("staged_code_run_indirectly_is_judged") {
        return;
    }
    for mode in [Mode::Monitor, Mode::Enforce] {
        let lab = scenario("staged");
        for (_, dir, _) in CASES {
            std::fs::create_dir_all(lab.path(dir)).expect("stage dir");
        }
        give_to_agent(&lab);
        let r = lab.root();
        let staged = |dir: &str| {
            format!(
                "      all:\n        - event.action: exec\n        - agent_sensor.exec.filename: {{glob: '{r}/{dir}/**'}}\n        - agent_sensor.file.written_by_session: true\n"
            )
        };
        let mut rules: Vec<String> = CASES
            .iter()
            .map(|(id, dir, _)| rule(id, "deny", &staged(dir)))
            .collect();
        // A memory file has no path under the scenario: any other program the session wrote.
        rules.push(rule(
            "staged-memfd",
            "deny",
            &format!(
                "      all:\n        - event.action: exec\n        - agent_sensor.file.written_by_session: true\n        - not: {{agent_sensor.exec.filename: {{glob: '{r}/**'}}}}\n"
            ),
        ));
        let pack = lab.pack(&rules.concat());
        let script = format!(
            r#"printf 'echo RAN-SH\n' > {r}/sh/p.sh; sh {r}/sh/p.sh; echo sh=$?
printf 'print("RAN-PYTHON")\n' > {r}/py/p.py; python3 {r}/py/p.py; echo python=$?
printf '#!/bin/sh\necho RAN-RENAMED\n' > {r}/renamed/notes.txt; chmod +x {r}/renamed/notes.txt; mv {r}/renamed/notes.txt {r}/renamed/run; {r}/renamed/run; echo renamed=$?
printf 'echo RAN-AGENT-WRITE\n' > {r}/agent/p.sh.tmp.4242.9f3a1c; mv {r}/agent/p.sh.tmp.4242.9f3a1c {r}/agent/p.sh; bash {r}/agent/p.sh; echo agent=$?
cp /usr/bin/echo {r}/work/tool; {r}/work/tool RAN-WORKSPACE; echo workspace=$?
python3 -c 'import os; fd = os.memfd_create("x"); os.write(fd, open("/usr/bin/echo", "rb").read()); os.execv(f"/proc/self/fd/{{fd}}", ["x", "RAN-MEMFD"])'; echo memfd=$?
"#
        );
        let (text, alerts) = run(&lab, &pack, mode, &script);
        let cases = CASES.iter().map(|(id, _, marker)| (*id, *marker));
        for (id, marker) in cases.chain([("staged-memfd", "RAN-MEMFD")]) {
            let found = alerts_of(&alerts, id);
            assert_eq!(found.len(), 1, "one alert of {id}: {alerts:#?}");
            let alert = found[0];
            match mode {
                Mode::Monitor => {
                    assert!(text.contains(marker), "monitor mode must not interfere ({id}): {text}");
                    assert!(matches!(done(alert), "would-deny" | "would-kill"), "{alert:#}");
                }
                Mode::Enforce => {
                    assert!(!text.contains(marker), "{id} ran: {text}");
                    assert!(matches!(done(alert), "denied" | "killed"), "{alert:#}");
                }
            }
        }
        let memfd = the_alert(&alerts, "staged-memfd");
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
        let renamed = the_alert(&alerts, "staged-renamed");
        assert_eq!(
            str_field(renamed, "agent_sensor.exec.filename"),
            format!("{r}/renamed/run"),
            "{renamed:#}"
        );
    }
}
