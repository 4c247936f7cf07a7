//! Freezing, thawing and killing one session through its cgroup (cgroup v2 `cgroup.freeze` and
//! `cgroup.kill`), with the processes the kernel tracks for it.
//!
//! A session whose processes are not all in its cgroup (a daemon session, whose processes live in
//! whatever cgroup they were started in) is gathered: the cgroup is **frozen while still empty**,
//! and every process the kernel tracks for the session is moved in, in rounds, until a round finds
//! none outside. A process moved into a frozen cgroup freezes on arrival, so only processes not
//! yet moved can still fork; their children are in the kernel's tracked map before they first run
//! (`task_newtask`), so the next round moves them. No process of the session is left running once
//! a round finds none outside.

use std::{borrow::Borrow, collections::BTreeMap, sync::Arc, time::Duration};

use aya::maps::{HashMap as BpfHashMap, MapData};
use sensor_common::maps::TrackedProcess;
use serde::{Deserialize, Serialize};

use super::{CgroupError, events::wait_until, session::SessionCgroup};
use crate::process::agent_id;

/// At most this many rounds of moving a session's processes into its cgroup.
const GATHER_ROUNDS: usize = 64;
/// How long a freeze may take before it is reported as still under way.
pub const FREEZE_WAIT: Duration = Duration::from_secs(2);
/// How long killed processes may take to leave the cgroup before it is reported as dying.
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// What can be done to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    Freeze,
    Thaw,
    Kill,
}

impl SessionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Freeze => "freeze",
            Self::Thaw => "thaw",
            Self::Kill => "kill",
        }
    }
}

/// A session's state as its cgroup shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    /// A freeze was asked for; some process has not stopped yet (one in uninterruptible sleep).
    Freezing,
    Frozen,
    /// Killed, and its processes are gone.
    Killed,
    /// Killed, but some processes had not left the cgroup yet when last looked at.
    Dying,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Freezing => "freezing",
            Self::Frozen => "frozen",
            Self::Killed => "killed",
            Self::Dying => "dying",
        }
    }

    /// The state a cgroup shows now.
    pub fn of(cgroup: &SessionCgroup) -> Result<Self, CgroupError> {
        let requested = cgroup.freeze_requested()?;
        let events = cgroup.events()?;
        Ok(match (requested, events.frozen) {
            (true, true) => Self::Frozen,
            (true, false) => Self::Freezing,
            (false, _) => Self::Running,
        })
    }

    /// True for the states in which the session's processes cannot run.
    pub fn is_frozen(self) -> bool {
        matches!(self, Self::Frozen | Self::Freezing)
    }
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub session: u64,
    pub action: SessionAction,
    pub state: SessionState,
    /// The processes in the cgroup when the action was taken (for a kill: the ones killed).
    pub processes: usize,
    /// Processes of the session that could not be moved into its cgroup (killed by signal
    /// instead on a kill; still running after a freeze).
    pub unmoved: Vec<u32>,
    /// The cgroup, relative to the hierarchy root.
    pub cgroup: Arc<str>,
    /// True when this action made the cgroup (the session's first freeze or kill by the daemon).
    pub created: bool,
}

/// The processes of a session, from the authority on it: the kernel's tracked-process map.
pub trait Members {
    fn members(&self, session: u64) -> Vec<u32>;
}

impl<T: Borrow<MapData>> Members for BpfHashMap<T, u32, TrackedProcess> {
    fn members(&self, session: u64) -> Vec<u32> {
        self.iter()
            .filter_map(Result::ok)
            .filter(|(_, process)| process.session_id == session)
            .map(|(pid, _)| pid)
            .collect()
    }
}

/// No process list: act on what the cgroup holds (a `watch` session seen from another process;
/// its processes started in its cgroup, and only root can move a process out of it).
pub struct CgroupOnly;

impl Members for CgroupOnly {
    fn members(&self, _: u64) -> Vec<u32> {
        Vec::new()
    }
}

