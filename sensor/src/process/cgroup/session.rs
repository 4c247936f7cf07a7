//! The cgroup of one agent session, under `<hierarchy>/agent-sensor/`: `watch-<id>` for a `watch`
//! session (made before COMMAND starts), `session-<id>` for a daemon session (made when the daemon
//! first freezes or kills it). The id is the session's `gen_ai.agent.id`.

use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::CgroupError;
use crate::process::agent_id;

/// The two lines of `cgroup.events`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupEvents {
    /// Some process is in the cgroup or one of its descendants.
    pub populated: bool,
    /// Every process of the cgroup is frozen (an empty cgroup asked to freeze counts as frozen).
    pub frozen: bool,
}

impl CgroupEvents {
    pub fn parse(text: &str) -> Self {
        let mut events = Self::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("populated", value)) => events.populated = value.trim() == "1",
                Some(("frozen", value)) => events.frozen = value.trim() == "1",
                _ => {}
            }
        }
        events
    }
}

/// The directory under the hierarchy root that holds the sessions' cgroups.
pub const PARENT: &str = "agent-sensor";

/// Which sensor made a session cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CgroupKind {
    /// `agent-sensor watch`: the session's processes started in it.
    Watch,
    /// The daemon: the session's processes were moved into it.
    Session,
}

impl CgroupKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Watch => "watch-",
            Self::Session => "session-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watch => "watch",
            Self::Session => "daemon",
        }
    }

    /// The kind and session id a directory name stands for (`watch-<16 hex digits>`).
    pub fn parse(name: &str) -> Option<(Self, u64)> {
        [Self::Watch, Self::Session].into_iter().find_map(|kind| {
            let hex = name.strip_prefix(kind.prefix())?;
            (hex.len() == 16)
                .then(|| u64::from_str_radix(hex, 16).ok())
                .flatten()
                .map(|id| (kind, id))
        })
    }
}

/// A cgroup this sensor created for one agent session.
#[derive(Clone, Debug)]
pub struct SessionCgroup {
    path: PathBuf,
    /// The path relative to the hierarchy root, as /proc/PID/cgroup shows it.
    relative: Arc<str>,
}

impl SessionCgroup {
    /// Creates `<hierarchy>/agent-sensor/<name>` (or takes it as it is when it exists).
    pub fn create(hierarchy: &Path, name: &str) -> Result<Self, CgroupError> {
        let path = hierarchy.join(PARENT).join(name);
        fs::create_dir_all(&path).map_err(|source| CgroupError::Create {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            relative: format!("/{PARENT}/{name}").into(),
        })
    }

    /// Creates the cgroup of `session` made by `kind`.
    pub fn for_session(hierarchy: &Path, kind: CgroupKind, session: u64) -> Result<Self, CgroupError> {
        Self::create(hierarchy, &format!("{}{}", kind.prefix(), agent_id(session)))
    }

    /// An existing session cgroup by its path relative to the hierarchy root
    /// (`/agent-sensor/watch-…`); refuses any other cgroup.
    pub fn open(hierarchy: &Path, relative: &str) -> Result<Self, CgroupError> {
        let name = relative
            .strip_prefix(&format!("/{PARENT}/"))
            .filter(|name| CgroupKind::parse(name).is_some())
            .ok_or_else(|| CgroupError::NotASession(relative.to_string()))?;
        let path = hierarchy.join(PARENT).join(name);
        if !path.is_dir() {
            return Err(CgroupError::Read {
                path,
                source: io::Error::from(io::ErrorKind::NotFound),
            });
        }
        Ok(Self {
            path,
            relative: relative.into(),
        })
    }

