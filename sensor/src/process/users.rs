//! User names for user ids, cached (NSS lookups are slow and events are many).

use std::{collections::HashMap, sync::Arc};

#[derive(Debug, Default)]
pub struct UserNames {
    names: HashMap<u32, Option<Arc<str>>>,
}

impl UserNames {
    pub fn name(&mut self, uid: u32) -> Option<Arc<str>> {
        self.names
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|user| Arc::from(user.name))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_and_cached() {
        let mut names = UserNames::default();
        assert_eq!(names.name(0).as_deref(), Some("root"));
        assert_eq!(names.names.len(), 1);
        assert_eq!(names.name(0).as_deref(), Some("root"));
        assert_eq!(names.names.len(), 1);
    }
}
