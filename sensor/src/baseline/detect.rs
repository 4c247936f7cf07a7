//! Deviations from a baseline: which ones an event shows, how unusual each is (the score), and
//! the alerts they raise, with their own rule ids.
//!
//! Scores run from 0 to 100. For a new value the score is how settled the baseline is: one
//! minus the Good–Turing estimate of the chance that the next observation is new,
//! `(values seen once + 1) / (observations + 2)`. A profile that saw forty executables a
//! thousand times scores a new one near 100; one whose every exec was a different program scores
//! it near 0. A new country on top of a new destination halves the distance to 100. A rate spike
//! scores 50 at its threshold and approaches 100 as the count grows past it.

use std::sync::Arc;

use super::{keyset::KeySet, profile::Profile, rates::Rate};
use crate::{
    config::baseline::{BaselineRule, BaselineRules},
    event::{
        Action,
        annotations::{BaselineFacts, Finding, RateFinding},
    },
    rules::rule::RuleMeta,
};

/// `rule.ruleset` of baseline alerts.
pub const RULESET: &str = "agent-sensor-baseline";

/// The kinds of deviation, each with its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    NewExecutable,
    NewExecPair,
    NewFileArea,
    NewDestination,
    RateSpike,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::NewExecutable,
        Kind::NewExecPair,
        Kind::NewFileArea,
        Kind::NewDestination,
        Kind::RateSpike,
    ];

    /// `agent_sensor.baseline.deviation`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NewExecutable => "new-executable",
            Self::NewExecPair => "new-exec-pair",
            Self::NewFileArea => "new-file-area",
            Self::NewDestination => "new-destination",
            Self::RateSpike => "rate-spike",
        }
    }

    pub fn rule_id(self) -> &'static str {
        match self {
            Self::NewExecutable => "baseline-new-executable",
            Self::NewExecPair => "baseline-new-exec-pair",
            Self::NewFileArea => "baseline-new-file-area",
            Self::NewDestination => "baseline-new-destination",
            Self::RateSpike => "baseline-rate-spike",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::NewExecutable => "Agent ran an executable its baseline has never seen",
            Self::NewExecPair => "Agent started a program from a parent its baseline never saw start it",
            Self::NewFileArea => "Agent touched a file area its baseline has never seen",
            Self::NewDestination => "Agent connected to a destination its baseline has never seen",
            Self::RateSpike => "Agent's rate of an action spiked above its baseline",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::NewExecutable => {
                "A session of this agent profile executed a program that no session ran while the \
                 profile learned. Check what the program is and why the agent ran it: a dropped \
                 binary, a tool installed for the occasion, or a new but legitimate part of the \
                 workflow (then accept it: learn_while_enforcing, or re-learn the profile)."
            }
            Self::NewExecPair => {
                "A known program was started by a parent that never started it while the profile \
                 learned (a shell spawned by an unusual process, an interpreter running a tool it \
                 never ran). Look at the parent's command line."
            }
            Self::NewFileArea => {
                "The session read or wrote in a directory area the profile never touched in that \
                 way while it learned. Check the files: credentials, other projects, system \
                 configuration."
            }
            Self::NewDestination => {
                "The session connected to an address (or network) and port, possibly in a country, \
                 that no session of the profile contacted while it learned. Identify the \
                 destination and the process."
            }
            Self::RateSpike => {
                "The session did one kind of operation (exec, open, connect, unlink…) far more \
                 often in one minute than the profile's learned per-minute rate: mass deletion, \
                 scanning, exfiltration or a runaway loop."
            }
        }
    }

    fn tags(self) -> &'static [&'static str] {
        match self {
            Self::NewExecutable | Self::NewExecPair => &["baseline", "execution"],
            Self::NewFileArea => &["baseline", "file"],
            Self::NewDestination => &["baseline", "network"],
            Self::RateSpike => &["baseline", "rate"],
        }
    }

    fn settings(self, rules: &BaselineRules) -> &BaselineRule {
        match self {
            Self::NewExecutable => &rules.new_executable,
            Self::NewExecPair => &rules.new_exec_pair,
            Self::NewFileArea => &rules.new_file_area,
            Self::NewDestination => &rules.new_destination,
            Self::RateSpike => &rules.rate_spike,
        }
    }
}

