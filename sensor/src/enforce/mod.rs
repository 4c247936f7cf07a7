//! Enforcement in userspace: compiling the kernel rules into the kernel's policy maps, choosing and
//! reporting backends, turning the kernel's verdicts into alerts, and carrying out what the kernel
//! cannot (killing a session's tree, the kill rules the kernel does not judge).
//!
//! Flow: `image` builds the map contents from the rule set (`expand` turns `~` and `*` into real
//! directories, `homes` lists the homes) → `policy_maps` writes them → the kernel judges →
//! `respond_to_verdict` makes alerts (`response`) and kills trees (`kill`).

pub mod backends;
pub mod egress;
pub mod expand;
pub mod homes;
pub mod identity;
mod identity_watch;
pub mod image;
pub mod kill;
pub mod mode;
pub mod policy_maps;
pub mod response;
pub mod trusted;

use std::{
    collections::{BTreeSet, HashMap as StdHashMap},
    path::PathBuf,
    sync::Arc,
};

use aya::maps::{HashMap, MapData};
pub use backends::Backends;
pub use mode::Mode;
pub use policy_maps::PolicyMaps;
use sensor_common::{
    maps::TrackedProcess,
    policy::{
        APPLIED_MONITOR, BACKEND_NONE, ESCALATE_EXEC_STOPPED, ESCALATE_FREEZE, ESCALATE_KILL_TREE, PolicyConfig,
        PolicyOp, Workspace, component_hash, path_hash,
    },
};

use self::{
    expand::{Filesystem, components},
    image::{ImageError, ImageInputs, PolicyImage},
    policy_maps::PolicyWriteError,
};
use crate::{
    capture::Capture,
    decode::Policy,
    event::Event,
    process::cgroup::{SessionAction, SessionStateChange, StateChange},
    random::random_u64,
    rules::{Alert, RuleAction, RuleSet, compile::RuleEnforcement},
};

#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Write(#[from] PolicyWriteError),
    #[error("the policy maps were already taken")]
    MapsTaken,
    #[error("no handle on the tracked-process map: {0}")]
    Tracked(String),
}

/// What a re-seed of the protected identities keeps of the previous seed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Nothing: the policy changed.
    Nothing,
    /// Identities whose files left their protected paths (moved, or deleted).
    Moved,
}

/// The running enforcement of one sensor.
pub struct Enforcer {
    mode: Mode,
    seed: u64,
    maps: PolicyMaps,
    /// A handle on the kernel's tracked processes, to find a session's processes.
    tracked: HashMap<MapData, u32, TrackedProcess>,
    backends: Backends,
    rules: Arc<RuleSet>,
    image: PolicyImage,
    /// Homes of the sessions (`HOME`), besides the accounts' homes.
    session_homes: BTreeSet<String>,
    /// Sessions with a cgroup of their own (killed with `cgroup.kill`).
    session_cgroups: StdHashMap<u64, PathBuf>,
    /// Bumped on every write of the policy, so judgements the kernel cached expire.
    generation: u64,
    /// Protected files and directories by identity, as written to the kernel.
    protected: identity::Protected,
    identity_watch: identity_watch::IdentityWatch,
    /// Where escalations ask for a session's freeze, and hear of operators' thaws.
    sessions: Option<SessionLink>,
    /// The configuration's egress allowlist, compiled (`agent_sensor.destination.allowed`).
    egress: Option<egress::EgressPlan>,
}

/// The enforcer's link to the session cgroups (see `process::cgroup::SessionCgroups`).
pub struct SessionLink {
    pub requests: tokio::sync::mpsc::UnboundedSender<(u64, SessionAction)>,
    pub changes: tokio::sync::mpsc::UnboundedReceiver<SessionStateChange>,
}

impl Enforcer {
    /// Writes the policy of `rules` into the kernel and starts judging in `mode`. Call after the
    /// network programs were attached (if they could be), so the backends are known.
    pub fn start(
        capture: &mut Capture,
        rules: Arc<RuleSet>,
        egress: Option<egress::EgressPlan>,
        mode: Mode,
    ) -> Result<Self, EnforceError> {
        let maps = capture.take_policy_maps().ok_or(EnforceError::MapsTaken)?;
        let tracked = capture
            .take_tracked_view()
            .ok_or_else(|| EnforceError::Tracked("already taken".into()))?;
        let backends = Backends::choose(&capture.enforcement, capture.enforcement.cgroup_attached());
        let seed = random_u64();
        let mut enforcer = Enforcer {
            mode,
            seed,
            maps,
            tracked,
            backends,
            image: PolicyImage::default(),
            rules: rules.clone(),
            session_homes: BTreeSet::new(),
            session_cgroups: StdHashMap::new(),
            generation: 1,
            protected: identity::Protected::default(),
            identity_watch: identity_watch::IdentityWatch::default(),
            sessions: None,
            egress,
        };
        enforcer.load_script_hosts();
        let image = enforcer.build(&rules)?;
        enforcer.maps.apply(&image, &enforcer.config_of(&image), None)?;
        enforcer.image = image;
        enforcer.seed_identities(Kept::Nothing);
        Ok(enforcer)
    }

