//! Operators acting on sessions through the daemon (`agent-sensor session freeze|thaw|kill ID`
//! over the control socket), and the session cgroups the daemon keeps for that.
//!
//! - The daemon's own sessions (matched by profile, adopted) have no cgroup of their own: a
//!   first freeze or kill makes `agent-sensor/session-<id>`, freezes it, and moves every process
//!   the kernel tracks for the session into it (`process::cgroup::freezer`). The session keeps
//!   that cgroup until it ends (a later kill-tree uses `cgroup.kill`).
//! - Registered `watch` sessions, and session cgroups found on disk (a `watch` that did not
//!   register, a session a previous daemon run froze), are acted on through their cgroup alone;
//!   the `watch` process notices from `cgroup.events`.

use std::path::PathBuf;

use crate::{
    capture::Capture,
    config::Config,
    control::{
        Registration,
        protocol::{SessionReply, SessionRequest},
        server::{SessionActionError, SessionCommand},
    },
    pipeline::Pipeline,
    process::{
        agent_id,
        cgroup::{
            Actor, CgroupError, CgroupKind, CgroupOnly, Happening, SessionAction, SessionCgroup, SessionCgroups,
            SessionState, SessionStateChange, StateChange, freezer::act,
        },
        sessions::find_session,
    },
};

/// What an operator's session id names.
enum Target {
    /// A session of this daemon.
    Daemon,
    /// A registered `watch` session.
    Watch(Registration),
    /// A session cgroup on disk that neither this daemon nor a registered `watch` runs.
    Cgroup(CgroupKind, SessionCgroup),
}

pub struct SessionOperator {
    pub cgroups: SessionCgroups,
    /// The cgroup the network programs are attached to (`None`: the hierarchy root).
    enforcement_cgroup: Option<PathBuf>,
}

impl SessionOperator {
    /// Also removes the empty `session-<id>` cgroups an earlier run left (the ones still holding
    /// processes stay: an operator can still thaw or kill them by id).
    pub fn new(hierarchy: PathBuf, config: &Config) -> Self {
        for (kind, _, cgroup) in SessionCgroup::list(&hierarchy) {
            if kind == CgroupKind::Session && cgroup.events().is_ok_and(|events| !events.populated) {
                let _ = cgroup.remove();
            }
        }
        Self {
            cgroups: SessionCgroups::new(hierarchy),
            enforcement_cgroup: config.enforcement.cgroup.clone(),
        }
    }

    /// The state of a daemon session and its cgroup, for `status`.
    pub fn state(&self, session: u64) -> (SessionState, Option<String>) {
        (
            self.cgroups.state(session),
            self.cgroups.get(session).map(|cgroup| cgroup.relative().to_string()),
        )
    }

    /// Carries out an operator's request.
    pub fn handle(
        &mut self,
        request: &SessionRequest,
        pipeline: &mut Pipeline,
        capture: &mut Capture,
        registrations: &[Registration],
    ) -> Result<SessionReply, SessionActionError> {
        let hierarchy = self.cgroups.hierarchy().to_path_buf();
        let own = pipeline
            .enricher
            .sessions
            .iter()
            .map(|session| (session.id, Target::Daemon));
        let watched = registrations.iter().filter_map(|registration| {
            let id = u64::from_str_radix(&registration.session, 16).ok()?;
            Some((id, Target::Watch(registration.clone())))
        });
        let on_disk = SessionCgroup::list(&hierarchy)
            .into_iter()
            .map(|(kind, id, cgroup)| (id, Target::Cgroup(kind, cgroup)));
        let (id, target) = find_session(&request.session, own.chain(watched).chain(on_disk))?;
        let action = request.action;
        let started = std::time::Instant::now();
        let reply = match target {
            Target::Daemon => {
                let agent = pipeline
                    .enricher
                    .sessions
                    .get(id)
                    .map(|session| session.agent.to_string());
                let outcome = self.apply(id, action, Actor::Operator, pipeline, capture)?;
                SessionReply::new(outcome, "daemon", agent, "daemon")
            }
            Target::Watch(registration) => {
                let relative = registration
                    .cgroup
                    .as_deref()
                    .ok_or_else(|| SessionActionError::NoCgroup(registration.session.clone()))?;
                let cgroup = SessionCgroup::open(&hierarchy, relative)?;
                let outcome = act(&cgroup, id, action, &CgroupOnly)?;
                SessionReply::new(outcome, "watch", Some(registration.agent), "daemon")
            }
            Target::Cgroup(kind, cgroup) => {
                let outcome = act(&cgroup, id, action, &CgroupOnly)?;
                SessionReply::new(outcome, kind.as_str(), None, "daemon")
            }
        };
        tracing::warn!(
            session = %reply.session,
            kind = %reply.kind,
            action = action.as_str(),
            state = reply.state.as_str(),
            processes = reply.processes,
            took_ms = %format!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
            "an operator acted on a session"
        );
        Ok(reply)
    }

