//! The cgroups of the sessions one sensor runs: freezing, thawing and killing them by session id
//! (`freezer` does the work), and telling whoever subscribed (the enforcer) when a session's
//! state changes, whoever changed it.
//!
//! A session with a cgroup of its own (`watch`) is acted on through that cgroup. A daemon session
//! has none until it is first frozen or killed: then `<hierarchy>/agent-sensor/session-<id>` is
//! made and its processes are gathered into it.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use nix::sys::inotify::WatchDescriptor;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{
    CgroupError,
    events::EventsWatch,
    freezer::{Members, Outcome, SessionAction, SessionState, act},
    session::{CgroupEvents, CgroupKind, SessionCgroup},
};
use crate::process::agent_id;

/// Who changed a session's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// `agent-sensor session freeze|thaw|kill` (through the daemon, or this process's own call
    /// on an operator's behalf).
    Operator,
    /// The sensor itself (enforcement).
    Sensor,
    /// Seen in `cgroup.events`: someone else wrote `cgroup.freeze` (an operator acting on the
    /// cgroup directly, or through the daemon for a `watch` session). The sensor never thaws by
    /// itself, so a thaw seen this way is an operator's.
    Observed,
}

/// A session's state changed; what the enforcer subscribes to (to reset its escalation once an
/// operator thawed a session it froze, for one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStateChange {
    pub session: u64,
    pub change: StateChange,
    pub by: Actor,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateChange {
    Frozen,
    Thawed,
    Killed { processes: usize },
}

/// What [`SessionCgroups::next`] found.
#[derive(Debug)]
pub enum Happening {
    /// Watched cgroups changed: each session's new `cgroup.events`.
    Changed(Vec<(u64, CgroupEvents)>),
    /// The sensor asked for an action on a session.
    Requested(u64, SessionAction),
}

