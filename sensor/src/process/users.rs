//! User names and home directories by user id, cached (NSS lookups are slow and events are many).

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// What the account database says about one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: Option<Arc<str>>,
    pub home: Option<Arc<str>>,
}

#[derive(Debug, Default)]
pub struct Users {
    known: FxHashMap<u32, UserInfo>,
}

impl Users {
    pub fn get(&mut self, uid: u32) -> &UserInfo {
        self.known.entry(uid).or_insert_with(|| {
            match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
            {
                Some(user) => UserInfo {
                    name: Some(Arc::from(user.name)),
                    home: Some(Arc::from(user.dir.to_string_lossy().as_ref())),
                },
                None => UserInfo::default(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_and_cached() {
        let mut users = Users::default();
        assert_eq!(users.get(0).name.as_deref(), Some("root"));
        assert_eq!(users.get(0).home.as_deref(), Some("/root"));
        assert_eq!(users.known.len(), 1);
        assert_eq!(users.get(4_000_000_000), &UserInfo::default());
    }
}
