//! Who is at the other end of an operation that reaches into another process: the server behind
//! the unix socket of a program that runs commands for its clients (tmux, screen, the systemd
//! user manager), and the target of ptrace, process_vm_writev or a write to /proc/PID/mem. A peer
//! outside the session is how work escapes the tracked tree (`session-escape` in the default
//! pack): the command typed into the user's tmux runs in the tmux server's tree, not the agent's.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use globset::GlobSet;

use crate::config::handoff::HandoffConfig;

/// `agent_sensor.peer.*`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerInfo {
    pub pid: u32,
    /// The peer's program name (`tmux`, `screen`, `systemd`…).
    pub name: String,
    /// The peer is a process of the same session.
    pub in_session: bool,
}

/// How long a socket's listener is remembered (tmux clients connect often).
const REMEMBERED: Duration = Duration::from_secs(2);

/// How long the list of running spawner programs is trusted. A session that connects to many
/// sockets (a test suite binding one per test) costs one walk over /proc per period, not one per
/// socket; a server started within the period before the connect is missed.
const SPAWNERS_REMEMBERED: Duration = Duration::from_secs(1);

/// Listeners of spawner sockets, looked up in /proc and remembered briefly.
#[derive(Debug)]
pub struct Peers {
    /// Sockets at spawners' usual places (`handoff.spawner_sockets`).
    sockets: GlobSet,
    /// Programs whose server runs commands for any client (`handoff.spawner_programs`).
    programs: Vec<String>,
    listeners: HashMap<String, (Instant, Option<u32>)>,
    /// The processes running a spawner program, and when they were listed.
    spawners: Option<(Instant, Vec<u32>)>,
}

impl Default for Peers {
    /// The built-in lists (docs/enforcement.md, "Hand-offs out of the session").
    fn default() -> Self {
        Self::new(&HandoffConfig::default())
    }
}

impl Peers {
    /// Peers by the spawner lists of `config` (validated when the configuration was read; a
    /// socket list that does not compile matches no socket).
    pub fn new(config: &HandoffConfig) -> Self {
        Self {
            sockets: config.socket_set().unwrap_or_else(|_| GlobSet::empty()),
            programs: config.spawner_programs.clone(),
            listeners: HashMap::new(),
            spawners: None,
        }
    }

    /// The process listening on the spawner socket `path`: a socket at a spawner's usual place,
    /// or one whose listener is a spawner program; `None` for other sockets.
    pub fn listener(&mut self, path: &str) -> Option<u32> {
        let now = Instant::now();
        if let Some((at, pid)) = self.listeners.get(path)
            && now.duration_since(*at) < REMEMBERED
        {
            return *pid;
        }
        if self.listeners.len() > 256 {
            self.listeners.clear();
        }
        let pid = if self.sockets.is_match(path) {
            socket_inode(path).and_then(|inode| owner_of_socket(inode, all_processes()))
        } else {
            self.spawner_listener(path, now)
        };
        self.listeners.insert(path.to_string(), (now, pid));
        pid
    }

    /// The spawner program (`handoff.spawner_programs`) listening on `path`, wherever it is: only their
    /// descriptors are searched, and without one running nothing is.
    fn spawner_listener(&mut self, path: &str, now: Instant) -> Option<u32> {
        let fresh = self
            .spawners
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) < SPAWNERS_REMEMBERED);
        if !fresh {
            let running = all_processes()
                .filter(|pid| is_spawner_program(*pid, &self.programs))
                .collect();
            self.spawners = Some((now, running));
        }
        let running = self
            .spawners
            .as_ref()
            .map(|(_, pids)| pids.as_slice())
            .unwrap_or_default();
        if running.is_empty() {
            return None;
        }
        owner_of_socket(socket_inode(path)?, running.iter().copied())
    }
}