async fn wait_for_watch(watch: &mut Option<EventsWatch>) -> std::io::Result<Vec<WatchDescriptor>> {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

/// The cgroups of the sessions one sensor runs, their freeze state, and who wants to hear about
/// changes. Changes made through [`SessionCgroups::apply`] are announced at once; changes made by
/// someone else (a `watch` session frozen through the daemon or by the CLI directly) are noticed
/// from `cgroup.events` by [`SessionCgroups::changed`].
#[derive(Debug)]
pub struct SessionCgroups {
    hierarchy: PathBuf,
    entries: HashMap<u64, Entry>,
    watch: Option<EventsWatch>,
    subscribers: Vec<UnboundedSender<SessionStateChange>>,
    requests: UnboundedSender<(u64, SessionAction)>,
    pending: UnboundedReceiver<(u64, SessionAction)>,
}

#[derive(Debug)]
struct Entry {
    cgroup: SessionCgroup,
    kind: CgroupKind,
    /// `cgroup.freeze` as last seen or written.
    freeze_requested: bool,
    watch: Option<WatchDescriptor>,
}

impl SessionCgroups {
    pub fn new(hierarchy: PathBuf) -> Self {
        let watch = EventsWatch::new()
            .inspect_err(|error| tracing::warn!(%error, "session cgroups cannot be watched for changes"))
            .ok();
        let (requests, pending) = unbounded_channel();
        Self {
            hierarchy,
            entries: HashMap::new(),
            watch,
            subscribers: Vec::new(),
            requests,
            pending,
        }
    }

    pub fn hierarchy(&self) -> &Path {
        &self.hierarchy
    }

    /// Adds a session whose cgroup exists (a `watch` session's).
    pub fn insert(&mut self, session: u64, kind: CgroupKind, cgroup: SessionCgroup) {
        let watch = self.watch.as_mut().and_then(|watch| {
            watch
                .add(&cgroup)
                .inspect_err(|error| tracing::warn!(%error, "a session cgroup cannot be watched for changes"))
                .ok()
        });
        let freeze_requested = cgroup.freeze_requested().unwrap_or(false);
        self.entries.insert(
            session,
            Entry {
                cgroup,
                kind,
                freeze_requested,
                watch,
            },
        );
    }

    pub fn get(&self, session: u64) -> Option<&SessionCgroup> {
        self.entries.get(&session).map(|entry| &entry.cgroup)
    }

    /// The sessions with a cgroup, with its kind.
    pub fn iter(&self) -> impl Iterator<Item = (u64, CgroupKind, &SessionCgroup)> {
        self.entries.iter().map(|(&id, entry)| (id, entry.kind, &entry.cgroup))
    }

    /// The state of `session`: running when it has no cgroup.
    pub fn state(&self, session: u64) -> SessionState {
        self.get(session)
            .and_then(|cgroup| SessionState::of(cgroup).ok())
            .unwrap_or(SessionState::Running)
    }

    /// A channel of every state change from now on.
    pub fn subscribe(&mut self) -> UnboundedReceiver<SessionStateChange> {
        let (sender, receiver) = unbounded_channel();
        self.subscribers.push(sender);
        receiver
    }

    /// A handle to ask for an action from elsewhere (the enforcer); the owner of this registry
    /// carries requests out when [`SessionCgroups::next_request`] hands them over.
    pub fn requester(&self) -> UnboundedSender<(u64, SessionAction)> {
        self.requests.clone()
    }

    /// Freezes, thaws or kills `session`. A freeze or kill of a session without a cgroup makes
    /// its `session-<id>` cgroup and moves its processes (from `members`) into it.
    pub fn apply(
        &mut self,
        session: u64,
        action: SessionAction,
        members: &dyn Members,
        by: Actor,
    ) -> Result<Outcome, CgroupError> {
        let created = match (action, self.entries.contains_key(&session)) {
            (SessionAction::Thaw, false) => {
                return Ok(Outcome {
                    session,
                    action,
                    state: SessionState::Running,
                    processes: members.members(session).len(),
                    unmoved: Vec::new(),
                    cgroup: "".into(),
                    created: false,
                });
            }
            (_, false) => {
                let cgroup = SessionCgroup::for_session(&self.hierarchy, CgroupKind::Session, session)?;
                self.insert(session, CgroupKind::Session, cgroup);
                true
            }
            (_, true) => false,
        };
        let Some(entry) = self.entries.get_mut(&session) else {
            return Err(CgroupError::NotASession(agent_id(session)));
        };
        let was_frozen = entry.freeze_requested;
        let mut outcome = act(&entry.cgroup, session, action, members)?;
        outcome.created = created;
        entry.freeze_requested = action != SessionAction::Thaw;
        let change = match action {
            SessionAction::Freeze => (!was_frozen).then_some(StateChange::Frozen),
            SessionAction::Thaw => was_frozen.then_some(StateChange::Thawed),
            SessionAction::Kill => Some(StateChange::Killed {
                processes: outcome.processes,
            }),
        };
        if let Some(change) = change {
            self.announce(SessionStateChange { session, change, by });
        }
        Ok(outcome)
    }

    /// Waits for the next thing to handle: a change of a watched cgroup (freezes and thaws made
    /// by others are announced to subscribers; the new `cgroup.events` of each changed session
    /// are returned), or an action asked for through a [`SessionCgroups::requester`] (for the
    /// owner to carry out with [`SessionCgroups::apply`]).
    pub async fn next(&mut self) -> Happening {
        let fired = tokio::select! {
            fired = wait_for_watch(&mut self.watch) => fired,
            Some((session, action)) = self.pending.recv() => return Happening::Requested(session, action),
        };
        let fired = match fired {
            Ok(fired) => fired,
            Err(error) => {
                tracing::warn!(%error, "watching session cgroups failed; changes made by others go unnoticed");
                self.watch = None;
                return Happening::Changed(Vec::new());
            }
        };
        let mut changed = Vec::new();
        let mut announcements = Vec::new();
        for (&session, entry) in self.entries.iter_mut() {
            if !entry.watch.is_some_and(|descriptor| fired.contains(&descriptor)) {
                continue;
            }
            let Ok(events) = entry.cgroup.events() else {
                continue;
            };
            let requested = entry.cgroup.freeze_requested().unwrap_or(entry.freeze_requested);
            if requested != entry.freeze_requested {
                entry.freeze_requested = requested;
                announcements.push(SessionStateChange {
                    session,
                    change: if requested {
                        StateChange::Frozen
                    } else {
                        StateChange::Thawed
                    },
                    by: Actor::Observed,
                });
            }
            changed.push((session, events));
        }
        for change in announcements {
            self.announce(change);
        }
        Happening::Changed(changed)
    }

    /// Forgets `session` and removes its cgroup, if no process is left in it; returns whether it
    /// did.
    pub fn remove_if_empty(&mut self, session: u64) -> bool {
        let Some(entry) = self.entries.get(&session) else {
            return true;
        };
        if entry.cgroup.events().is_ok_and(|events| events.populated) || entry.cgroup.remove().is_err() {
            return false;
        }
        if let (Some(watch), Some(descriptor)) = (self.watch.as_mut(), entry.watch) {
            watch.remove(descriptor);
        }
        self.entries.remove(&session);
        true
    }

    fn announce(&mut self, change: SessionStateChange) {
        self.subscribers
            .retain(|subscriber| subscriber.send(change.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{cgroup::find_cgroup2_mount, new_session_id};

    /// A fixed list of processes as a session's members.
    struct Listed(Vec<u32>);

    impl Members for Listed {
        fn members(&self, _: u64) -> Vec<u32> {
            self.0.clone()
        }
    }

    /// Kills the test's process and its session's cgroup even when the test fails midway.
    struct Cleanup(std::process::Child, PathBuf);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::write(self.1.join("cgroup.kill"), "1");
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir(&self.1);
        }
    }

    /// True when this test may make cgroups (root); fails instead of skipping in CI.
    fn may_make_cgroups() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        assert!(
            std::env::var("CI").map_or(true, |value| value != "true"),
            "this test makes cgroups: run the tests as root"
        );
        false
    }

    #[test]
    fn freezing_gathers_the_members_and_every_change_reaches_subscribers() {
        if !may_make_cgroups() {
            return;
        }
        let hierarchy = find_cgroup2_mount().expect("a cgroup v2 hierarchy");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _context = runtime.enter();
        let child = std::process::Command::new("sleep").arg("60").spawn().expect("sleep");
        let session = new_session_id();
        let members = Listed(vec![child.id()]);
        let path = hierarchy.join(format!("agent-sensor/session-{}", agent_id(session)));
        let mut cleanup = Cleanup(child, path);
        let child_pid = cleanup.0.id();
        let mut cgroups = SessionCgroups::new(hierarchy);
        let mut changes = cgroups.subscribe();

        let frozen = cgroups
            .apply(session, SessionAction::Freeze, &members, Actor::Sensor)
            .expect("freeze");
        assert!(frozen.created, "a daemon session gets its cgroup at its first freeze");
        assert_eq!(frozen.state, SessionState::Frozen);
        assert_eq!(frozen.processes, 1);
        assert!(frozen.unmoved.is_empty());
        let cgroup = cgroups.get(session).expect("registered").clone();
        assert_eq!(cgroup.holds(child_pid), Some(true), "the member was moved in");
        assert_eq!(cgroups.state(session), SessionState::Frozen);
        let frozen_change = SessionStateChange {
            session,
            change: StateChange::Frozen,
            by: Actor::Sensor,
        };
        assert_eq!(changes.try_recv(), Ok(frozen_change));
        // Freezing again changes nothing, and says nothing.
        cgroups
            .apply(session, SessionAction::Freeze, &members, Actor::Sensor)
            .expect("freeze again");
        assert!(changes.try_recv().is_err());

        // Someone else thaws it by writing cgroup.freeze: noticed from cgroup.events.
        cgroup.thaw().expect("thaw from outside");
        let happened = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), cgroups.next())
                .await
                .expect("the thaw is noticed")
        });
        assert!(matches!(happened, Happening::Changed(ref list) if list.iter().any(|(id, _)| *id == session)));
        let thawed = SessionStateChange {
            session,
            change: StateChange::Thawed,
            by: Actor::Observed,
        };
        assert_eq!(changes.try_recv(), Ok(thawed));
        assert_eq!(cgroups.state(session), SessionState::Running);

        // A request from elsewhere is handed to the owner.
        cgroups
            .requester()
            .send((session, SessionAction::Kill))
            .expect("request");
        let happened = runtime.block_on(cgroups.next());
        assert!(matches!(happened, Happening::Requested(id, SessionAction::Kill) if id == session));
        let killed = cgroups
            .apply(session, SessionAction::Kill, &members, Actor::Operator)
            .expect("kill");
        assert_eq!(killed.state, SessionState::Killed);
        assert_eq!(killed.processes, 1);
        let killed_change = SessionStateChange {
            session,
            change: StateChange::Killed { processes: 1 },
            by: Actor::Operator,
        };
        assert_eq!(changes.try_recv(), Ok(killed_change));
        let status = cleanup.0.wait().expect("reap");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        assert!(cgroups.remove_if_empty(session));
        assert!(!cgroup.path().exists());
    }

    #[test]
    fn thawing_a_session_without_a_cgroup_changes_nothing() {
        let mut cgroups = SessionCgroups::new(std::path::PathBuf::from("/nonexistent-hierarchy"));
        let mut changes = cgroups.subscribe();
        let outcome = cgroups
            .apply(7, SessionAction::Thaw, &Listed(vec![1, 2]), Actor::Operator)
            .expect("thaw");
        assert_eq!(outcome.state, SessionState::Running);
        assert_eq!(outcome.processes, 2);
        assert!(changes.try_recv().is_err());
        assert!(cgroups.get(7).is_none());
    }
}
