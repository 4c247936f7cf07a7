//! Folding bursts of alerts (docs/rules.md, "Folded bursts"): repeated matches of one rule in one
//! session within a window become the first alert, written at once, and one follow-up alert
//! when the window closes, with the count of the matches folded into it, the first and last
//! time, and a bounded sample of their paths or destinations. `rm -rf ~/Documents` of 63 files
//! is two `protected-delete` alerts, not 63.
//!
//! Only what alert outputs receive changes: the audit trail (events) keeps every event, and
//! metrics count every match. Enforcement is counted exactly: the follow-up counts its matches
//! per `agent_sensor.action` (`denied`, `would-deny`, …), and alerts of processes or sessions
//! that were killed (`killed`, `killed-tree`) or of actions that failed are never folded: each is
//! written.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    event::{Destination, Detail, ecs::rfc3339},
    rules::Alert,
};

/// `alerts:` in the configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub fold: FoldConfig,
}

/// `alerts.fold:` in the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FoldConfig {
    /// How long after a rule's first alert in a session its further matches are folded; 0 turns
    /// folding off.
    pub window_ms: u64,
    /// Most paths or destinations a follow-up lists.
    pub sample: usize,
    /// Windows of particular rules (by id), in milliseconds; 0 never folds that rule.
    pub rules: BTreeMap<String, u64>,
}

impl Default for FoldConfig {
    fn default() -> Self {
        Self {
            window_ms: 5000,
            sample: 10,
            rules: BTreeMap::new(),
        }
    }
}

impl FoldConfig {
    /// The window of rule `id` (zero: not folded).
    pub fn window(&self, id: &str) -> Duration {
        Duration::from_millis(self.rules.get(id).copied().unwrap_or(self.window_ms))
    }
}

/// Responses that are never folded: something was done to a process or session, or could not be.
const NEVER_FOLDED: [&str; 3] = ["killed", "killed-tree", "failed"];

/// Most bursts followed at once (sessions × rules); beyond it new bursts are not folded.
const MAX_BURSTS: usize = 4096;

/// What a follow-up alert adds (`agent_sensor.alert.folded`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldSummary {
    /// `event.id` of the burst's first alert (the one written at once).
    pub first_alert: Option<String>,
    /// Matches folded into the follow-up (the first alert not counted).
    pub count: u64,
    /// Times of the first and last folded match (ns since the epoch).
    pub first_ns: i128,
    pub last_ns: i128,
    pub window: Duration,
    /// Distinct paths, destinations or programs of the folded matches, in order of appearance.
    pub sample: Vec<String>,
    /// More distinct values than the sample holds were seen.
    pub sample_truncated: bool,
    /// Folded matches per `agent_sensor.action`.
    pub actions: BTreeMap<&'static str, u64>,
}

impl FoldSummary {
    pub fn to_value(&self) -> Value {
        let mut value = json!({
            "count": self.count,
            "first": rfc3339(self.first_ns),
            "last": rfc3339(self.last_ns),
            "window_ms": self.window.as_millis() as u64,
            "sample": self.sample,
            "sample_truncated": self.sample_truncated,
            "actions": self.actions,
        });
        if let (Some(id), Value::Object(map)) = (&self.first_alert, &mut value) {
            map.insert("first_alert".into(), json!(id));
        }
        value
    }
}

/// An alert to write: as raised, or the follow-up of a burst.
#[derive(Clone, Debug)]
pub enum Outgoing {
    Alert(Alert),
    /// The last folded alert, with the burst's summary.
    FollowUp(Alert, FoldSummary),
}

impl Outgoing {
    pub fn alert(&self) -> &Alert {
        match self {
            Self::Alert(alert) | Self::FollowUp(alert, _) => alert,
        }
    }

    pub fn alert_mut(&mut self) -> &mut Alert {
        match self {
            Self::Alert(alert) | Self::FollowUp(alert, _) => alert,
        }
    }

    /// The JSON document: the alert's, with `agent_sensor.alert.folded` for a follow-up.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Self::Alert(alert) => alert.to_json(),
            Self::FollowUp(alert, summary) => {
                let mut doc = alert.to_value();
                if let Some(Value::Object(fields)) = doc.pointer_mut("/agent_sensor/alert") {
                    fields.insert("folded".into(), summary.to_value());
                }
                serde_json::to_vec(&doc).unwrap_or_default()
            }
        }
    }
}

type Key = (u64, Arc<str>);

/// One open burst.
struct Burst {
    /// When the window closes (ns since the epoch, on the events' clock).
    ends_ns: i128,
    summary: FoldSummary,
    /// The last folded alert (the follow-up's document).
    last: Option<Alert>,
}

impl Burst {
    fn follow_up(self) -> Option<Outgoing> {
        let last = self.last?;
        Some(Outgoing::FollowUp(last, self.summary))
    }
}

/// Folds bursts of alerts; see the module documentation.
pub struct Folder {
    config: FoldConfig,
    bursts: HashMap<Key, Burst>,
}

