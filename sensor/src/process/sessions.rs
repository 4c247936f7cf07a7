//! Agent sessions: one agent run and its whole process tree, named after its profile (or the name
//! given to `watch --name`), identified by a 64-bit id.

use std::{collections::HashMap, sync::Arc};

/// How a session came to be tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `agent-sensor watch -- COMMAND`.
    Watch,
    /// An agent profile matched an exec in the kernel.
    Profile,
    /// A running process adopted by `--pid` or found at start-up.
    Adopted,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watch => "watch",
            Self::Profile => "profile",
            Self::Adopted => "adopted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: u64,
    /// The agent's name (`gen_ai.agent.name`).
    pub agent: Arc<str>,
    pub root_pid: u32,
    pub origin: Origin,
    /// The directory the agent started in (`agent_sensor.session.working_directory`).
    pub working_directory: Option<Arc<str>>,
    /// `HOME` of the agent when it started, and the uid it applies to: `~` in rules means this
    /// for events of that user (the agent's own idea of home), the account's home otherwise.
    pub home: Option<SessionHome>,
    /// Processes of the session still alive, as far as events tell.
    pub live_processes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionHome {
    pub uid: u32,
    pub dir: Arc<str>,
}

impl Session {
    /// A session with one live process (its root) and nothing else known yet.
    pub fn new(id: u64, agent: impl Into<Arc<str>>, root_pid: u32, origin: Origin) -> Self {
        Self {
            id,
            agent: agent.into(),
            root_pid,
            origin,
            working_directory: None,
            home: None,
            live_processes: 1,
        }
    }
}

/// A session id chosen by userspace (`watch`, `--pid`): random, with the kernel's bit clear so it
/// never collides with an id the kernel chose.
pub fn new_session_id() -> u64 {
    crate::random::random_u64() & !sensor_common::maps::KERNEL_SESSION_BIT
}

/// `gen_ai.agent.id` of a session: its id as 16 hex digits.
pub fn agent_id(id: u64) -> String {
    format!("{id:016x}")
}

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: HashMap<u64, Session>,
    /// Sessions started and ended since `take_changes` was last called.
    changes: Vec<SessionChange>,
}

/// A session starting or ending, for those who keep state per session (the enforcer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionChange {
    Started(Session),
    Ended(u64),
}

impl Sessions {
    /// Registers a session (the first registration of an id wins).
    pub fn start(&mut self, session: Session) -> &Session {
        if !self.sessions.contains_key(&session.id) {
            self.changes.push(SessionChange::Started(session.clone()));
        }
        self.sessions.entry(session.id).or_insert(session)
    }

    /// The sessions started and ended since the last call.
    pub fn take_changes(&mut self) -> Vec<SessionChange> {
        std::mem::take(&mut self.changes)
    }

    pub fn get(&self, id: u64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn process_started(&mut self, id: u64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.live_processes += 1;
        }
    }

    /// Counts an exit; returns the session when it has no process left.
    pub fn process_exited(&mut self, id: u64) -> Option<Session> {
        let session = self.sessions.get_mut(&id)?;
        session.live_processes = session.live_processes.saturating_sub(1);
        if session.live_processes == 0 {
            self.changes.push(SessionChange::Ended(id));
            self.sessions.remove(&id)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_with_its_last_process() {
        let mut sessions = Sessions::default();
        sessions.start(Session::new(5, "codex", 100, Origin::Profile));
        sessions.process_started(5);
        assert!(sessions.process_exited(5).is_none());
        let ended = sessions.process_exited(5).expect("ended");
        assert_eq!(&*ended.agent, "codex");
        assert!(sessions.is_empty());
        assert!(sessions.get(5).is_none());
    }

    #[test]
    fn agent_ids_are_fixed_width_hex() {
        assert_eq!(agent_id(0xab), "00000000000000ab");
        assert_eq!(agent_id(u64::MAX), "ffffffffffffffff");
    }
}
