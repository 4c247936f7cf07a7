//! Behavioural baselines per agent profile (docs/baselines.md).
//!
//! Each profile (`gen_ai.agent.name`: a profile's name, or `watch --name`) learns from its
//! sessions what it executes (by path, and parent-to-child pairs), which directory areas it reads
//! and writes, where it connects (address or prefix, port, country) and how many events of each
//! action it produces per minute. Once it has seen enough (sessions, time, events) it enforces:
//! every event is judged against what was learned, the facts go on the event
//! (`agent_sensor.baseline.*`, which rules can test), and deviations raise alerts with their own
//! rule ids, scores and the baseline facts behind them.
//!
//! - `keyset`: bounded sets of learned values (the memory bound);
//! - `areas`: paths generalised to directory areas;
//! - `rates`: per-minute rates (moving average and spread);
//! - `profile`: one profile's baseline and what an event contributes to it;
//! - `session`: per-session minute counters and alert de-duplication;
//! - `detect`: deviations, scores, the alerts' rules;
//! - `persist`: the files (versioned, atomic, corruption set aside).
//!
//! [`Baselines`] holds them all, keyed by profile name, and is what the pipeline calls.

pub mod areas;
pub mod detect;
pub mod keyset;
pub mod persist;
pub mod profile;
pub mod rates;
pub mod session;

#[cfg(test)]
mod tests;

use std::{num::NonZeroUsize, sync::Arc, time::Instant};

use lru::LruCache;
use rustc_hash::FxHashMap;

pub use persist::{PersistError, Store};
pub use profile::Profile;

use self::{
    detect::{Detectors, Kind, Values},
    profile::{Observation, ObserveOptions},
    session::SessionState,
};
use crate::{
    config::{Config, baseline::BaselineConfig},
    event::{Event, annotations::BaselineStatus},
    rules::Alert,
};

/// Events between checks of the save timer and of time-based transitions.
const CHECK_EVERY: u32 = 256;
/// Ended sessions remembered, so late events of a session do not count it twice.
const ENDED_REMEMBERED: usize = 256;
/// The agent name of sessions the sensor does not know (not baselined).
const UNKNOWN_AGENT: &str = "unknown";

/// A profile in memory.
#[derive(Debug)]
struct Slot {
    profile: Profile,
    /// Changed since it was last saved.
    dirty: bool,
    /// For choosing which profile leaves memory first.
    last_used: u64,
}

/// Every profile's baseline, the running sessions, and where they are stored.
pub struct Baselines {
    config: BaselineConfig,
    options: ObserveOptions,
    detectors: Detectors,
    /// By agent name (names of the configuration's profiles, not of the agents' choosing).
    profiles: FxHashMap<Arc<str>, Slot>,
    sessions: LruCache<u64, SessionState>,
    ended: LruCache<u64, ()>,
    store: Option<Store>,
    clock: u64,
    events: u32,
    last_save: Instant,
    /// The newest event time seen (seconds), for time-based transitions.
    now: i64,
}

impl std::fmt::Debug for Baselines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baselines")
            .field("profiles", &self.profiles.len())
            .field("sessions", &self.sessions.len())
            .field("store", &self.store.as_ref().map(Store::dir))
            .finish()
    }
}

fn seconds(epoch_ns: i128) -> i64 {
    (epoch_ns / 1_000_000_000) as i64
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN)
}

impl Baselines {
    /// Baselines as `config` says: `None` when disabled. Stored in `config.state_dir`; when that
    /// cannot be used they are learned in memory only (and the reason is logged).
    pub fn open(config: &Config) -> Option<Self> {
        if !config.baseline.enabled {
            tracing::info!("baselines are off (baseline.enabled: false)");
            return None;
        }
        let store = match Store::open(&config.state_dir, false) {
            Ok(store) => {
                if store.writable() {
                    tracing::info!(dir = %store.dir().display(), "baselines loaded from and saved to this directory");
                } else {
                    tracing::warn!(
                        dir = %store.dir().display(),
                        "another agent-sensor owns these baselines: this one judges against them but saves nothing"
                    );
                }
                Some(store)
            }
            Err(error) => {
                tracing::warn!(%error, "baselines cannot be stored; they are learned in memory only");
                None
            }
        };
        Some(Self::new(&config.baseline, store))
    }

    pub fn new(config: &BaselineConfig, store: Option<Store>) -> Self {
        Self {
            options: ObserveOptions {
                area_depth: config.file_area_depth as usize,
                ignore_scopes: config.ignore_destination_scopes.clone(),
            },
            detectors: Detectors::new(&config.rules),
            profiles: FxHashMap::default(),
            sessions: LruCache::new(cap(config.caps.sessions)),
            ended: LruCache::new(cap(ENDED_REMEMBERED)),
            store,
            clock: 0,
            events: 0,
            last_save: Instant::now(),
            now: 0,
            config: config.clone(),
        }
    }

