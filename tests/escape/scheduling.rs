//! Scheduling work out of the session: `at`, `crontab` and `systemd-run --on-…` from an agent
//! session. The sensor knows a scheduler by what it runs and writes, not by a daemon it talks
//! to: `persistence-command` reports the command (its name and arguments), and
//! `persistence-write` (a kernel `deny`) judges the job file the scheduler's client writes under
//! `/var/spool/cron/`, so in enforce mode no job is registered. `systemd-run` hands its timer to
//! the user manager over D-Bus, which no file write shows: a site that must stop it denies the
//! program's exec with a kernel rule (the recipe in docs/enforcement.md, loaded here).
//!
//! `at` and `cron` are not installed on the dev machine nor in the lab's image, and a real job
//! would change the host: stand-ins, programs copied under the real names (`tee` for `at` and
//! `crontab`, `echo` for `systemd-run`), do what the clients do as the session's user: read the
//! job and write it into the spool, or print their arguments. The sensor sees what it sees of the
//! real ones: a program of that name, its arguments, its writes. The spool directory is the
//! test's own, under `/var/spool/cron/`, where no cron or at daemon looks.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{AGENT_GID, AGENT_UID};
use crate::support::{field, lab::*, str_field};

/// The site rule that stops `systemd-run` by its program (docs/enforcement.md's recipe).
pub const TIMERS_BLOCKED: &str = "rules:
  - id: timers-blocked
    name: Agent session ran systemd-run
    description: A site's choice, the systemd-run client is refused to agent sessions.
    severity: high
    action: deny
    when:
      all:
        - event.action: exec
        - agent_sensor.exec.filename: {glob: ['/**/systemd-run']}
";

/// The stand-in schedulers, the spool they write to, and the mark `systemd-run` leaves.
pub struct Schedulers {
    bin: PathBuf,
    spool: PathBuf,
    /// The first directory of the spool's path this test created (removed when dropped).
    created: Option<PathBuf>,
    marks: PathBuf,
}

impl Schedulers {
    pub fn install(lab: &Lab) -> Self {
        let spool = PathBuf::from(format!("/var/spool/cron/agent-sensor-e2e-{}", std::process::id()));
        let created = spool
            .ancestors()
            .skip(1)
            .filter(|dir| !dir.exists())
            .last()
            .map(Path::to_path_buf);
        std::fs::create_dir_all(&spool).expect("the test's spool directory");
        let marks = lab.path("marks");
        std::fs::create_dir_all(&marks).expect("marks");
        for dir in [&spool, &marks] {
            std::os::unix::fs::chown(dir, Some(AGENT_UID), Some(AGENT_GID)).expect("chown");
        }
        let bin = lab.path("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        for (name, program) in [("at", "tee"), ("crontab", "tee"), ("systemd-run", "echo")] {
            std::fs::copy(installed(program), bin.join(name)).expect("stand-in");
        }
        let crontab = lab.path("crontab.txt");
        std::fs::write(&crontab, "0 * * * * echo scheduled\n").expect("crontab file");
        Self {
            bin,
            spool,
            created,
            marks,
        }
    }

    /// Shell lines of the session: a job for `at`, a crontab, a systemd timer; each prints its
    /// status (`at=N`…).
    pub fn script(&self, lab: &Lab) -> String {
        format!(
            "PATH={bin}:$PATH
echo 'echo scheduled' | at {spool}/at-job >/dev/null; echo at=$?
crontab {spool}/crontab-job < {crontab} >/dev/null; echo crontab=$?
systemd-run --user --on-active=3600 /bin/true > {marks}/systemd-run; echo systemd-run=$?",
            bin = self.bin.display(),
            spool = self.spool.display(),
            crontab = lab.path("crontab.txt").display(),
            marks = self.marks.display(),
        )
    }

    /// What the sensor said and what the schedulers registered in `mode`, with the session's
    /// output `text` and `alerts`.
    pub fn check(&self, mode: Mode, text: &str, alerts: &[Value]) {
        let commands: Vec<&str> = alerts_of(alerts, "persistence-command")
            .iter()
            .map(|alert| str_field(alert, "process.name"))
            .collect();
        for name in ["at", "crontab"] {
            assert!(
                commands.contains(&name),
                "no persistence-command for {name}: {commands:?}\n{text}"
            );
        }
        let at_job = self.spool.join("at-job");
        let crontab_job = self.spool.join("crontab-job");
        let writes = alerts_of(alerts, "persistence-write");
        for job in [&at_job, &crontab_job] {
            let alert = writes
                .iter()
                .find(|alert| str_field(alert, "file.path") == job.display().to_string())
                .unwrap_or_else(|| panic!("no persistence-write for {}: {writes:#?}\n{text}", job.display()));
            assert_file_backend(alert);
            assert_eq!(done(alert), expected_verdict(mode), "{alert:#}");
        }
        let timer = the_alert(alerts, "timers-blocked");
        assert_file_backend(timer);
        assert_eq!(done(timer), expected_verdict(mode), "{timer:#}");
        let registered = |job: &Path| std::fs::read_to_string(job).unwrap_or_default();
        let marked = self.marks.join("systemd-run");
        match mode {
            Mode::Monitor => {
                assert!(
                    commands.contains(&"systemd-run"),
                    "no persistence-command for systemd-run: {commands:?}"
                );
                assert_eq!(registered(&at_job).trim(), "echo scheduled", "{text}");
                assert_eq!(registered(&crontab_job).trim(), "0 * * * * echo scheduled", "{text}");
                assert_eq!(
                    registered(&marked).trim(),
                    "--user --on-active=3600 /bin/true",
                    "{text}"
                );
                for name in ["at", "crontab", "systemd-run"] {
                    assert_eq!(status(text, name), 0, "{text}");
                }
            }
            Mode::Enforce => {
                // The open is refused (BPF LSM) or the writer killed before it writes (fallback:
                // O_CREAT already made the file, empty): no job either way.
                for job in [&at_job, &crontab_job] {
                    assert_eq!(registered(job), "", "a job was registered in {}: {text}", job.display());
                }
                // The session's shell made the file its output goes to; the program never ran.
                assert_eq!(registered(&marked), "", "systemd-run ran: {text}");
                for name in ["at", "crontab", "systemd-run"] {
                    assert_ne!(status(text, name), 0, "{text}");
                }
            }
        }
        assert_eq!(
            field(timer, "agent_sensor.exec.filename").as_str(),
            Some(self.bin.join("systemd-run").display().to_string().as_str()),
            "{timer:#}"
        );
        for job in [&at_job, &crontab_job] {
            let _ = std::fs::remove_file(job);
        }
    }
}

/// The system's program `name` (`/usr/bin`, `/bin`; not a version manager's shim on `PATH`).
pub fn installed(name: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed in /usr/bin or /bin"))
}

/// The kernel's verdict in `mode` on a job file's open and on the exec of `systemd-run`.
fn expected_verdict(mode: Mode) -> &'static str {
    match (mode, in_lab()) {
        (Mode::Monitor, true) => "would-deny",
        (Mode::Monitor, false) => "would-kill",
        (Mode::Enforce, true) => "denied",
        (Mode::Enforce, false) => "killed",
    }
}

impl Drop for Schedulers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.created.as_ref().unwrap_or(&self.spool));
    }
}