    /// The session cgroups present now, with their kind and session id.
    pub fn list(hierarchy: &Path) -> Vec<(CgroupKind, u64, SessionCgroup)> {
        let Ok(entries) = fs::read_dir(hierarchy.join(PARENT)) else {
            return Vec::new();
        };
        let mut found: Vec<_> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let (kind, id) = CgroupKind::parse(&name)?;
                Some((
                    kind,
                    id,
                    SessionCgroup {
                        path: entry.path(),
                        relative: format!("/{PARENT}/{name}").into(),
                    },
                ))
            })
            .collect();
        found.sort_by_key(|(_, id, _)| *id);
        found
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn relative(&self) -> Arc<str> {
        self.relative.clone()
    }

    /// Moves a process (and, by inheritance, its future children) into this cgroup.
    pub fn attach(&self, pid: u32) -> Result<(), CgroupError> {
        fs::write(self.path.join("cgroup.procs"), pid.to_string()).map_err(|source| CgroupError::Attach {
            pid,
            path: self.path.clone(),
            source,
        })
    }

    /// Whether process `pid` is in this cgroup; `None` when it is gone.
    pub fn holds(&self, pid: u32) -> Option<bool> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
        Some(path == &*self.relative)
    }

    /// Kills every process in the cgroup (`cgroup.kill`, Linux 5.14+): atomically with respect
    /// to forks inside it, and frozen processes die too.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        self.write("cgroup.kill", "1")
    }

    /// Asks the kernel to freeze every process in the cgroup, and any process moved in later
    /// (`cgroup.freeze`). Freezing completes asynchronously: `cgroup.events` says `frozen 1`.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.write("cgroup.freeze", "1")
    }

    /// Lets the cgroup's processes run again.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.write("cgroup.freeze", "0")
    }

    /// Whether a freeze is asked for (`cgroup.freeze`), complete or not.
    pub fn freeze_requested(&self) -> Result<bool, CgroupError> {
        Ok(self.read("cgroup.freeze")?.trim() == "1")
    }

    /// `cgroup.events`: whether processes are in it, whether it is frozen.
    pub fn events(&self) -> Result<CgroupEvents, CgroupError> {
        Ok(CgroupEvents::parse(&self.read("cgroup.events")?))
    }

    /// The pids still in the cgroup.
    pub fn pids(&self) -> Vec<u32> {
        self.read("cgroup.procs")
            .map(|text| text.lines().filter_map(|line| line.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Removes the cgroup; fails (and keeps it) while processes remain in it.
    pub fn remove(&self) -> io::Result<()> {
        fs::remove_dir(&self.path)
    }

    /// The cgroup id the kernel reports for tasks in it (the directory's inode number).
    pub fn id(&self) -> io::Result<u64> {
        Ok(fs::metadata(&self.path)?.ino())
    }

    fn write(&self, file: &str, value: &str) -> Result<(), CgroupError> {
        let path = self.path.join(file);
        fs::write(&path, value).map_err(|source| CgroupError::Write { path, source })
    }

    fn read(&self, file: &str) -> Result<String, CgroupError> {
        let path = self.path.join(file);
        fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_session_cgroups_carry_kind_and_id() {
        assert_eq!(
            CgroupKind::parse("watch-00000000000000ab"),
            Some((CgroupKind::Watch, 0xab))
        );
        assert_eq!(
            CgroupKind::parse("session-8000000000000001"),
            Some((CgroupKind::Session, 0x8000_0000_0000_0001))
        );
        assert_eq!(CgroupKind::parse("probe-1234"), None);
        assert_eq!(CgroupKind::parse("watch-ab"), None, "ids are 16 hex digits");
        assert_eq!(CgroupKind::parse("watch-00000000000000zz"), None);
    }

    #[test]
    fn only_session_cgroups_can_be_opened_by_name() {
        let root = Path::new("/nonexistent-hierarchy");
        assert!(matches!(
            SessionCgroup::open(root, "/user.slice"),
            Err(CgroupError::NotASession(_))
        ));
        assert!(matches!(
            SessionCgroup::open(root, "/agent-sensor/../user.slice"),
            Err(CgroupError::NotASession(_))
        ));
        assert!(matches!(
            SessionCgroup::open(root, "/agent-sensor/watch-00000000000000ab"),
            Err(CgroupError::Read { .. })
        ));
    }
}