/// Whether `pid` runs one of the spawner `programs`: its name (`tmux: server`, `screen`) says so
/// and its executable confirms it.
fn is_spawner_program(pid: u32, programs: &[String]) -> bool {
    let name = name_of(pid);
    let named = |program: &str| {
        name.strip_prefix(program)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    };
    if !programs.iter().any(|program| named(program)) {
        return false;
    }
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe.file_name()
            .and_then(|base| base.to_str())
            .is_some_and(|base| programs.iter().any(|program| program == base))
    })
}

/// Every process id in /proc.
fn all_processes() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

/// The target process of `/proc/PID/mem` (and `/proc/PID/task/TID/mem`).
pub fn proc_mem_target(path: &str) -> Option<u32> {
    let rest = path.strip_prefix("/proc/")?;
    let (pid, tail) = rest.split_once('/')?;
    let is_mem = tail == "mem" || tail.strip_prefix("task/").is_some_and(|t| t.ends_with("/mem"));
    if !is_mem {
        return None;
    }
    pid.parse().ok()
}

/// The inode of the listening unix socket bound to `path` (from /proc/net/unix).
fn socket_inode(path: &str) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    listening_inode(&table, path)
}

/// `Num RefCount Protocol Flags Type St Inode Path`: the listening entry (`Flags` with
/// `__SO_ACCEPTCON`, 0x10000) bound to `path`.
fn listening_inode(table: &str, path: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, _, _, flags, _, _, inode, bound] = fields.get(..8)?.try_into().ok()?;
        let listening = u64::from_str_radix(flags, 16).is_ok_and(|f| f & 0x10000 != 0);
        (listening && bound == path).then(|| inode.parse().ok()).flatten()
    })
}

/// The first of `pids` holding socket `inode` open.
fn owner_of_socket(inode: u64, mut pids: impl Iterator<Item = u32>) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    pids.find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.filter_map(Result::ok)
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str()))
        })
    })
}

/// The program name of a live process (`comm`).
pub fn name_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim_end().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_entry_of_a_path_is_found() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4242 /tmp/tmux-1000/default\n\
            0000000000000000: 00000003 00000000 00000000 0001 03 4243 /tmp/tmux-1000/default\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 777 /run/user/1000/bus\n";
        assert_eq!(listening_inode(table, "/tmp/tmux-1000/default"), Some(4242));
        assert_eq!(listening_inode(table, "/tmp/tmux-1000/other"), None);
    }

    #[test]
    fn only_spawner_sockets_are_looked_up() {
        let built_in = Peers::default().sockets;
        assert!(built_in.is_match("/tmp/tmux-1000/default"));
        assert!(built_in.is_match("/run/screen/S-alice/1234.pts-0.host"));
        assert!(built_in.is_match("/run/user/1000/systemd/private"));
        assert!(!built_in.is_match("/run/user/1000/bus"));
        assert!(!built_in.is_match("/var/run/nscd/socket"));
        let configured = Peers::new(&HandoffConfig {
            spawner_programs: vec!["zellij".to_string()],
            spawner_sockets: vec!["/run/user/*/zellij/**".to_string()],
        });
        assert!(configured.sockets.is_match("/run/user/1000/zellij/0.40/main"));
        assert!(!configured.sockets.is_match("/tmp/tmux-1000/default"));
        assert_eq!(configured.programs, ["zellij"]);
    }

    #[test]
    fn proc_mem_paths_name_their_process() {
        assert_eq!(proc_mem_target("/proc/123/mem"), Some(123));
        assert_eq!(proc_mem_target("/proc/123/task/124/mem"), Some(123));
        assert_eq!(proc_mem_target("/proc/123/maps"), None);
        assert_eq!(proc_mem_target("/proc/self/mem"), None);
    }

    #[test]
    fn a_live_listener_is_found_by_its_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Not a spawner path: look the inode up directly.
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let inode = socket_inode(&path.display().to_string()).expect("listed in /proc/net/unix");
        assert_eq!(owner_of_socket(inode, all_processes()), Some(std::process::id()));
        // This test program is no spawner, so its socket names no peer.
        assert_eq!(Peers::default().listener(&path.display().to_string()), None);
    }
}
