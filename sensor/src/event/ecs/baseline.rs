//! `agent_sensor.baseline`.

use super::*;

/// `agent_sensor.baseline`: the facts, and for a baseline alert what made the event unusual.
#[derive(Serialize)]
pub(super) struct BaselineFields<'a> {
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new_executable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new_exec_pair: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new_file_area: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) file_area: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new_destination: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new_country: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) deviation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) known: Option<BaselineKnown<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rate: Option<BaselineRate>,
}

#[derive(Serialize)]
pub(super) struct BaselineKnown<'a> {
    pub(super) values: u64,
    pub(super) observations: u64,
    pub(super) sessions: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) similar: &'a [String],
}

#[derive(Serialize)]
pub(super) struct BaselineRate {
    pub(super) action: &'static str,
    pub(super) count: u64,
    pub(super) mean: f64,
    pub(super) stddev: f64,
    pub(super) threshold: f64,
    pub(super) minutes: u64,
}

impl<'a> BaselineFields<'a> {
    pub(super) fn of(facts: &'a BaselineFacts) -> Self {
        let finding = facts.finding.as_ref();
        let round = |value: f64| (value * 100.0).round() / 100.0;
        Self {
            status: facts.status.as_str(),
            new_executable: facts.new_executable,
            new_exec_pair: facts.new_exec_pair,
            new_file_area: facts.new_file_area,
            file_area: facts.file_area.as_deref(),
            new_destination: facts.new_destination,
            new_country: facts.new_country,
            deviation: finding.map(|finding| finding.kind),
            value: finding.map(|finding| finding.value.as_str()),
            score: finding.map(|finding| finding.score),
            reason: finding.map(|finding| finding.reason.as_str()),
            known: finding.map(|finding| BaselineKnown {
                values: finding.known,
                observations: finding.observations,
                sessions: finding.sessions,
                similar: &finding.similar,
            }),
            rate: finding
                .and_then(|finding| finding.rate.as_ref())
                .map(|rate| BaselineRate {
                    action: rate.action,
                    count: rate.count,
                    mean: round(rate.mean),
                    stddev: round(rate.stddev),
                    threshold: round(rate.threshold),
                    minutes: rate.minutes,
                }),
        }
    }
}
