//! The process table: what is known about each process that events refer to.
//!
//! Seeded from /proc at start, then kept current by fork, exec, chdir and exit events of tracked
//! processes. A process that appears in an event without an entry (the sensor started after it)
//! is read from /proc on demand.

use std::{collections::hash_map::Entry, sync::Arc};

use rustc_hash::FxHashMap;

use crate::decode::{Chdir, Exec, Exit, Fork};

use super::procfs::{ProcSnapshot, Procfs};

/// What the table knows about one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The executable file (`/proc/PID/exe`, or the kernel's `mm->exe_file`).
    pub executable: Arc<str>,
    pub args: Arc<[String]>,
    /// The arguments joined with spaces (`process.command_line`).
    pub command_line: Arc<str>,
    pub args_truncated: bool,
    pub cwd: Arc<str>,
    pub uid: u32,
    pub gid: u32,
    /// `CLOCK_BOOTTIME` nanoseconds.
    pub start_boottime_ns: u64,
    pub cgroup_id: u64,
    pub cgroup: Option<Arc<str>>,
    /// Agent session, when the process is tracked.
    pub session_id: Option<u64>,
    /// The executable is the system's own: below a system binary directory and not written by
    /// its session (the kernel's `EXEC_TRUSTED`; for processes known from /proc, by directory).
    pub trusted: bool,
}

impl ProcessInfo {
    fn from_snapshot(snapshot: ProcSnapshot) -> Self {
        let trusted = crate::enforce::trusted::SYSTEM_DIRS
            .iter()
            .any(|dir| crate::rules::eval::is_under(&snapshot.executable, dir) && snapshot.executable != *dir);
        Self {
            trusted,
            pid: snapshot.pid,
            ppid: snapshot.ppid,
            executable: snapshot.executable.into(),
            command_line: snapshot.args.join(" ").into(),
            args: snapshot.args.into(),
            args_truncated: false,
            cwd: snapshot.cwd.into(),
            uid: snapshot.uid,
            gid: snapshot.gid,
            start_boottime_ns: snapshot.start_boottime_ns,
            cgroup_id: 0,
            cgroup: snapshot.cgroup.map(Into::into),
            session_id: None,
        }
    }

    /// The base name of the executable.
    pub fn name(&self) -> &str {
        super::resolve::last_component(&self.executable)
    }
}

#[derive(Debug, Default)]
pub struct ProcessTable {
    /// By pid (small integers the kernel hands out, hashed with Fx: several lookups per event).
    processes: FxHashMap<u32, ProcessInfo>,
    procfs: Option<Procfs>,
    /// Processes that exited, kept a little while (when, pid, start time): records on the
    /// priority ring may arrive after a process's exit record and still need to say who it was.
    departed: std::collections::VecDeque<(std::time::Instant, u32, u64)>,
}

/// How long an exited process stays known.
const DEPARTED_FOR: std::time::Duration = std::time::Duration::from_secs(2);

impl ProcessTable {
    /// An empty table that never reads /proc (for replaying recorded events and for tests).
    pub fn detached() -> Self {
        Self::default()
    }

    /// An empty table that reads processes from /proc when events first mention them.
    pub fn on_demand(procfs: Procfs) -> Self {
        Self {
            processes: FxHashMap::default(),
            procfs: Some(procfs),
            departed: Default::default(),
        }
    }