impl Default for Folder {
    fn default() -> Self {
        Self::new(FoldConfig::default())
    }
}

impl Folder {
    pub fn new(config: FoldConfig) -> Self {
        Self {
            config,
            bursts: HashMap::new(),
        }
    }

    /// New settings; open bursts keep the window they opened with.
    pub fn reconfigure(&mut self, config: FoldConfig) {
        self.config = config;
    }

    /// Takes one raised alert; pushes onto `out` what to write now: the follow-up of the
    /// rule's burst in this session when its window has closed, and the alert unless it is
    /// folded into a burst.
    pub fn admit(&mut self, alert: Alert, out: &mut Vec<Outgoing>) {
        let action = action(&alert);
        let window = self.config.window(&alert.rule.id);
        if window.is_zero() || NEVER_FOLDED.contains(&action) {
            out.push(Outgoing::Alert(alert));
            return;
        }
        let key = key(&alert);
        let now = alert.event.timestamp_ns;
        if let Some(burst) = self.bursts.get_mut(&key)
            && now < burst.ends_ns
        {
            fold_into(burst, alert, action, self.config.sample);
            return;
        }
        if let Some(closed) = self.bursts.remove(&key).and_then(Burst::follow_up) {
            out.push(closed);
        }
        if self.bursts.len() < MAX_BURSTS {
            self.bursts.insert(
                key,
                Burst {
                    ends_ns: now.saturating_add(window.as_nanos() as i128),
                    summary: FoldSummary {
                        first_alert: None,
                        count: 0,
                        first_ns: 0,
                        last_ns: 0,
                        window,
                        sample: Vec::new(),
                        sample_truncated: false,
                        actions: BTreeMap::new(),
                    },
                    last: None,
                },
            );
        }
        out.push(Outgoing::Alert(alert));
    }

    /// Learns the `event.id` a burst's first alert was written with (call it for everything
    /// written, numbered, in order).
    pub fn written(&mut self, out: &Outgoing) {
        let Outgoing::Alert(alert) = out else {
            return;
        };
        if NEVER_FOLDED.contains(&action(alert)) {
            return;
        }
        if let Some(burst) = self.bursts.get_mut(&key(alert))
            && burst.summary.first_alert.is_none()
        {
            burst.summary.first_alert = Some(alert.id());
        }
    }

    /// The follow-ups of bursts whose window closed before `now_ns`, oldest first.
    pub fn expire(&mut self, now_ns: i128, out: &mut Vec<Outgoing>) {
        self.close_where(out, |burst| burst.ends_ns <= now_ns);
    }

    /// The follow-ups of every open burst (at shutdown).
    pub fn finish(&mut self, out: &mut Vec<Outgoing>) {
        self.close_where(out, |_| true);
    }

    fn close_where(&mut self, out: &mut Vec<Outgoing>, due: impl Fn(&Burst) -> bool) {
        let keys: Vec<Key> = self
            .bursts
            .iter()
            .filter(|(_, burst)| due(burst))
            .map(|(key, _)| key.clone())
            .collect();
        let mut closed: Vec<Burst> = keys.iter().filter_map(|key| self.bursts.remove(key)).collect();
        closed.sort_by_key(|burst| burst.ends_ns);
        out.extend(closed.into_iter().filter_map(Burst::follow_up));
    }

    /// Bursts open now.
    pub fn open(&self) -> usize {
        self.bursts.len()
    }
}

/// `agent_sensor.action` of an alert (`alerted` offline).
fn action(alert: &Alert) -> &'static str {
    alert.response.as_ref().map_or("alerted", |response| response.action)
}

/// Bursts are per session and rule.
fn key(alert: &Alert) -> Key {
    (
        alert.event.session.as_ref().map_or(0, |session| session.id),
        alert.rule.id.clone(),
    )
}

fn fold_into(burst: &mut Burst, alert: Alert, action: &'static str, sample: usize) {
    let summary = &mut burst.summary;
    let at = alert.event.timestamp_ns;
    if summary.count == 0 {
        summary.first_ns = at;
    }
    summary.count += 1;
    summary.last_ns = summary.last_ns.max(at);
    *summary.actions.entry(action).or_default() += 1;
    let value = sample_value(&alert);
    if !value.is_empty() && !summary.sample.contains(&value) {
        if summary.sample.len() < sample {
            summary.sample.push(value);
        } else {
            summary.sample_truncated = true;
        }
    }
    burst.last = Some(alert);
}

/// What a folded match is about: its file, its destination, or its program.
fn sample_value(alert: &Alert) -> String {
    let event = &alert.event;
    match &event.detail {
        Detail::File(file) => file.path.clone(),
        Detail::Connect {
            destination: Destination::Inet(address),
            ..
        } => address.to_string(),
        Detail::Connect {
            destination: Destination::Unix(path),
            ..
        } => path.clone(),
        Detail::Exec { filename, .. } => filename.clone(),
        _ => event.process.executable.to_string(),
    }
}

#[cfg(test)]
mod tests;