    /// Seeds the protected identities from the current image and writes what changed. With
    /// `Kept::Moved`, an identity whose file is no longer at a protected path stays protected: a
    /// key whose directory was renamed is still the key (`mv ~/.ssh /tmp/x`, then read it a
    /// second later, after the re-seed). Only a new policy (`Kept::Nothing`) drops identities.
    fn seed_identities(&mut self, kept: Kept) {
        let started = std::time::Instant::now();
        let mut next = identity::Protected::seed(&self.image);
        if kept == Kept::Moved {
            next.keep_previous(&self.protected);
        }
        for (key, protection) in &next.entries {
            if self.protected.entries.get(key) != Some(protection)
                && let Err(error) = self.maps.protected.insert(key, protection, 0)
            {
                tracing::warn!(%error, "cannot record a protected file's identity in the kernel");
                break;
            }
        }
        for key in self
            .protected
            .entries
            .keys()
            .filter(|key| !next.entries.contains_key(key))
        {
            let _ = self.maps.protected.remove(key);
        }
        if next.truncated {
            tracing::warn!(
                entries = next.entries.len(),
                "protected identities: a walk limit was reached; the rest is protected by path only"
            );
        }
        tracing::debug!(entries = next.entries.len(), elapsed = ?started.elapsed(), "protected identities seeded");
        self.identity_watch.watch(&next.watched);
        self.protected = next;
    }

    /// Re-seeds the protected identities when a watched directory changed, and ends the
    /// escalation of sessions an operator thawed or killed (call about once a second).
    pub fn tick(&mut self) {
        if self.identity_watch.changed() {
            self.seed_identities(Kept::Moved);
        }
        let mut ended = Vec::new();
        if let Some(link) = self.sessions.as_mut() {
            while let Ok(change) = link.changes.try_recv() {
                if matches!(change.change, StateChange::Thawed | StateChange::Killed { .. }) {
                    ended.push(change.session);
                }
            }
        }
        for session in ended {
            if self.maps.escalation.remove(&session).is_ok() {
                tracing::info!(session = %crate::process::agent_id(session), "escalation ended: the session was thawed or killed");
            }
        }
    }

    /// Connects the enforcer to the session cgroups: escalations freeze sessions through them,
    /// and an operator's thaw ends a session's escalation.
    pub fn link_sessions(&mut self, link: SessionLink) {
        self.sessions = Some(link);
    }