/// The rule of each kind, as configured (`None`: disabled).
#[derive(Clone, Debug)]
pub struct Detectors {
    rules: [(Option<Arc<RuleMeta>>, u8); 5],
}

impl Detectors {
    pub fn new(config: &BaselineRules) -> Self {
        let rules = Kind::ALL.map(|kind| {
            let settings = kind.settings(config);
            let meta = settings.enabled.then(|| {
                Arc::new(RuleMeta {
                    id: Arc::from(kind.rule_id()),
                    name: Arc::from(kind.title()),
                    description: Arc::from(kind.description()),
                    ruleset: Arc::from(RULESET),
                    severity: settings.severity.0,
                    action: settings.action.0,
                    tags: kind.tags().iter().map(|tag| Arc::from(*tag)).collect(),
                    mitre: Vec::new(),
                    escalate: None,
                })
            });
            (meta, settings.min_score)
        });
        Self { rules }
    }

    /// The rule of `kind` when it is enabled and `score` reaches its minimum.
    pub fn rule(&self, kind: Kind, score: u8) -> Option<&Arc<RuleMeta>> {
        let (meta, min_score) = &self.rules[kind as usize];
        meta.as_ref().filter(|_| score >= *min_score)
    }

    pub fn enabled(&self, kind: Kind) -> bool {
        self.rules[kind as usize].0.is_some()
    }
}

/// How settled `set` is: 0 (anything goes) to 100 (a new value is a surprise).
pub fn novelty_score(set: &KeySet) -> u8 {
    if set.observations() == 0 {
        return 0;
    }
    let observations = set.observations() as f64;
    let once = set.singletons() as f64;
    let chance_of_new = ((once + 1.0) / (observations + 2.0)).clamp(0.0, 1.0);
    ((1.0 - chance_of_new) * 100.0).round() as u8
}

/// The findings of one event against `profile`, from the facts already computed. `value`s are
/// the observation's.
pub struct Values<'a> {
    pub executable: Option<&'a str>,
    pub exec_pair: Option<&'a str>,
    pub area: Option<(&'a str, bool)>,
    pub destination: Option<&'a str>,
    pub country: Option<&'a str>,
}