    /// The profile `name`, when it is in memory.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name).map(|slot| &slot.profile)
    }

    /// Profiles in memory.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values().map(|slot| &slot.profile)
    }

    /// Learns from `event` or judges it: sets `agent_sensor.baseline.*` on it and adds an alert
    /// for each deviation to `alerts`.
    pub fn observe(&mut self, event: &mut Event, alerts: &mut Vec<Alert>) {
        let Some(session) = event.session.as_ref() else {
            return;
        };
        if &*session.agent == UNKNOWN_AGENT {
            return;
        }
        let (session_id, agent) = (session.id, session.agent.clone());
        let at = seconds(event.timestamp_ns);
        self.now = self.now.max(at);
        self.clock += 1;
        self.ensure_profile(&agent, at);
        self.begin_session(session_id, &agent, at);
        let mut observation = Observation::of(event, &self.options);

        let config = &self.config;
        let (Some(slot), Some(state)) = (self.profiles.get_mut(&agent), self.sessions.get_mut(&session_id)) else {
            return;
        };
        slot.last_used = self.clock;
        let profile = &mut slot.profile;
        profile.last_seen = profile.last_seen.max(at);
        let learning = profile.status == BaselineStatus::Learning;
        if let Some(counts) = state.advance(at.div_euclid(60))
            && (learning || config.learn_while_enforcing)
        {
            profile.rates.update(&counts, config.rates.smoothing.0);
            slot.dirty = true;
        }
        let count = state.count(event.action);

        let mut facts = profile.facts(&observation);
        let mut findings = Vec::new();
        if !learning {
            let values = Values {
                executable: observation.executable.as_deref(),
                exec_pair: observation.exec_pair.as_deref(),
                area: observation.area.as_ref().map(|(area, write)| (area.as_str(), *write)),
                destination: observation.destination.as_deref(),
                country: observation.country.as_ref().map(|country| country.as_str()),
            };
            let detectors = &self.detectors;
            findings = detect::novelties(profile, &facts, &values, |kind, value| {
                detectors.enabled(kind) && !state.alerted_on(kind.name(), value)
            });
            let rate = profile.rates.get(event.action);
            if self.detectors.enabled(Kind::RateSpike) && rate.minutes >= config.rates.min_minutes {
                let threshold = rate.threshold(config.rates.sigma.0, config.rates.min_count);
                if count as f64 > threshold && state.first_spike(event.action) {
                    findings.push(detect::rate_spike(profile, event.action, count as u64, rate, threshold));
                }
            }
        }
        if learning || config.learn_while_enforcing {
            profile.learn(&observation, at, &config.caps);
            slot.dirty = true;
        }

        let mut raised = Vec::new();
        for finding in findings {
            let kind = detect::kind_of(&finding);
            let Some(rule) = self.detectors.rule(kind, finding.score) else {
                continue;
            };
            let first = match kind {
                // Spikes are limited to one per action and minute already; remember the minute.
                Kind::RateSpike => state.first_alert(
                    finding.kind,
                    &format!("{}@{}", finding.value, state.minute),
                    config.caps.alerts_per_session,
                ),
                _ => state.first_alert(finding.kind, &finding.value, config.caps.alerts_per_session),
            };
            if !first {
                continue;
            }
            raised.push((rule.clone(), finding));
        }
        facts.file_area = observation.area.take().map(|(area, _)| area);
        event.annotations.baseline = Some(Box::new(facts));
        for (rule, finding) in raised {
            let mut copy = event.clone();
            if let Some(facts) = copy.annotations.baseline.as_mut() {
                facts.finding = Some(finding);
            }
            alerts.push(Alert {
                number: 0,
                rule,
                contributing: vec![event.id()],
                event: copy,
                response: None,
            });
        }

        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(CHECK_EVERY) {
            self.check_transition(&agent);
            if self.last_save.elapsed() >= self.config.save_interval.0 {
                self.save();
            }
        }
    }

    /// A session ended: it counts towards its profile's learning.
    pub fn session_ended(&mut self, id: u64) {
        if let Some(state) = self.sessions.pop(&id) {
            self.end(id, state);
        }
    }

    /// Ends every running session and saves (at exit).
    pub fn finish(&mut self) {
        while let Some((id, state)) = self.sessions.pop_lru() {
            self.end(id, state);
        }
        self.save();
    }

    /// Writes every changed profile; returns how many were written.
    pub fn save(&mut self) -> usize {
        self.last_save = Instant::now();
        let Some(store) = self.store.as_ref().filter(|store| store.writable()) else {
            return 0;
        };
        let mut saved = 0;
        for slot in self.profiles.values_mut().filter(|slot| slot.dirty) {
            match store.save(&slot.profile) {
                Ok(()) => {
                    slot.dirty = false;
                    saved += 1;
                }
                Err(error) => tracing::error!(%error, profile = %slot.profile.name, "cannot save the baseline"),
            }
        }
        saved
    }

    fn end(&mut self, id: u64, state: SessionState) {
        self.ended.put(id, ());
        if state.suppressed > 0 {
            tracing::warn!(
                session = %crate::process::agent_id(id),
                agent = %state.agent,
                alerted = state.alerted(),
                not_alerted = state.suppressed,
                "the session deviated from its baseline more often than baseline.caps.alerts_per_session allows alerts for"
            );
        }
        if let Some(slot) = self.profiles.get_mut(&state.agent) {
            let profile = &mut slot.profile;
            profile.sessions_ended = profile.sessions_ended.saturating_add(1);
            if profile.status == BaselineStatus::Learning || self.config.learn_while_enforcing {
                profile.sessions_learned = profile.sessions_learned.saturating_add(1);
            }
            slot.dirty = true;
        }
        self.check_transition(&state.agent);
    }

    /// Starts following a session at its first event.
    fn begin_session(&mut self, id: u64, agent: &Arc<str>, at: i64) {
        if self.sessions.contains(&id) {
            return;
        }
        let resumed = self.ended.pop(&id).is_some();
        if let Some((old_id, old)) = self
            .sessions
            .push(id, SessionState::new(agent.clone(), at.div_euclid(60)))
            .filter(|(old_id, _)| *old_id != id)
        {
            // More sessions than baseline.caps.sessions: the least recently active one is over.
            self.end(old_id, old);
        }
        if resumed {
            return;
        }
        if let Some(slot) = self.profiles.get_mut(agent) {
            slot.profile.sessions_seen = slot.profile.sessions_seen.saturating_add(1);
            slot.dirty = true;
        }
        self.check_transition(agent);
    }

    /// Brings profile `name` into memory: from the store, or new.
    fn ensure_profile(&mut self, name: &Arc<str>, at: i64) {
        if self.profiles.contains_key(name) {
            return;
        }
        if self.profiles.len() >= self.config.caps.profiles.max(1) {
            self.evict_profile();
        }
        let stored = self
            .store
            .as_ref()
            .and_then(|store| store.load(name, &self.config.caps));
        let profile = stored.unwrap_or_else(|| {
            let mut profile = Profile::new(name);
            profile.first_seen = at;
            profile.last_seen = at;
            profile
        });
        tracing::debug!(profile = %name, status = profile.status.as_str(), "baseline in use");
        self.profiles.insert(
            name.clone(),
            Slot {
                profile,
                dirty: false,
                last_used: self.clock,
            },
        );
    }

    /// Saves and drops the least recently used profile (it reloads when its agent comes back).
    fn evict_profile(&mut self) {
        let Some(victim) = self
            .profiles
            .iter()
            .min_by_key(|(_, slot)| slot.last_used)
            .map(|(name, _)| name.clone())
        else {
            return;
        };
        if let Some(slot) = self.profiles.remove(&victim)
            && slot.dirty
            && let Some(store) = self.store.as_ref().filter(|store| store.writable())
            && let Err(error) = store.save(&slot.profile)
        {
            tracing::error!(%error, profile = %victim, "cannot save the baseline");
        }
    }

    /// Moves profile `name` from learning to enforcing once it has learned enough.
    fn check_transition(&mut self, name: &str) {
        let learning = &self.config.learning;
        let now = self.now;
        let Some(slot) = self.profiles.get_mut(name) else {
            return;
        };
        let profile = &mut slot.profile;
        if profile.status != BaselineStatus::Learning {
            return;
        }
        let learned_for = now.saturating_sub(profile.first_seen).max(0) as u64;
        if profile.sessions_learned >= learning.min_sessions
            && learned_for >= learning.min_duration.0.as_secs()
            && profile.events_learned >= learning.min_events
        {
            profile.status = BaselineStatus::Enforcing;
            profile.enforcing_since = Some(now);
            slot.dirty = true;
            tracing::info!(
                profile = name,
                sessions = profile.sessions_learned,
                events = profile.events_learned,
                executables = profile.executables.len(),
                destinations = profile.destinations.len(),
                "baseline learned: the profile now judges its sessions against it"
            );
        }
    }
}
