//! The kernel's list of spawner programs (`SPAWNERS`), which the BPF LSM `unix_stream_connect`
//! hook consults to tell a hand-off from an ordinary unix connect: the configuration's
//! `handoff.spawner_programs`, and the systemd user manager through its private socket only.

use aya::maps::MapError;
use sensor_common::{
    hash::name_hash,
    maps::{MAX_SPAWNERS, SPAWNER_ANY_SOCKET, SPAWNER_PRIVATE_SOCKET},
};

use super::loader::Capture;

/// The user manager: a spawner through `/run/user/UID/systemd/private` only.
const USER_MANAGER: &str = "systemd";

/// The map's entries for `programs`: each a spawner on any socket; systemd on its private socket
/// unless the list names it.
pub fn entries(programs: &[String]) -> Vec<(u64, u32)> {
    let mut entries: Vec<(u64, u32)> = programs
        .iter()
        .map(|name| (name_hash(name.as_bytes()), SPAWNER_ANY_SOCKET))
        .collect();
    if !programs.iter().any(|name| name == USER_MANAGER) {
        entries.push((name_hash(USER_MANAGER.as_bytes()), SPAWNER_PRIVATE_SOCKET));
    }
    entries.truncate(MAX_SPAWNERS as usize);
    entries
}

impl Capture {
    /// Replaces the kernel's spawner programs with `programs` (and the user manager).
    pub fn set_spawner_programs(&mut self, programs: &[String]) -> Result<(), MapError> {
        let old: Vec<u64> = self.spawners.keys().filter_map(Result::ok).collect();
        let new = entries(programs);
        for key in old {
            if !new.iter().any(|(hash, _)| *hash == key) {
                self.spawners.remove(&key)?;
            }
        }
        for (hash, flags) in new {
            self.spawners.insert(hash, flags, 0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_manager_is_a_spawner_through_its_private_socket_unless_listed() {
        let built_in = entries(&["tmux".to_string(), "screen".to_string()]);
        assert_eq!(built_in.len(), 3);
        assert!(built_in.contains(&(name_hash(b"tmux"), SPAWNER_ANY_SOCKET)));
        assert!(built_in.contains(&(name_hash(b"systemd"), SPAWNER_PRIVATE_SOCKET)));
        let listed = entries(&["systemd".to_string()]);
        assert_eq!(listed, [(name_hash(b"systemd"), SPAWNER_ANY_SOCKET)]);
    }
}
