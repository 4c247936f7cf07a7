//! The cgroup v2 hierarchy: finding it, naming cgroup ids, and the cgroups of agent sessions:
//! creating them (`session`), watching their `cgroup.events` (`events`), freezing, thawing and
//! killing a session through its cgroup (`freezer`), and the sessions' cgroups of one sensor with
//! the changes announced to subscribers (`control`).

pub mod control;
pub mod events;
pub mod freezer;
pub mod session;

pub use control::{Actor, Happening, SessionCgroups, SessionStateChange, StateChange};
pub use events::EventsWatch;
pub use freezer::{CgroupOnly, Members, Outcome, SessionAction, SessionState};
pub use session::{CgroupEvents, CgroupKind, SessionCgroup};

use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustc_hash::FxHashMap;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo); mount one with \
         `mount -t cgroup2 none /sys/fs/cgroup/unified` or boot with systemd's unified hierarchy"
    )]
    NoHierarchy,
    #[error("cannot read /proc/self/mountinfo: {0}")]
    Mountinfo(io::Error),
    #[error("cannot create cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot move process {pid} into cgroup {path}: {source}")]
    Attach { pid: u32, path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot watch {path} for changes: {source}")]
    Watch { path: PathBuf, source: io::Error },
    #[error("{0} is not a session cgroup of agent-sensor (they are under /agent-sensor/)")]
    NotASession(String),
}

/// Where the cgroup v2 hierarchy is mounted (e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`).
pub fn find_cgroup2_mount() -> Result<PathBuf, CgroupError> {
    let text = fs::read_to_string("/proc/self/mountinfo").map_err(CgroupError::Mountinfo)?;
    cgroup2_mount_in(&text).ok_or(CgroupError::NoHierarchy)
}

/// The first cgroup2 mount point in the text of a mountinfo file.
pub fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fstype = after.split_whitespace().next()?;
        if fstype != "cgroup2" {
            return None;
        }
        let mount_point = before.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mount_path(mount_point)))
    })
}

/// Mountinfo escapes spaces and the like as `\040`.
fn unescape_mount_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if digits.len() == 3
                && let Ok(value) = u8::from_str_radix(&digits, 8)
            {
                out.push(value as char);
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Names cgroup ids (inode numbers of cgroup v2 directories) by their path, walking the
/// hierarchy on a miss and caching the answer.
#[derive(Debug, Default)]
pub struct CgroupNames {
    root: Option<PathBuf>,
    /// `None` remembers a miss, so a vanished cgroup is not searched for again at every event.
    names: FxHashMap<u64, Option<Arc<str>>>,
}

impl CgroupNames {
    pub fn new(root: Option<PathBuf>) -> Self {
        Self {
            root,
            names: FxHashMap::default(),
        }
    }

    pub fn insert(&mut self, id: u64, path: Arc<str>) {
        self.names.insert(id, Some(path));
    }

    /// The path of cgroup `id` relative to the hierarchy root (`/` for the root itself).
    pub fn name(&mut self, id: u64) -> Option<Arc<str>> {
        if let Some(name) = self.names.get(&id) {
            return name.clone();
        }
        let root = self.root.clone()?;
        let found: Option<Arc<str>> = find_inode(&root, &root, id, 0).map(Into::into);
        self.names.insert(id, found.clone());
        found
    }
}

fn find_inode(root: &Path, dir: &Path, id: u64, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    if fs::metadata(dir).ok()?.ino() == id {
        let relative = dir.strip_prefix(root).ok()?;
        return Some(format!("/{}", relative.display()));
    }
    for entry in fs::read_dir(dir).ok()?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Some(found) = find_inode(root, &entry.path(), id, depth + 1)
        {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_a_hybrid_layout() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";
        assert_eq!(
            cgroup2_mount_in(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount_in("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(unescape_mount_path("/mnt/with\\040space"), "/mnt/with space");
    }
}
