//! Reading processes from /proc: the seed of the process table, and the descendants of a process
//! that is already running when a session is started for it (`--pid`).

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::{Path, PathBuf},
};

/// What /proc says about one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcSnapshot {
    pub pid: u32,
    pub ppid: u32,
    pub executable: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Start time in `CLOCK_BOOTTIME` nanoseconds.
    pub start_boottime_ns: u64,
    /// The cgroup v2 path (`0::/…` line of /proc/PID/cgroup).
    pub cgroup: Option<String>,
    /// The short command name (`comm`).
    pub comm: String,
}

/// The /proc of this machine, or a copy for tests.
#[derive(Clone, Debug)]
pub struct Procfs {
    root: PathBuf,
    clock_ticks: u64,
}

impl Default for Procfs {
    fn default() -> Self {
        Self::new("/proc")
    }
}

impl Procfs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&t| t > 0)
            .unwrap_or(100) as u64;
        Self {
            root: root.into(),
            clock_ticks: ticks,
        }
    }

    fn dir(&self, pid: u32) -> PathBuf {
        self.root.join(pid.to_string())
    }

    /// Every numeric entry of /proc.
    pub fn pids(&self) -> Vec<u32> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// Reads one process; `None` when it vanished or cannot be read.
    pub fn snapshot(&self, pid: u32) -> Option<ProcSnapshot> {
        let dir = self.dir(pid);
        let stat = fs::read_to_string(dir.join("stat")).ok()?;
        let (comm, ppid, start_ticks) = parse_stat(&stat)?;
        let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
        let (uid, gid) = parse_status_ids(&status);
        Some(ProcSnapshot {
            pid,
            ppid,
            executable: read_link(&dir.join("exe")),
            args: fs::read(dir.join("cmdline"))
                .map(|raw| split_nul(&raw))
                .unwrap_or_default(),
            cwd: read_link(&dir.join("cwd")),
            uid,
            gid,
            start_boottime_ns: start_ticks.saturating_mul(1_000_000_000 / self.clock_ticks),
            cgroup: fs::read_to_string(dir.join("cgroup"))
                .ok()
                .and_then(|text| parse_cgroup_v2(&text)),
            comm,
        })
    }

    /// One variable of the process's initial environment (`/proc/PID/environ`).
    pub fn environ_var(&self, pid: u32, name: &str) -> Option<String> {
        let raw = fs::read(self.dir(pid).join("environ")).ok()?;
        raw.split(|&b| b == 0).find_map(|entry| {
            let entry = std::str::from_utf8(entry).ok()?;
            let (key, value) = entry.split_once('=')?;
            (key == name).then(|| value.to_string())
        })
    }

    /// Parent of every process, for walking trees.
    pub fn parents(&self) -> HashMap<u32, u32> {
        self.pids()
            .into_iter()
            .filter_map(|pid| {
                let stat = fs::read_to_string(self.dir(pid).join("stat")).ok()?;
                Some((pid, parse_stat(&stat)?.1))
            })
            .collect()
    }

    /// The descendants of `root` (not including it) as /proc shows them now.
    pub fn descendants(&self, root: u32) -> Vec<u32> {
        let parents = self.parents();
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&pid, &ppid) in &parents {
            children.entry(ppid).or_default().push(pid);
        }
        let mut found = Vec::new();
        let mut seen = HashSet::from([root]);
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(child) {
                    found.push(child);
                    stack.push(child);
                }
            }
        }
        found
    }
}

fn read_link(path: &Path) -> String {
    fs::read_link(path)
        .map(|target| target.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn split_nul(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// `(comm, ppid, starttime)` from /proc/PID/stat; comm may hold spaces and parentheses.
pub fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After ")": state(0) ppid(1) … starttime is field 22 of the line, index 19 here.
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((comm, ppid, start))
}

/// Real uid and gid from /proc/PID/status.
fn parse_status_ids(status: &str) -> (u32, u32) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Uid:"), field("Gid:"))
}

/// The cgroup v2 path from /proc/PID/cgroup (`0::/path`).
pub fn parse_cgroup_v2(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_comm() {
        let stat = "1234 (a (weird) name) S 77 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4242 0 0";
        assert_eq!(parse_stat(stat), Some(("a (weird) name".to_string(), 77, 4242)));
    }

    #[test]
    fn cgroup_v2_line_is_found_among_v1_lines() {
        let text = "12:pids:/user.slice\n0::/agent-sensor/session-1\n1:name=systemd:/x\n";
        assert_eq!(parse_cgroup_v2(text).as_deref(), Some("/agent-sensor/session-1"));
        assert_eq!(parse_cgroup_v2("3:cpu:/\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let procfs = Procfs::default();
        let me = procfs.snapshot(std::process::id()).expect("own /proc entry");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.executable.is_empty());
        assert!(me.cwd.starts_with('/'));
        assert!(me.start_boottime_ns > 0);
    }

    #[test]
    fn reads_the_environment_of_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env("AGENT_SENSOR_TEST_VAR", "hello")
            .spawn()
            .expect("spawn sleep");
        // Until the child has executed `sleep`, /proc shows the environment it was forked with.
        let mut value = None;
        for _ in 0..200 {
            value = Procfs::default().environ_var(child.id(), "AGENT_SENSOR_TEST_VAR");
            if value.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(value.as_deref(), Some("hello"));
    }

    #[test]
    fn finds_descendants_of_a_real_tree() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .expect("spawn sh");
        let root = child.id();
        let procfs = Procfs::default();
        let mut descendants = Vec::new();
        for _ in 0..100 {
            descendants = procfs.descendants(root);
            if !descendants.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for &pid in &descendants {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(descendants.len(), 1, "sleep should be the only descendant");
    }
}
