//! Configuration of behavioural baselines (`baseline:`; docs/baselines.md and
//! docs/configuration.md).

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Deserializer, de};

use crate::{
    event::annotations::Scope,
    rules::{RuleAction, Severity},
};

/// Where the sensor keeps state (baselines) when the configuration does not say.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/agent-sensor";

/// Environment variable that overrides `state_dir` (containers, tests).
pub const STATE_DIR_ENV: &str = "AGENT_SENSOR_STATE_DIR";

/// The state directory: `AGENT_SENSOR_STATE_DIR`, else `configured` (relative to `base`, the
/// configuration file's directory), else the default.
pub fn state_dir(configured: Option<&Path>, base: Option<&Path>) -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    match (configured, base) {
        (Some(dir), Some(base)) => base.join(dir),
        (Some(dir), None) => dir.to_path_buf(),
        (None, _) => PathBuf::from(DEFAULT_STATE_DIR),
    }
}

/// `baseline:`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Learn and judge baselines at all.
    pub enabled: bool,
    /// When a profile stops learning and starts judging.
    pub learning: LearningConfig,
    /// Keep adding what enforcing profiles see (after judging it), so a deviation alerts once.
    pub learn_while_enforcing: bool,
    /// How often learned baselines are written to the state directory (and at exit).
    pub save_interval: ConfigDuration,
    /// Directory levels a file area keeps below `/`, `~` or the workspace.
    pub file_area_depth: u8,
    /// Destinations of these scopes are not baselined (e.g. `[loopback]` for dev servers on
    /// random ports).
    pub ignore_destination_scopes: Vec<Scope>,
    /// Per-minute rates.
    pub rates: RateConfig,
    /// The memory bound.
    pub caps: CapsConfig,
    /// Severity, action and threshold of each baseline alert, by rule id.
    pub rules: BaselineRules,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            learning: LearningConfig::default(),
            learn_while_enforcing: false,
            save_interval: ConfigDuration(Duration::from_secs(60)),
            file_area_depth: 3,
            ignore_destination_scopes: Vec::new(),
            rates: RateConfig::default(),
            caps: CapsConfig::default(),
            rules: BaselineRules::default(),
        }
    }
}

/// `baseline.learning`: a profile enforces once it has seen all of these.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LearningConfig {
    /// Sessions that ended while learning.
    pub min_sessions: u64,
    /// Time since the profile's first event.
    pub min_duration: ConfigDuration,
    /// Events learned from.
    pub min_events: u64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            min_sessions: 5,
            min_duration: ConfigDuration(Duration::from_secs(24 * 3600)),
            min_events: 1000,
        }
    }
}

/// `baseline.rates`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig {
    /// Weight of each new minute in the moving average (0 < smoothing <= 1).
    pub smoothing: Fraction,
    /// A minute spikes above mean + sigma × spread.
    pub sigma: Fraction,
    /// ... and only with at least this many events of the action in the minute.
    pub min_count: u64,
    /// Active minutes learned before spikes are judged.
    pub min_minutes: u64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            smoothing: Fraction(0.1),
            sigma: Fraction(4.0),
            min_count: 100,
            min_minutes: 10,
        }
    }
}

/// `baseline.caps`: the most entries kept of each kind (the least recently seen go first).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {
    /// Profiles held in memory (others stay on disk until their agent is seen again).
    pub profiles: usize,
    /// Per profile.
    pub executables: usize,
    pub exec_pairs: usize,
    /// Per profile, for reads and for writes each.
    pub file_areas: usize,
    pub destinations: usize,
    pub countries: usize,
    /// Sessions followed at once (their minute counters and what they already alerted on).
    pub sessions: usize,
    /// Distinct deviations one session alerts on; later ones are counted, not alerted.
    pub alerts_per_session: usize,
}

impl Default for CapsConfig {
    fn default() -> Self {
        Self {
            profiles: 32,
            executables: 1024,
            exec_pairs: 2048,
            file_areas: 2048,
            destinations: 1024,
            countries: 256,
            sessions: 1024,
            alerts_per_session: 256,
        }
    }
}

/// `baseline.rules`: one entry per baseline alert, by rule id.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineRules {
    #[serde(rename = "baseline-new-executable")]
    pub new_executable: BaselineRule,
    #[serde(rename = "baseline-new-exec-pair")]
    pub new_exec_pair: BaselineRule,
    #[serde(rename = "baseline-new-file-area")]
    pub new_file_area: BaselineRule,
    #[serde(rename = "baseline-new-destination")]
    pub new_destination: BaselineRule,
    #[serde(rename = "baseline-rate-spike")]
    pub rate_spike: BaselineRule,
}

impl Default for BaselineRules {
    fn default() -> Self {
        let rule = |severity| BaselineRule {
            severity: ConfigSeverity(severity),
            ..BaselineRule::default()
        };
        Self {
            new_executable: rule(Severity::Medium),
            new_exec_pair: rule(Severity::Low),
            new_file_area: rule(Severity::Low),
            new_destination: rule(Severity::Medium),
            rate_spike: rule(Severity::Medium),
        }
    }
}

