//! Agent sessions: one agent run and its whole process tree, named after its profile (or the name
//! given to `watch --name`), identified by a 64-bit id.

use std::sync::Arc;

use rustc_hash::FxHashMap;

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

/// A session id an operator typed did not name exactly one session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionLookupError {
    #[error("`{0}` is not a session id (the 16 hex digits of gen_ai.agent.id, or a prefix of them)")]
    Malformed(String),
    #[error("no session {0} (`agent-sensor session list` shows them)")]
    Unknown(String),
    #[error("{query} names several sessions: {}", .matches.join(", "))]
    Ambiguous { query: String, matches: Vec<String> },
}

/// `query` as a session id or prefix (lower-case hex, at most 16 digits).
pub fn session_query(query: &str) -> Result<String, SessionLookupError> {
    let query = query.trim().to_ascii_lowercase();
    if query.is_empty() || query.len() > 16 || !query.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SessionLookupError::Malformed(query));
    }
    Ok(query)
}

/// The candidate whose id is `query`, or whose id alone starts with it (as `agent_id` spells it).
/// The first candidate with a given id wins.
pub fn find_session<T>(
    query: &str,
    candidates: impl IntoIterator<Item = (u64, T)>,
) -> Result<(u64, T), SessionLookupError> {
    let query = session_query(query)?;
    let mut matches: Vec<(u64, T)> = Vec::new();
    for (id, candidate) in candidates {
        let text = agent_id(id);
        if text == query {
            return Ok((id, candidate));
        }
        if text.starts_with(&query) && !matches.iter().any(|(seen, _)| *seen == id) {
            matches.push((id, candidate));
        }
    }
    match matches.len() {
        0 => Err(SessionLookupError::Unknown(query)),
        1 => Ok(matches.remove(0)),
        _ => Err(SessionLookupError::Ambiguous {
            query,
            matches: matches.iter().map(|(id, _)| agent_id(*id)).collect(),
        }),
    }
}

#[derive(Debug, Default)]
pub struct Sessions {
    /// By id (looked up at every event; Fx, as the ids are the sensor's and the kernel's).
    sessions: FxHashMap<u64, Session>,
    /// Sessions started and ended since `take_changes` was last called.
    changes: Vec<SessionChange>,
    /// Sessions that ended in the last moments: records the kernel wrote before the end may
    /// still arrive (the priority ring) and name their session.
    ended: std::collections::VecDeque<(std::time::Instant, Session)>,
}

/// How long an ended session stays known.
const ENDED_FOR: std::time::Duration = std::time::Duration::from_secs(2);

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

    /// True while the session has live processes.
    pub fn is_live(&self, id: u64) -> bool {
        self.sessions.contains_key(&id)
    }

    /// A live session, or one that ended moments ago.
    pub fn get(&self, id: u64) -> Option<&Session> {
        self.sessions.get(&id).or_else(|| {
            self.ended
                .iter()
                .rev()
                .find(|(_, session)| session.id == id)
                .map(|(_, session)| session)
        })
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
            let now = std::time::Instant::now();
            while self
                .ended
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) >= ENDED_FOR)
            {
                self.ended.pop_front();
            }
            let ended = self.sessions.remove(&id)?;
            self.ended.push_back((now, ended.clone()));
            Some(ended)
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
        assert!(sessions.get(5).is_some(), "known for records that arrive after the end");
    }

    #[test]
    fn a_session_outlives_its_root_while_a_descendant_lives() {
        let mut sessions = Sessions::default();
        sessions.start(Session::new(9, "claude-code", 100, Origin::Profile));
        sessions.process_started(9); // a daemonised child
        assert!(sessions.process_exited(9).is_none(), "the root exits first");
        assert_eq!(sessions.get(9).map(|s| s.live_processes), Some(1));
        assert_eq!(sessions.take_changes().len(), 1, "only the start so far");
        assert!(sessions.process_exited(9).is_some(), "the child's exit ends it");
        assert_eq!(sessions.take_changes(), vec![SessionChange::Ended(9)]);
    }

    #[test]
    fn session_ids_are_found_by_full_id_or_unique_prefix() {
        let candidates = || {
            vec![
                (0x5c0d_3f0e_2b1a_9f44u64, "a"),
                (0x5c0e_0000_0000_0001, "b"),
                (0xab, "c"),
            ]
        };
        assert_eq!(
            find_session("5c0d3f0e2b1a9f44", candidates()),
            Ok((0x5c0d_3f0e_2b1a_9f44, "a"))
        );
        assert_eq!(find_session("5C0D", candidates()), Ok((0x5c0d_3f0e_2b1a_9f44, "a")));
        assert_eq!(find_session("00000000000000ab", candidates()), Ok((0xab, "c")));
        assert!(matches!(
            find_session("5c0", candidates()),
            Err(SessionLookupError::Ambiguous { matches, .. }) if matches.len() == 2
        ));
        assert_eq!(
            find_session("ffff", candidates()),
            Err(SessionLookupError::Unknown("ffff".into()))
        );
        assert!(matches!(
            find_session("xyz", candidates()),
            Err(SessionLookupError::Malformed(_))
        ));
        assert!(matches!(
            find_session("", candidates()),
            Err(SessionLookupError::Malformed(_))
        ));
        // The same id from two sources is one session.
        assert_eq!(
            find_session("5c0d", vec![(0x5c0d_0000_0000_0000u64, 1), (0x5c0d_0000_0000_0000, 2)]),
            Ok((0x5c0d_0000_0000_0000, 1))
        );
    }

    #[test]
    fn agent_ids_are_fixed_width_hex() {
        assert_eq!(agent_id(0xab), "00000000000000ab");
        assert_eq!(agent_id(u64::MAX), "ffffffffffffffff");
    }
}