    /// The canonical path of a protected file, when the kernel reported it by another name.
    pub fn canonical_path(&self, dev: u32, ino: u64) -> Option<&str> {
        self.protected.canonical_path(dev, ino)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switches between monitor and enforce (on reload); the kernel follows at once.
    pub fn set_mode(&mut self, mode: Mode) -> Result<(), EnforceError> {
        let previous = self.mode;
        self.mode = mode;
        if let Err(error) = self.maps.set_config(&self.config_of(&self.image)) {
            self.mode = previous;
            return Err(error.into());
        }
        Ok(())
    }

    /// The rules being enforced.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The rules the kernel judges, by slot.
    pub fn kernel_rule_count(&self) -> usize {
        self.image.slots.len()
    }

    /// For each rule of the set, whether the kernel judges it (so the engine must not).
    pub fn skipped_rules(&self) -> Vec<bool> {
        self.rules
            .rules
            .iter()
            .map(|rule| {
                rule.kernel_form().is_some_and(|form| {
                    PolicyOp::ALL
                        .iter()
                        .filter(|op| form.ops.contains(**op))
                        .all(|op| self.backends.of(*op) != BACKEND_NONE)
                })
            })
            .collect()
    }

    fn build(&self, rules: &RuleSet) -> Result<PolicyImage, ImageError> {
        let mut homes: BTreeSet<String> = homes::account_homes().into_iter().collect();
        homes.extend(self.session_homes.iter().cloned());
        let homes: Vec<String> = homes.into_iter().collect();
        PolicyImage::build(
            rules,
            &ImageInputs {
                seed: self.seed,
                homes: &homes,
                dirs: &Filesystem,
                egress: self.egress.as_ref(),
            },
        )
    }

    fn config_of(&self, image: &PolicyImage) -> PolicyConfig {
        let (trusted_dirs, trusted_depths) = trusted::directories(self.seed);
        PolicyConfig {
            enforce: (self.mode == Mode::Enforce) as u32,
            backends: self.backends.config(),
            lsm_guards_sensor: self.backends.lsm_guards_sensor as u32,
            generation: self.generation,
            trusted_dirs,
            trusted_depths,
            ..image.config
        }
    }

    /// Fills the kernel's list of interpreters whose script argument counts as the program run.
    fn load_script_hosts(&mut self) {
        for name in trusted::script_hosts() {
            let hash = component_hash(self.seed, name.as_bytes());
            if let Err(error) = self.maps.script_hosts.insert(hash, 1, 0) {
                tracing::warn!(%error, name, "cannot add an interpreter to the kernel's list");
                break;
            }
        }
    }

    /// Compiles `rules` and the egress allowlist into the kernel (on reload). On error the
    /// previous policy stays.
    pub fn replace_rules(
        &mut self,
        rules: Arc<RuleSet>,
        egress: Option<egress::EgressPlan>,
    ) -> Result<(), EnforceError> {
        let previous = std::mem::replace(&mut self.egress, egress);
        let image = match self.build(&rules) {
            Ok(image) => image,
            Err(error) => {
                self.egress = previous;
                return Err(error.into());
            }
        };
        self.generation += 1;
        if let Err(error) = self.maps.apply(&image, &self.config_of(&image), Some(&self.image)) {
            self.egress = previous;
            return Err(error.into());
        }
        self.image = image;
        self.rules = rules;
        self.seed_identities(Kept::Nothing);
        Ok(())
    }

    /// Rebuilds the policy for the homes and directories that exist now (new accounts, new
    /// directories matching a `*`).
    pub fn refresh(&mut self) -> Result<(), EnforceError> {
        let image = self.build(&self.rules.clone())?;
        if image.files != self.image.files || image.dirs != self.image.dirs || image.programs != self.image.programs {
            self.generation += 1;
            self.maps.apply(&image, &self.config_of(&image), Some(&self.image))?;
            self.image = image;
        }
        self.seed_identities(Kept::Moved);
        Ok(())
    }

    /// A session started: its workspace (for `in_workspace` rules), its `HOME` (for `~`), its own
    /// cgroup (for killing its tree). A session started in the home or `/` has no workspace
    /// (`process::workspace`): the entry the kernel made at its first exec is removed, so every
    /// path is outside it.
    pub fn add_session(
        &mut self,
        session: u64,
        working_directory: Option<&str>,
        home: Option<&str>,
        cgroup: Option<PathBuf>,
    ) {
        let workspace = working_directory.and_then(|dir| crate::process::workspace::of(dir, home));
        if workspace.is_none() {
            let _ = self.maps.workspaces.remove(&session);
        }
        if let Some(dir) = workspace {
            let entry = Workspace {
                hash: path_hash(self.seed, dir.as_bytes()),
                depth: components(dir).len() as u32,
                reserved: 0,
            };
            if let Err(error) = self.maps.workspaces.insert(session, entry, 0) {
                tracing::warn!(%error, "cannot record the session's workspace in the kernel");
            }
        }
        if let Some(cgroup) = cgroup {
            self.session_cgroups.insert(session, cgroup);
        }
        if let Some(home) = home.filter(|home| homes::usable(home))
            && self.session_homes.insert(home.to_string())
            && let Err(error) = self.refresh()
        {
            tracing::error!(%error, "cannot extend the kernel policy to the session's home");
        }
    }

    /// A session ended: forget what the kernel kept for it.
    pub fn end_session(&mut self, session: u64) {
        let _ = self.maps.workspaces.remove(&session);
        let _ = self.maps.killed.remove(&session);
        self.session_cgroups.remove(&session);
    }

    /// The hashes the kernel knows an executable by (for processes userspace starts tracking).
    pub fn program_hashes(&self, executable: &str) -> (u64, u64) {
        let name = executable.rsplit('/').next().unwrap_or(executable);
        (
            path_hash(self.seed, executable.as_bytes()),
            component_hash(self.seed, name.as_bytes()),
        )
    }

    /// The alerts of a kernel verdict (`event` is its enriched form), after killing the session's
    /// tree when a kill-tree rule fired.
    pub fn respond_to_verdict(&mut self, event: &Event, verdict: &Policy) -> Vec<Alert> {
        let monitor = verdict.applied & APPLIED_MONITOR != 0;
        let mut tree: Option<Result<(), kill::KillError>> = None;
        let mut alerts: Vec<Alert> = Vec::new();
        for slot in 0..64 {
            if verdict.fired & (1u64 << slot) == 0 {
                continue;
            }
            let Some(meta) = self.image.slot(slot).map(|rule| rule.meta.clone()) else {
                tracing::warn!(slot, "the kernel reported a rule slot the policy does not have");
                continue;
            };
            // A rule in several slots (alternatives, port groups) alerts once.
            if alerts.iter().any(|alert| Arc::ptr_eq(&alert.rule, &meta)) {
                continue;
            }
            let action = meta.action;
            if action == RuleAction::KillTree && !monitor && tree.is_none() {
                tree = Some(self.kill_tree(verdict.common.session_id));
            }
            if action == RuleAction::Kill && !monitor && verdict.applied & sensor_common::policy::APPLIED_KILLED == 0 {
                // The cgroup backend cannot signal: kill from here.
                tree = tree.or(Some(kill::kill_process(verdict.common.pid)));
            }
            let mut response = response::kernel_response(action, verdict.backend, verdict.applied, tree.as_ref());
            response::escalation(&mut response, verdict.escalation, verdict.denials);
            alerts.push(Alert {
                number: 0,
                rule: meta,
                event: event.clone(),
                contributing: vec![event.id()],
                response: Some(response),
            });
        }
        if !monitor {
            self.escalate(verdict);
        }
        if verdict.escalation & ESCALATE_EXEC_STOPPED != 0 {
            alerts.push(response::stopped_exec_alert(event, verdict));
        }
        alerts
    }

    /// Carries out the last step of an escalation the kernel reported: freezing the session's
    /// cgroup (through the session cgroups), or killing its tree.
    fn escalate(&mut self, verdict: &Policy) {
        let session = verdict.common.session_id;
        if verdict.escalation & ESCALATE_KILL_TREE != 0 {
            if let Err(error) = self.kill_tree(session) {
                tracing::error!(%error, "escalation: killing the session's processes failed");
            }
        } else if verdict.escalation & ESCALATE_FREEZE != 0 {
            match &self.sessions {
                Some(link) => {
                    if link.requests.send((session, SessionAction::Freeze)).is_err() {
                        tracing::error!("escalation: the session cgroups are gone; the session is not frozen");
                    } else {
                        tracing::warn!(
                            session = %crate::process::agent_id(session),
                            denials = verdict.denials,
                            "escalation: freezing the session until an operator thaws or kills it"
                        );
                    }
                }
                None => tracing::error!("escalation: sessions cannot be frozen here; the session is not frozen"),
            }
        }
    }

    /// Carries out a rule the engine raised (not a kernel verdict) and records the response.
    pub fn respond(&mut self, alert: &mut Alert) {
        let action = alert.rule.action;
        let enforcement = self
            .rules
            .rules
            .iter()
            .find(|rule| Arc::ptr_eq(&rule.meta, &alert.rule))
            .and_then(|rule| rule.enforcement.clone());
        let note = match &enforcement {
            Some(RuleEnforcement::Kernel(_)) if alert.event.unjudged_by_kernel() => Some(
                "the kernel could not read the call's argument at its entry (rule unreadable-argument), so it was only detected"
                    .to_string(),
            ),
            Some(RuleEnforcement::Kernel(_)) => Some(
                "the kernel has no backend for this operation on this machine, so it was only detected".to_string(),
            ),
            Some(RuleEnforcement::Sensor { reason }) => Some(format!("carried out after detection: {reason}")),
            None => None,
        };
        let outcome = match (self.mode, action) {
            (Mode::Enforce, RuleAction::Kill) => Some(kill::kill_process(alert.event.process.pid)),
            (Mode::Enforce, RuleAction::KillTree) => {
                Some(self.kill_tree(alert.event.session.as_ref().map_or(0, |session| session.id)))
            }
            _ => None,
        };
        // A deny rule the kernel did not judge fails: the note says why.
        let note = match (self.mode, action) {
            (Mode::Enforce, RuleAction::Deny) => Some(note.unwrap_or_default()),
            _ => note,
        };
        alert.response = Some(response::sensor_response(action, self.mode, outcome, note));
    }

    fn kill_tree(&mut self, session: u64) -> Result<(), kill::KillError> {
        if session == 0 {
            return Err(kill::KillError::NoSession);
        }
        let _ = self.maps.killed.insert(session, 1, 0);
        let cgroup = self.session_cgroups.get(&session).cloned();
        kill::kill_session(session, cgroup.as_deref(), &self.tracked).map(|count| {
            tracing::warn!(session = %crate::process::agent_id(session), processes = count, "killed the session's processes");
        })
    }
}
