//! The home directories `~` stands for in kernel rules: every local account that can log in (root
//! and uids from 1000), plus the `HOME` of each agent session, whatever it is.

use std::{collections::BTreeSet, ffi::CStr, path::Path, sync::Mutex};

/// `getpwent` walks shared state: one walk at a time.
static PASSWD: Mutex<()> = Mutex::new(());

/// First uid of regular accounts (Debian's and Fedora's `UID_MIN`).
const UID_MIN: u32 = 1000;
/// `nobody` and other high system accounts.
const UID_MAX: u32 = 60000;

/// The home directories of root and the regular accounts that exist on disk.
pub fn account_homes() -> Vec<String> {
    let _guard = PASSWD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut homes = BTreeSet::new();
    // SAFETY: setpwent/getpwent/endpwent are used under a lock, and every field is copied out
    // before the next call reuses the buffer.
    unsafe {
        libc::setpwent();
        loop {
            let entry = libc::getpwent();
            if entry.is_null() {
                break;
            }
            let uid = (*entry).pw_uid;
            if uid != 0 && !(UID_MIN..UID_MAX).contains(&uid) {
                continue;
            }
            if (*entry).pw_dir.is_null() {
                continue;
            }
            let dir = CStr::from_ptr((*entry).pw_dir).to_string_lossy().into_owned();
            homes.insert(dir);
        }
        libc::endpwent();
    }
    homes.into_iter().filter(|dir| usable(dir)).collect()
}

/// A home worth protecting: absolute, not `/`, and present.
pub fn usable(dir: &str) -> bool {
    dir.starts_with('/') && dir != "/" && Path::new(dir).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_home_is_listed() {
        let homes = account_homes();
        assert!(homes.iter().any(|home| home == "/root") || !Path::new("/root").is_dir());
        assert!(homes.iter().all(|home| home.starts_with('/') && home != "/"));
    }
}
