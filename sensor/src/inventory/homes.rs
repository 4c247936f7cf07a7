//! Whose homes a scan reads: the current user's, one named user's, every local account's, or
//! directories given as homes (fixtures, mounted images).

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use nix::unistd::{Uid, User};

/// A home directory and its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    pub path: PathBuf,
    pub user: Option<String>,
    pub uid: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("no such user: {0}")]
    NoUser(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
}

/// The home of the user running the scan (`HOME`, else the account database).
pub fn current() -> Result<Home, HomeError> {
    let uid = Uid::current();
    let account = User::from_uid(uid).ok().flatten();
    let path = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| account.as_ref().map(|user| user.dir.clone()))
        .ok_or_else(|| HomeError::NoUser(uid.to_string()))?;
    Ok(Home {
        path,
        user: account.map(|user| user.name),
        uid: Some(uid.as_raw()),
    })
}

/// A named user's home, by name or numeric uid.
pub fn of_user(name: &str) -> Result<Home, HomeError> {
    let account = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    }
    .ok()
    .flatten()
    .ok_or_else(|| HomeError::NoUser(name.to_string()))?;
    Ok(Home {
        path: account.dir,
        user: Some(account.name),
        uid: Some(account.uid.as_raw()),
    })
}

/// Root's and every regular account's home that exists.
pub fn all_users() -> Vec<Home> {
    crate::enforce::homes::account_homes()
        .into_iter()
        .filter_map(|dir| of_dir(Path::new(&dir)).ok())
        .collect()
}

/// A directory scanned as a home; its owner is the account.
pub fn of_dir(path: &Path) -> Result<Home, HomeError> {
    let meta = std::fs::metadata(path)
        .ok()
        .filter(|meta| meta.is_dir())
        .ok_or_else(|| HomeError::NotADirectory(path.display().to_string()))?;
    let user = User::from_uid(Uid::from_raw(meta.uid()))
        .ok()
        .flatten()
        .map(|user| user.name);
    Ok(Home {
        path: path.to_path_buf(),
        user,
        uid: Some(meta.uid()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_resolve() {
        let root = of_user("root").expect("root exists");
        assert_eq!((root.uid, root.user.as_deref()), (Some(0), Some("root")));
        assert_eq!(of_user("0").map(|home| home.uid).ok(), Some(Some(0)));
        assert!(of_user("no-such-user-here").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            of_dir(dir.path()).map(|home| home.path).ok(),
            Some(dir.path().to_path_buf())
        );
        assert!(of_dir(&dir.path().join("missing")).is_err());
    }
}