    /// Freezes, thaws or kills a session of this daemon (for an operator, or for the sensor's own
    /// enforcement through [`SessionCgroups::requester`]).
    pub fn apply(
        &mut self,
        session: u64,
        action: SessionAction,
        by: Actor,
        pipeline: &mut Pipeline,
        capture: &mut Capture,
    ) -> Result<crate::process::cgroup::Outcome, CgroupError> {
        let outcome = self.cgroups.apply(session, action, &capture.tracked, by)?;
        if !outcome.unmoved.is_empty() {
            tracing::error!(
                session = %agent_id(session),
                pids = ?outcome.unmoved,
                "some processes of the session could not be moved into its cgroup"
            );
        }
        if outcome.created
            && let Some(cgroup) = self.cgroups.get(session)
        {
            let path = cgroup.path().to_path_buf();
            self.cover_connections(capture, &path);
            if let (Some(enforcer), Some(known)) = (pipeline.enforcer.as_mut(), pipeline.enricher.sessions.get(session))
            {
                enforcer.add_session(
                    session,
                    known.working_directory.as_deref(),
                    known.home.as_ref().map(|home| &*home.dir),
                    Some(path),
                );
            }
        }
        Ok(outcome)
    }

    /// A session moved out of the cgroup the network programs are attached to keeps its
    /// connections judged: the programs are attached to its new cgroup too.
    fn cover_connections(&self, capture: &mut Capture, cgroup: &std::path::Path) {
        let Some(covered) = &self.enforcement_cgroup else {
            return; // the hierarchy root: every cgroup is under it
        };
        if cgroup.starts_with(covered) {
            return;
        }
        if let Err(problem) = capture.attach_connect_programs(cgroup) {
            tracing::warn!(%problem, cgroup = %cgroup.display(), "connections of the session cannot be judged in its new cgroup");
        }
    }

    /// Logs a state change the operator's own request did not already log (the enforcer
    /// subscribes to the same changes).
    pub fn log_change(change: &SessionStateChange) {
        if change.by == Actor::Operator {
            return;
        }
        let session = agent_id(change.session);
        match change.change {
            StateChange::Frozen => tracing::warn!(%session, by = ?change.by, "session frozen"),
            StateChange::Thawed => tracing::warn!(%session, by = ?change.by, "session thawed"),
            StateChange::Killed { processes } => {
                tracing::warn!(%session, by = ?change.by, processes, "session killed")
            }
        }
    }

    /// Removes the cgroups of sessions that ended, once empty.
    pub fn tidy(&mut self, pipeline: &Pipeline) {
        let ended: Vec<u64> = self
            .cgroups
            .iter()
            .map(|(id, _, _)| id)
            .filter(|&id| !pipeline.enricher.sessions.is_live(id))
            .collect();
        for id in ended {
            self.cgroups.remove_if_empty(id);
        }
    }

    /// At shutdown: frozen sessions stay frozen (an attack stays stopped while the sensor is
    /// down); say how to thaw or kill them without the daemon.
    pub fn shutdown(&mut self, pipeline: &Pipeline) {
        self.tidy(pipeline);
        let left: Vec<u64> = self.cgroups.iter().map(|(id, _, _)| id).collect();
        for id in left {
            if self.cgroups.state(id).is_frozen() {
                tracing::warn!(
                    session = %agent_id(id),
                    "the session stays frozen after the daemon stops; `agent-sensor session thaw {0}` or `agent-sensor session kill {0}` act on it without the daemon",
                    agent_id(id)
                );
            } else {
                self.cgroups.remove_if_empty(id);
            }
        }
    }
}

/// Answers an operator's request from the control socket.
pub fn answer(
    command: SessionCommand,
    operator: Option<&mut SessionOperator>,
    pipeline: &mut Pipeline,
    capture: &mut Capture,
    registrations: &[Registration],
) {
    let reply = match operator {
        Some(operator) => operator.handle(&command.request, pipeline, capture, registrations),
        None => Err(SessionActionError::NoHierarchy),
    };
    let _ = command.reply.send(reply);
}

/// Carries out what the session cgroups need: an action the sensor asked for (a change made by
/// someone else needs nothing more than the status published again).
pub fn carry_out(
    happened: Happening,
    operator: Option<&mut SessionOperator>,
    pipeline: &mut Pipeline,
    capture: &mut Capture,
) {
    if let (Happening::Requested(session, action), Some(operator)) = (happened, operator)
        && let Err(error) = operator.apply(session, action, Actor::Sensor, pipeline, capture)
    {
        tracing::error!(session = %agent_id(session), action = action.as_str(), %error, "the sensor could not act on the session");
    }
}