/// Findings for the `new_*` facts that hold, except those `wanted` declines (a disabled rule, a
/// deviation the session already alerted on), which are not worked out at all.
pub fn novelties(
    profile: &Profile,
    facts: &BaselineFacts,
    values: &Values,
    wanted: impl Fn(Kind, &str) -> bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let agent = &profile.name;
    let sessions = profile.sessions_learned;
    let finding = |kind: Kind, value: &str, set: &KeySet, reason: String, similar: Vec<String>| Finding {
        kind: kind.name(),
        value: value.to_string(),
        score: novelty_score(set),
        reason,
        known: set.len() as u64,
        observations: set.observations(),
        sessions,
        similar,
        rate: None,
    };
    if let (Some(true), Some(executable)) = (facts.new_executable, values.executable)
        && wanted(Kind::NewExecutable, executable)
    {
        let directory = executable.rfind('/').map_or(0, |i| i + 1);
        findings.push(finding(
            Kind::NewExecutable,
            executable,
            &profile.executables,
            format!(
                "{agent} never ran {executable} while it learned ({} executables known from {} execs in {sessions} sessions)",
                profile.executables.len(),
                profile.executables.observations()
            ),
            profile.executables.similar(executable, directory.max(1), 5),
        ));
    } else if let (Some(true), Some(pair)) = (facts.new_exec_pair, values.exec_pair)
        && facts.new_executable != Some(true)
        && wanted(Kind::NewExecPair, pair)
    {
        let parent = pair.find(" -> ").map_or(pair.len(), |i| i + 4);
        findings.push(finding(
            Kind::NewExecPair,
            pair,
            &profile.exec_pairs,
            format!(
                "{agent} never saw {pair} while it learned ({} parent-child pairs known)",
                profile.exec_pairs.len()
            ),
            profile.exec_pairs.similar(pair, parent, 5),
        ));
    }
    if let (Some(true), Some((area, write))) = (facts.new_file_area, values.area)
        && wanted(Kind::NewFileArea, area)
    {
        let (set, access) = if write {
            (&profile.write_areas, "wrote in")
        } else {
            (&profile.read_areas, "read from")
        };
        findings.push(finding(
            Kind::NewFileArea,
            area,
            set,
            format!(
                "{agent} never {access} {area} while it learned ({} such areas known)",
                set.len()
            ),
            set.similar(area, 2, 5),
        ));
    }
    if let (Some(true), Some(destination)) = (facts.new_destination, values.destination)
        && wanted(Kind::NewDestination, destination)
    {
        let mut found = finding(
            Kind::NewDestination,
            destination,
            &profile.destinations,
            String::new(),
            Vec::new(),
        );
        match (facts.new_country, values.country) {
            (Some(true), Some(country)) => {
                found.score = found.score + (100 - found.score) / 2;
                found.reason = format!(
                    "{agent} never connected to {destination} nor to any address in {country} while it learned ({} destinations in {} countries known)",
                    profile.destinations.len(),
                    profile.countries.len()
                );
                let mut countries: Vec<String> = profile.countries.keys().map(str::to_string).collect();
                countries.sort();
                countries.truncate(10);
                found.similar = countries;
            }
            _ => {
                found.reason = format!(
                    "{agent} never connected to {destination} while it learned ({} destinations known)",
                    profile.destinations.len()
                );
                let host = destination.rfind(':').unwrap_or(destination.len());
                found.similar = profile.destinations.similar(destination, host, 5);
            }
        }
        findings.push(found);
    }
    findings
}

/// A finding for `count` events of `action` in one minute against `rate`.
pub fn rate_spike(profile: &Profile, action: Action, count: u64, rate: &Rate, threshold: f64) -> Finding {
    let spread = rate.spread();
    let z = (count as f64 - rate.mean) / spread;
    let at_threshold = ((threshold - rate.mean) / spread).max(1.0);
    let score = (50.0 + 50.0 * (1.0 - at_threshold / z.max(at_threshold)))
        .round()
        .clamp(0.0, 100.0) as u8;
    Finding {
        kind: Kind::RateSpike.name(),
        value: action.as_str().to_string(),
        score,
        reason: format!(
            "{count} {} events in one minute; {} learned {:.1} per active minute (spread {:.1}, threshold {:.0})",
            action.as_str(),
            profile.name,
            rate.mean,
            rate.stddev(),
            threshold
        ),
        known: rate.minutes,
        observations: rate.minutes,
        sessions: profile.sessions_learned,
        similar: Vec::new(),
        rate: Some(RateFinding {
            action: action.as_str(),
            count,
            mean: rate.mean,
            stddev: rate.stddev(),
            threshold,
            minutes: rate.minutes,
        }),
    }
}

/// The kind of a finding.
pub fn kind_of(finding: &Finding) -> Kind {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.name() == finding.kind)
        .unwrap_or(Kind::RateSpike)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_sets_score_high() {
        let mut settled = KeySet::default();
        for i in 0..1000 {
            settled.observe(&format!("/usr/bin/tool{}", i % 20), i, 100);
        }
        assert!(novelty_score(&settled) >= 95, "{}", novelty_score(&settled));
        let mut scattered = KeySet::default();
        for i in 0..50 {
            scattered.observe(&format!("/tmp/x{i}"), i, 100);
        }
        assert!(novelty_score(&scattered) <= 5, "{}", novelty_score(&scattered));
        assert_eq!(novelty_score(&KeySet::default()), 0);
    }
}
