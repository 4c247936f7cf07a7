//! COMMAND's life under `watch`, and what comes after: the processes it left in the session's
//! cgroup (a daemonised child, a double fork, `nohup … &`) are still tracked by the kernel, so
//! `watch` keeps recording them until the cgroup empties (`--on-exit wait`, the default) or kills
//! them at once (`--on-exit kill`). Emptiness comes from `cgroup.events` (`populated 0`).

use std::{process::ExitStatus, time::Duration};

use anyhow::{Context, Result};
use aya::maps::{HashMap, MapData};
use nix::sys::signal::Signal;
use sensor_common::maps::TrackedProcess;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc::UnboundedReceiver,
};

use crate::{
    cli::OnExit,
    process::{
        agent_id,
        cgroup::{Actor, Happening, Members, SessionAction, SessionCgroups, SessionStateChange, StateChange},
    },
};

/// How often `cgroup.events` is read while waiting, besides when inotify says it changed.
const RECHECK: Duration = Duration::from_secs(1);

/// What `watch` supervises.
pub struct Supervised<'a> {
    pub child: &'a mut tokio::process::Child,
    pub pid: u32,
    pub session: u64,
    pub cgroups: &'a mut SessionCgroups,
    pub changes: UnboundedReceiver<SessionStateChange>,
    pub tracked: &'a HashMap<MapData, u32, TrackedProcess>,
    pub on_exit: OnExit,
}

/// How the session ended.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    pub status: ExitStatus,
    /// Processes left in the session's cgroup when COMMAND exited.
    pub left_running: usize,
    /// Processes killed after COMMAND exited (`--on-exit kill`, Ctrl-C or SIGTERM while waiting).
    pub killed: usize,
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            quit: signal(SignalKind::quit()).context("handling SIGQUIT")?,
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("handling SIGHUP")?,
        })
    }
}

impl Supervised<'_> {
    /// Runs until COMMAND has exited and its session's cgroup is empty.
    pub async fn run(mut self) -> Result<Ended> {
        let mut signals = Signals::install()?;
        let status = self.command(&mut signals).await?;
        let (left_running, killed) = self.leftovers(&mut signals, status).await?;
        while let Ok(change) = self.changes.try_recv() {
            log_change(&change);
        }
        let escaped = self.tracked.members(self.session);
        if !escaped.is_empty() {
            tracing::warn!(
                processes = escaped.len(),
                pids = ?escaped,
                "processes of the session moved out of its cgroup (only root can); they are no longer watched"
            );
        }
        Ok(Ended {
            status,
            left_running,
            killed,
        })
    }

    /// Until COMMAND exits: Ctrl-C reaches it (same terminal process group) and is ignored here;
    /// SIGTERM and SIGHUP sent to the sensor are passed on to it.
    async fn command(&mut self, signals: &mut Signals) -> Result<ExitStatus> {
        loop {
            tokio::select! {
                status = self.child.wait() => return status.context("waiting for the command"),
                _ = signals.interrupt.recv() => {}
                _ = signals.quit.recv() => {}
                _ = signals.terminate.recv() => forward(self.pid, Signal::SIGTERM),
                _ = signals.hangup.recv() => forward(self.pid, Signal::SIGHUP),
                happened = self.cgroups.next() => self.happened(happened),
                Some(change) = self.changes.recv() => log_change(&change),
            }
        }
    }

    /// After COMMAND exited: waits for (or kills) what it left in the cgroup. Returns how many
    /// processes were left and how many were killed.
    async fn leftovers(&mut self, signals: &mut Signals, status: ExitStatus) -> Result<(usize, usize)> {
        let Some(cgroup) = self.cgroups.get(self.session) else {
            return Ok((0, 0));
        };
        if !cgroup.events()?.populated {
            return Ok((0, 0));
        }
        let left = cgroup.pids();
        let session = agent_id(self.session);
        let code = super::exit_code(status);
        let mut killed = 0;
        if self.on_exit == OnExit::Kill {
            tracing::warn!(
                %session,
                processes = left.len(),
                pids = ?left,
                "the command exited (status {code}) and left {} processes running in its session; killing them (--on-exit kill)",
                left.len()
            );
            killed = self.kill(Actor::Sensor)?;
        } else {
            tracing::warn!(
                %session,
                processes = left.len(),
                pids = ?left,
                "the command exited (status {code}) but left {} processes running in its session; watch waits for them and keeps recording. \
                 Press Ctrl-C again, or send SIGTERM to agent-sensor (pid {}), to kill them; --on-exit kill kills them without waiting",
                left.len(),
                std::process::id()
            );
        }
        loop {
            if !self.populated() {
                return Ok((left.len(), killed));
            }
            tokio::select! {
                happened = self.cgroups.next() => self.happened(happened),
                Some(change) = self.changes.recv() => log_change(&change),
                // cgroup.events is read again now and then, in case its changes cannot be watched.
                () = tokio::time::sleep(RECHECK) => {}
                _ = signals.interrupt.recv() => killed += self.kill_on_request("SIGINT")?,
                _ = signals.terminate.recv() => killed += self.kill_on_request("SIGTERM")?,
                _ = signals.quit.recv() => killed += self.kill_on_request("SIGQUIT")?,
                _ = signals.hangup.recv() => tracing::info!(
                    "SIGHUP: still watching the processes the command left (they outlive hang-ups); Ctrl-C or SIGTERM kills them"
                ),
            }
        }
    }

    fn populated(&self) -> bool {
        self.cgroups
            .get(self.session)
            .is_some_and(|cgroup| cgroup.events().is_ok_and(|events| events.populated))
    }

    fn kill_on_request(&mut self, signal: &str) -> Result<usize> {
        tracing::warn!("{signal}: killing the processes the command left running");
        self.kill(Actor::Operator)
    }

    /// Kills every process of the session; returns how many.
    fn kill(&mut self, by: Actor) -> Result<usize> {
        let outcome = self
            .cgroups
            .apply(self.session, SessionAction::Kill, self.tracked, by)
            .context("killing the processes left in the session")?;
        Ok(outcome.processes)
    }

    /// A change of the cgroup (announced through `changes`), or an action the sensor asked for.
    fn happened(&mut self, happened: Happening) {
        if let Happening::Requested(session, action) = happened
            && let Err(error) = self.cgroups.apply(session, action, self.tracked, Actor::Sensor)
        {
            tracing::error!(session = %agent_id(session), action = action.as_str(), %error, "the sensor could not act on the session");
        }
    }
}

/// Tells the person at the terminal what happened to the session.
fn log_change(change: &SessionStateChange) {
    let session = agent_id(change.session);
    let by = match change.by {
        Actor::Operator => "by an operator",
        Actor::Sensor => "by the sensor",
        Actor::Observed => "from outside this process",
    };
    match change.change {
        StateChange::Frozen => tracing::warn!(
            %session,
            "the session was frozen {by}: its processes are stopped until `agent-sensor session thaw {session}` (or `agent-sensor session kill {session}`)"
        ),
        StateChange::Thawed => tracing::warn!(%session, "the session was thawed {by}: its processes run again"),
        StateChange::Killed { processes } => {
            tracing::warn!(%session, processes, "the session's processes were killed {by}")
        }
    }
}

fn forward(pid: u32, signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}