    /// A table seeded with every process /proc shows now, filling gaps from /proc later.
    pub fn seeded(procfs: Procfs) -> Self {
        let processes = procfs
            .pids()
            .into_iter()
            .filter_map(|pid| procfs.snapshot(pid))
            .map(|snapshot| (snapshot.pid, ProcessInfo::from_snapshot(snapshot)))
            .collect();
        Self {
            processes,
            procfs: Some(procfs),
            departed: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    /// The entry for `pid`, read from /proc when the table has none.
    pub fn get_or_load(&mut self, pid: u32) -> Option<&ProcessInfo> {
        self.get_or_load_mut(pid).map(|process| &*process)
    }

    /// `HOME` from the initial environment of a live process, for `uid`.
    pub fn home_of(&self, pid: u32, uid: u32) -> Option<super::SessionHome> {
        let dir = self.procfs.as_ref()?.environ_var(pid, "HOME")?;
        (!dir.is_empty()).then(|| super::SessionHome {
            uid,
            dir: Arc::from(dir.trim_end_matches('/')),
        })
    }

    /// Marks `pid` as part of `session` (used when a session is started for a running process).
    pub fn set_session(&mut self, pid: u32, session: u64) {
        if let Some(process) = self.get_or_load_mut(pid) {
            process.session_id = Some(session);
        }
    }

    /// One lookup: the entry, or a place for what /proc says.
    fn get_or_load_mut(&mut self, pid: u32) -> Option<&mut ProcessInfo> {
        match self.processes.entry(pid) {
            Entry::Occupied(known) => Some(known.into_mut()),
            Entry::Vacant(slot) => {
                let snapshot = self.procfs.as_ref()?.snapshot(pid)?;
                Some(slot.insert(ProcessInfo::from_snapshot(snapshot)))
            }
        }
    }

    /// A new process: a copy of its parent, as fork makes it.
    pub fn apply_fork(&mut self, fork: &Fork) {
        let parent = self.get_or_load(fork.common.pid).cloned();
        let child = match parent {
            Some(parent) => ProcessInfo {
                pid: fork.child_pid,
                ppid: fork.common.pid,
                start_boottime_ns: fork.common.time_ns,
                session_id: Some(fork.common.session_id),
                trusted: false,
                ..parent
            },
            None => ProcessInfo {
                pid: fork.child_pid,
                ppid: fork.common.pid,
                executable: Arc::from(""),
                args: Arc::from([]),
                command_line: Arc::from(""),
                args_truncated: false,
                cwd: Arc::from(""),
                uid: fork.common.uid,
                gid: fork.common.gid,
                start_boottime_ns: fork.common.time_ns,
                cgroup_id: fork.common.cgroup_id,
                cgroup: None,
                session_id: Some(fork.common.session_id),
                trusted: false,
            },
        };
        self.processes.insert(fork.child_pid, child);
    }

    /// A new program image in an existing process.
    pub fn apply_exec(&mut self, exec: &Exec) {
        let known = self.processes.get(&exec.common.pid);
        let start = match known {
            Some(process) => process.start_boottime_ns,
            None => exec.start_boottime_ns,
        };
        let cgroup = known.and_then(|process| process.cgroup.clone());
        let executable = if exec.executable.path.is_empty() {
            exec.filename.value.as_str()
        } else {
            exec.executable.path.as_str()
        };
        let info = ProcessInfo {
            pid: exec.common.pid,
            ppid: exec.ppid,
            executable: executable.into(),
            command_line: exec.args.join(" ").into(),
            args: exec.args.clone().into(),
            args_truncated: exec.args_truncated,
            cwd: exec.cwd.path.as_str().into(),
            uid: exec.common.uid,
            gid: exec.common.gid,
            start_boottime_ns: start,
            cgroup_id: exec.common.cgroup_id,
            cgroup,
            session_id: Some(exec.common.session_id),
            trusted: exec.exec_flags & sensor_common::event::EXEC_TRUSTED != 0,
        };
        self.processes.insert(exec.common.pid, info);
    }

    pub fn apply_chdir(&mut self, chdir: &Chdir) {
        if let Some(process) = self.get_or_load_mut(chdir.common.pid) {
            process.cwd = chdir.cwd.path.as_str().into();
        }
    }

    /// Forgets an exited process, after a short while (see `departed`).
    pub fn apply_exit(&mut self, exit: &Exit) -> Option<ProcessInfo> {
        let now = std::time::Instant::now();
        self.forget_departed(now);
        let process = self.processes.get(&exit.common.pid)?.clone();
        self.departed
            .push_back((now, exit.common.pid, process.start_boottime_ns));
        Some(process)
    }

    /// Forgets the processes that exited more than `DEPARTED_FOR` before `now` (unless their pid
    /// now belongs to a new process).
    fn forget_departed(&mut self, now: std::time::Instant) {
        while let Some(&(at, pid, start)) = self.departed.front() {
            if now.saturating_duration_since(at) < DEPARTED_FOR {
                break;
            }
            self.departed.pop_front();
            if self
                .processes
                .get(&pid)
                .is_some_and(|process| process.start_boottime_ns == start)
            {
                self.processes.remove(&pid);
            }
        }
    }

    /// Records the cgroup path of a process whose cgroup is known from elsewhere.
    pub fn set_cgroup(&mut self, pid: u32, cgroup: Arc<str>) {
        if let Some(process) = self.processes.get_mut(&pid) {
            process.cgroup = Some(cgroup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Common, DecodedPath, Text};

    fn common(pid: u32, session: u64) -> Common {
        Common {
            time_ns: 1_000,
            session_id: session,
            pid,
            tid: pid,
            uid: 1000,
            gid: 1000,
            cgroup_id: 42,
            priority: false,
        }
    }

    fn exec(pid: u32, ppid: u32, exe: &str, args: &[&str], cwd: &str) -> Exec {
        Exec {
            common: common(pid, 7),
            ppid,
            started_profile: None,
            start_boottime_ns: 500,
            exe: None,
            exec_flags: 0,
            script: None,
            filename: Text {
                value: exe.into(),
                ..Text::default()
            },
            executable: DecodedPath {
                path: exe.into(),
                ..DecodedPath::default()
            },
            cwd: DecodedPath {
                path: cwd.into(),
                ..DecodedPath::default()
            },
            args: args.iter().map(|a| a.to_string()).collect(),
            args_truncated: false,
        }
    }

    #[test]
    fn fork_copies_the_parent_and_exec_replaces_the_image() {
        let mut table = ProcessTable::detached();
        table.apply_exec(&exec(10, 1, "/bin/sh", &["sh", "-c", "ls"], "/work"));
        table.apply_fork(&Fork {
            common: common(10, 7),
            child_pid: 11,
            child_untracked: false,
            clone_flags: 0,
        });
        let child = table.get(11).expect("child");
        assert_eq!(child.ppid, 10);
        assert_eq!(&*child.executable, "/bin/sh");
        assert_eq!(&*child.cwd, "/work");
        assert_eq!(child.session_id, Some(7));

        table.apply_exec(&exec(11, 10, "/bin/ls", &["ls"], "/work"));
        let child = table.get(11).expect("child after exec");
        assert_eq!(&*child.executable, "/bin/ls");
        assert_eq!(child.name(), "ls");
        assert_eq!(&*child.args, ["ls".to_string()]);
        assert_eq!(child.start_boottime_ns, 1_000, "exec keeps the start time of the fork");
    }

    #[test]
    fn chdir_updates_the_working_directory_and_exit_forgets() {
        let mut table = ProcessTable::detached();
        table.apply_exec(&exec(20, 1, "/bin/sh", &["sh"], "/a"));
        table.apply_chdir(&Chdir {
            common: common(20, 7),
            cwd: DecodedPath {
                path: "/a/b".into(),
                ..DecodedPath::default()
            },
        });
        assert_eq!(&*table.get(20).expect("entry").cwd, "/a/b");
        let gone = table.apply_exit(&Exit {
            common: common(20, 7),
            status: 0,
        });
        assert!(gone.is_some());
        assert!(table.get(20).is_some(), "records arriving late still find it");
        table.forget_departed(std::time::Instant::now() + DEPARTED_FOR * 2);
        assert!(table.get(20).is_none());
    }

    #[test]
    fn seeded_table_knows_this_process_and_loads_missing_ones() {
        let mut table = ProcessTable::seeded(Procfs::default());
        assert!(table.len() > 1);
        let me = std::process::id();
        assert!(table.get(me).is_some());
        assert!(table.get_or_load(me).is_some());
        assert!(table.get_or_load(u32::MAX - 1).is_none());
    }
}