/// Carries out `action` on `session` through `cgroup`.
pub fn act(
    cgroup: &SessionCgroup,
    session: u64,
    action: SessionAction,
    members: &dyn Members,
) -> Result<Outcome, CgroupError> {
    match action {
        SessionAction::Freeze => freeze(cgroup, session, members),
        SessionAction::Thaw => thaw(cgroup, session),
        SessionAction::Kill => kill(cgroup, session, members),
    }
}

/// Freezes `cgroup` and moves every process of `session` into it (see the module's comment);
/// waits up to [`FREEZE_WAIT`] for the freeze to complete.
pub fn freeze(cgroup: &SessionCgroup, session: u64, members: &dyn Members) -> Result<Outcome, CgroupError> {
    cgroup.freeze()?;
    let unmoved = gather(cgroup, session, members);
    let events = wait_until(cgroup, FREEZE_WAIT, |events| events.frozen)?;
    Ok(Outcome {
        session,
        action: SessionAction::Freeze,
        state: if events.frozen {
            SessionState::Frozen
        } else {
            SessionState::Freezing
        },
        processes: cgroup.pids().len(),
        unmoved,
        cgroup: cgroup.relative(),
        created: false,
    })
}

/// Lets the processes of `cgroup` run again.
pub fn thaw(cgroup: &SessionCgroup, session: u64) -> Result<Outcome, CgroupError> {
    cgroup.thaw()?;
    Ok(Outcome {
        session,
        action: SessionAction::Thaw,
        state: SessionState::of(cgroup)?,
        processes: cgroup.pids().len(),
        unmoved: Vec::new(),
        cgroup: cgroup.relative(),
        created: false,
    })
}

/// Kills every process of `session`: freezes and gathers them first (so none can fork or slip
/// away), then `cgroup.kill`; processes that could not be moved get SIGKILL. Waits up to
/// [`KILL_WAIT`] for the cgroup to empty.
pub fn kill(cgroup: &SessionCgroup, session: u64, members: &dyn Members) -> Result<Outcome, CgroupError> {
    let frozen = freeze(cgroup, session, members)?;
    let processes = cgroup.pids().len();
    cgroup.kill_all()?;
    for &pid in &frozen.unmoved {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let events = wait_until(cgroup, KILL_WAIT, |events| !events.populated)?;
    Ok(Outcome {
        session,
        action: SessionAction::Kill,
        state: if events.populated {
            SessionState::Dying
        } else {
            SessionState::Killed
        },
        processes: processes + frozen.unmoved.len(),
        unmoved: frozen.unmoved,
        cgroup: cgroup.relative(),
        created: false,
    })
}

/// Moves every live process of `session` that is outside `cgroup` into it, round after round,
/// until a round finds none; returns the processes that could not be moved.
fn gather(cgroup: &SessionCgroup, session: u64, members: &dyn Members) -> Vec<u32> {
    let mut refused: BTreeMap<u32, CgroupError> = BTreeMap::new();
    let mut outside = Vec::new();
    for _ in 0..GATHER_ROUNDS {
        outside = members
            .members(session)
            .into_iter()
            .filter(|pid| !refused.contains_key(pid))
            .filter(|&pid| cgroup.holds(pid) == Some(false))
            .collect();
        if outside.is_empty() {
            break;
        }
        for &pid in &outside {
            match cgroup.attach(pid) {
                Ok(()) => {}
                Err(CgroupError::Attach { ref source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {}
                Err(error) => {
                    refused.insert(pid, error);
                }
            }
        }
    }
    for (pid, error) in &refused {
        tracing::warn!(pid, %error, session = %agent_id(session), "a process of the session cannot be moved into its cgroup");
    }
    let mut unmoved: Vec<u32> = refused
        .into_keys()
        .filter(|&pid| cgroup.holds(pid) == Some(false))
        .collect();
    unmoved.extend(outside.into_iter().filter(|&pid| cgroup.holds(pid) == Some(false)));
    unmoved.sort_unstable();
    unmoved.dedup();
    unmoved
}
