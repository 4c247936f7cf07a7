//! Keeping the protected identities current between policy refreshes: inotify on the directories
//! the table was seeded from; a change there (a key created, a directory renamed, a file linked)
//! marks the table for a re-seed at the next tick (at most once a second).

use std::path::PathBuf;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Most directories watched (each is one inotify watch of the sensor's user).
const MAX_WATCHES: usize = 4_096;

/// What changes a protected directory's contents or names.
fn flags() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
}

/// The inotify watches on the seeded directories.
#[derive(Default)]
pub struct IdentityWatch {
    inotify: Option<Inotify>,
    watching: Vec<PathBuf>,
}

impl IdentityWatch {
    /// Watches `dirs` (the directories the current table was seeded from) instead of the previous
    /// ones. Without inotify (logged once), identities follow the policy refresh only.
    pub fn watch(&mut self, dirs: &[PathBuf]) {
        if dirs == self.watching.as_slice() {
            return;
        }
        // A fresh instance drops every old watch at once.
        self.inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(inotify) => Some(inotify),
            Err(error) => {
                if self.watching.is_empty() {
                    tracing::warn!(%error, "inotify is unavailable: protected identities follow the policy refresh only");
                }
                None
            }
        };
        self.watching = dirs.to_vec();
        let Some(inotify) = self.inotify.as_ref() else {
            return;
        };
        if dirs.len() > MAX_WATCHES {
            tracing::debug!(
                dirs = dirs.len(),
                watched = MAX_WATCHES,
                "more protected directories than watches"
            );
        }
        for dir in dirs.iter().take(MAX_WATCHES) {
            let _ = inotify.add_watch(dir.as_path(), flags());
        }
    }

    /// True when a watched directory changed since the last call.
    pub fn changed(&mut self) -> bool {
        let Some(inotify) = self.inotify.as_ref() else {
            return false;
        };
        let mut changed = false;
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            changed = true;
        }
        changed
    }
}
