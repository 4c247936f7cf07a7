//! Killing what a rule says to kill: one process, or every process of an agent session, by
//! `cgroup.kill` when the session has its own cgroup, otherwise by signalling every tracked
//! process of the session until none is left (the kernel also kills any process of a killed
//! session at its next exec, fork or file syscall).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use aya::maps::{HashMap, MapData};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use sensor_common::maps::TrackedProcess;

/// Rounds of signalling when a session has no cgroup: each round catches children forked during
/// the previous one.
const SWEEP_ROUNDS: usize = 20;

/// Why killing a process or a session failed.
#[derive(Debug, thiserror::Error)]
pub enum KillError {
    #[error("cannot kill process {pid}: {source}")]
    Signal {
        pid: u32,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("writing {}: {source}", path.display())]
    CgroupKill {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("processes of the session were still alive after {SWEEP_ROUNDS} rounds of SIGKILL")]
    Survivors,
    #[error("the event has no session")]
    NoSession,
}

/// Sends SIGKILL to `pid`.
pub fn kill_process(pid: u32) -> Result<(), KillError> {
    match kill(Pid::from_raw(pid as i32), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(source) => Err(KillError::Signal { pid, source }),
    }
}

/// Kills every process of `session`; returns how many were signalled.
pub fn kill_session(
    session: u64,
    cgroup: Option<&Path>,
    tracked: &HashMap<MapData, u32, TrackedProcess>,
) -> Result<usize, KillError> {
    if let Some(cgroup) = cgroup {
        let kill_file = cgroup.join("cgroup.kill");
        if kill_file.exists() {
            std::fs::write(&kill_file, "1").map_err(|source| KillError::CgroupKill {
                path: kill_file.clone(),
                source,
            })?;
            let remaining = members(tracked, session);
            return Ok(remaining.len().max(1));
        }
    }
    let mut signalled = 0;
    for _ in 0..SWEEP_ROUNDS {
        let pids = members(tracked, session);
        let alive: Vec<u32> = pids
            .into_iter()
            .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if alive.is_empty() {
            return Ok(signalled);
        }
        for pid in alive {
            kill_process(pid)?;
            signalled += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(KillError::Survivors)
}

/// The tracked processes of `session`.
fn members(tracked: &HashMap<MapData, u32, TrackedProcess>, session: u64) -> Vec<u32> {
    tracked
        .iter()
        .filter_map(Result::ok)
        .filter(|(_, process)| process.session_id == session)
        .map(|(pid, _)| pid)
        .collect()
}