/// One baseline alert's settings, as for a rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineRule {
    pub enabled: bool,
    pub severity: ConfigSeverity,
    /// `alert`, `kill` or `kill-tree` (`deny` needs the kernel to judge the operation before it
    /// happens; baselines judge afterwards).
    pub action: ConfigAction,
    /// Alert only at or above this score (0-100).
    pub min_score: u8,
}

impl Default for BaselineRule {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: ConfigSeverity(Severity::Medium),
            action: ConfigAction(RuleAction::Alert),
            min_score: 0,
        }
    }
}

/// A duration written `0`, `500ms`, `30s`, `5m`, `2h` or `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        if text == "0" {
            return Some(Duration::ZERO);
        }
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let seconds = |factor: u64| number.checked_mul(factor).map(Duration::from_secs);
        match unit.trim() {
            "ms" => Some(Duration::from_millis(number)),
            "s" => seconds(1),
            "m" => seconds(60),
            "h" => seconds(3600),
            "d" => seconds(86400),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ConfigDuration;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 0, 500ms, 30s, 5m, 2h or 7d")
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<ConfigDuration, E> {
                Ok(ConfigDuration(Duration::from_secs(seconds)))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<ConfigDuration, E> {
                u64::try_from(seconds)
                    .map(|seconds| ConfigDuration(Duration::from_secs(seconds)))
                    .map_err(|_| E::custom(format!("{seconds} is not a duration (e.g. 0, 500ms, 30s, 5m, 2h, 7d)")))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ConfigDuration, E> {
                ConfigDuration::parse(text)
                    .map(ConfigDuration)
                    .ok_or_else(|| E::custom(format!("`{text}` is not a duration (e.g. 0, 500ms, 30s, 5m, 2h, 7d)")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A positive finite number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction(pub f64);

// Never NaN (see the deserializer).
impl Eq for Fraction {}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if value.is_finite() && value > 0.0 {
            Ok(Fraction(value))
        } else {
            Err(de::Error::custom(format!("{value} is not a positive number")))
        }
    }
}

/// `info`, `low`, `medium`, `high` or `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigSeverity(pub Severity);

impl<'de> Deserialize<'de> for ConfigSeverity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::parse(&text)
            .map(ConfigSeverity)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a severity ({})", Severity::NAMES.join(", "))))
    }
}

/// `alert`, `kill` or `kill-tree`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigAction(pub RuleAction);

impl<'de> Deserialize<'de> for ConfigAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match RuleAction::parse(&text) {
            Some(RuleAction::Deny) => Err(de::Error::custom(
                "baseline alerts cannot `deny`: they judge an operation after it happened (use alert, kill or kill-tree)",
            )),
            Some(action) => Ok(ConfigAction(action)),
            None => Err(de::Error::custom(format!(
                "`{text}` is not an action (alert, kill, kill-tree)"
            ))),
        }
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn defaults_and_overrides() {
        let config: BaselineConfig = yaml::parse(
            "learning: {min_sessions: 1, min_duration: 0, min_events: 0}\n\
             rules:\n  baseline-new-executable: {severity: high, action: kill-tree, min_score: 10}\n\
             rates: {sigma: 3.5}\nignore_destination_scopes: [loopback]\n",
            "c.yaml",
        )
        .expect("config");
        assert_eq!(config.learning.min_sessions, 1);
        assert_eq!(config.learning.min_duration.0, Duration::ZERO);
        assert_eq!(config.rules.new_executable.severity.0, Severity::High);
        assert_eq!(config.rules.new_executable.action.0, RuleAction::KillTree);
        assert_eq!(config.rules.new_file_area.severity.0, Severity::Low);
        assert_eq!(config.rates.sigma.0, 3.5);
        assert_eq!(config.rates.min_count, 100);
        assert_eq!(config.ignore_destination_scopes, [Scope::Loopback]);
    }

    #[test]
    fn problems_name_the_line() {
        for (text, line, needle) in [
            ("rules:\n  baseline-new-exe: {severity: high}\n", 2, "baseline-new-exe"),
            ("rules:\n  baseline-rate-spike:\n    action: deny\n", 3, "cannot `deny`"),
            (
                "rules:\n  baseline-rate-spike:\n    severity: urgent\n",
                3,
                "not a severity",
            ),
            ("learning:\n  min_duration: soon\n", 2, "not a duration"),
            ("rates:\n  smoothing: -1\n", 2, "positive"),
        ] {
            let error = yaml::parse::<BaselineConfig>(text, "c.yaml").expect_err(text);
            assert_eq!(error.position.map(|(l, _)| l), Some(line), "{text}: {error}");
            assert!(error.message.contains(needle), "{text}: {error}");
        }
        assert_eq!(ConfigDuration::parse("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(ConfigDuration::parse("500ms"), Some(Duration::from_millis(500)));
    }
}
