//! The variants a workload runs in, shared by the micro loops and the realistic work: with no
//! sensor, beside the daemon (untracked), as a `watch` session with alerts only (tracked), and as
//! a `watch` session that also writes every event (tracked with the audit trail). Launching a
//! workload in a variant, the rotating order of the variants round after round, and the alerts a
//! run raised, counted by rule.
//!
//! A workload passed here accepts `--cgroup DIR` (move into the bench's cgroup), `--collector-pid
//! PID` and `--collector-parent` (the processes whose CPU it waits on between timed parts), as
//! `xtask __bench-workload loops` and `realistic` do.

use std::{
    collections::BTreeMap,
    fs,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{
    env::Env,
    sensor::{Alerts, Sensor, Totals, WatchSpec},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    None,
    Untracked,
    /// `watch` with the default pack, alerts only.
    Tracked,
    /// `watch` with the default pack, every event written to `--events` as well.
    TrackedAudit,
    Auditd,
}

/// The sensor's variants, with the no-sensor baseline first.
pub const SENSOR_VARIANTS: [Variant; 4] = [
    Variant::None,
    Variant::Untracked,
    Variant::Tracked,
    Variant::TrackedAudit,
];

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Variant::None => "no sensor",
            Variant::Untracked => "sensor, untracked",
            Variant::Tracked => "sensor, tracked",
            Variant::TrackedAudit => "tracked + audit trail",
            Variant::Auditd => "auditd",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::Untracked => "untracked",
            Variant::Tracked => "tracked",
            Variant::TrackedAudit => "tracked-audit",
            Variant::Auditd => "auditd",
        }
    }

    pub fn parse(key: &str) -> Option<Variant> {
        [
            Variant::None,
            Variant::Untracked,
            Variant::Tracked,
            Variant::TrackedAudit,
            Variant::Auditd,
        ]
        .into_iter()
        .find(|variant| variant.key() == key)
    }

    pub fn is_tracked(self) -> bool {
        matches!(self, Variant::Tracked | Variant::TrackedAudit)
    }
}

/// The order of `variants` in round `round` (from 0): rotated by one slot per round, so that over
/// as many rounds as there are variants each runs once in each slot.
pub fn rotation(variants: &[Variant], round: usize) -> Vec<Variant> {
    (0..variants.len())
        .map(|index| variants[(index + round) % variants.len()])
        .collect()
}

/// What one run in a variant left: the sensor's totals and the alerts it raised, by rule.
#[derive(Clone, Debug, Default)]
pub struct Launched {
    pub totals: Option<Totals>,
    pub alerts: BTreeMap<String, u64>,
}

impl Launched {
    pub fn alert_count(&self) -> u64 {
        self.alerts.values().sum()
    }

    /// `3 alerts (rule-a 2, rule-b 1)`, or `no alerts`.
    pub fn describe_alerts(&self) -> String {
        describe_alerts(&self.alerts)
    }
}

pub fn describe_alerts(alerts: &BTreeMap<String, u64>) -> String {
    let total: u64 = alerts.values().sum();
    if total == 0 {
        return "no alerts".into();
    }
    let by_rule: Vec<String> = alerts.iter().map(|(rule, count)| format!("{rule} {count}")).collect();
    format!(
        "{total} alert{} ({})",
        if total == 1 { "" } else { "s" },
        by_rule.join(", ")
    )
}

/// Runs `command` (a workload, see the module's notes) in `variant` and waits for it; `name`
/// names its files in the bench's directory. Not for [`Variant::Auditd`], which needs auditd
/// armed around the run.
pub fn launch(env: &Env, variant: Variant, mut command: Command, name: &str, limit: Duration) -> Result<Launched> {
    if !variant.is_tracked()
        && let Some(cgroup) = env.cgroup_path()
    {
        command.arg("--cgroup").arg(cgroup);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    match variant {
        Variant::None => {
            run_plain(&mut command)?;
            Ok(Launched::default())
        }
        Variant::Untracked => {
            let alerts = env.root.join(format!("{name}-daemon-alerts.jsonl"));
            let daemon = Sensor::daemon(&env.sensor, &env.daemon_isolation(), &alerts, &env.root)?;
            command.args(["--collector-pid", &daemon.pid.to_string()]);
            let ran = run_plain(&mut command);
            let finished = daemon.stop()?;
            ran.with_context(|| format!("beside the daemon, whose log ends with:\n{}", finished.log_tail()))?;
            Ok(Launched {
                totals: finished.totals,
                alerts: take_alerts(&alerts),
            })
        }
        Variant::Tracked | Variant::TrackedAudit => {
            let events = env.root.join(format!("{name}-events.jsonl"));
            let alerts = env.root.join(format!("{name}-alerts.jsonl"));
            let mut watched = vec![command.get_program().to_string_lossy().into_owned()];
            watched.extend(command.get_args().map(|arg| arg.to_string_lossy().into_owned()));
            watched.push("--collector-parent".into());
            let extra_env: Vec<(String, String)> = command
                .get_envs()
                .filter_map(|(key, value)| Some((key.to_str()?.to_string(), value?.to_str()?.to_string())))
                .collect();
            let extra_env: Vec<(&str, &str)> = extra_env
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect();
            let cwd = command.get_current_dir().unwrap_or(&env.work).to_path_buf();
            let sensor = Sensor::watch(
                &env.sensor,
                &WatchSpec {
                    isolation: env.watch_isolation(),
                    events: (variant == Variant::TrackedAudit).then_some(events.as_path()),
                    alerts: Alerts::File(alerts.clone()),
                    home: &env.home,
                    cwd: &cwd,
                    command: watched,
                    extra_env: &extra_env,
                },
            )?;
            let finished = sensor.wait(limit)?;
            let _ = fs::remove_file(&events);
            let counted = take_alerts(&alerts);
            if !finished.status.success() {
                bail!(
                    "the tracked workload failed ({}); the log ends with:\n{}",
                    finished.status,
                    finished.log_tail()
                );
            }
            Ok(Launched {
                totals: finished.totals,
                alerts: counted,
            })
        }
        Variant::Auditd => bail!("auditd runs are launched by the overhead measurement"),
    }
}

pub fn run_plain(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running `{}`", crate::cmd::describe(command)))?;
    if !status.success() {
        bail!("`{}` failed: {status}", crate::cmd::describe(command));
    }
    Ok(())
}

/// The alerts in a JSON-lines file, counted by `rule.id`; the file is removed.
fn take_alerts(path: &Path) -> BTreeMap<String, u64> {
    let counted = count_alerts(&fs::read_to_string(path).unwrap_or_default());
    let _ = fs::remove_file(path);
    counted
}

pub fn count_alerts(text: &str) -> BTreeMap<String, u64> {
    let mut counted = BTreeMap::new();
    for line in text.lines() {
        let Ok(alert) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let rule = alert
            .pointer("/rule/id")
            .and_then(Value::as_str)
            .unwrap_or("(no rule id)")
            .to_string();
        *counted.entry(rule).or_insert(0) += 1;
    }
    counted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_takes_each_slot_over_as_many_rounds() {
        let variants = SENSOR_VARIANTS;
        for slot in 0..variants.len() {
            let mut seen: Vec<Variant> = (0..variants.len())
                .map(|round| rotation(&variants, round)[slot])
                .collect();
            seen.sort();
            assert_eq!(seen, variants.to_vec(), "slot {slot}");
        }
        assert_eq!(rotation(&variants, 1)[0], Variant::Untracked);
    }

    #[test]
    fn alerts_are_counted_by_rule() {
        let text = "{\"rule\":{\"id\":\"a\"}}\n{\"rule\":{\"id\":\"b\"}}\nnot json\n{\"rule\":{\"id\":\"a\"}}\n";
        let counted = count_alerts(text);
        assert_eq!(counted.get("a"), Some(&2));
        assert_eq!(counted.get("b"), Some(&1));
        assert_eq!(describe_alerts(&counted), "3 alerts (a 2, b 1)");
        assert_eq!(describe_alerts(&BTreeMap::new()), "no alerts");
        for variant in SENSOR_VARIANTS {
            assert_eq!(Variant::parse(variant.key()), Some(variant));
        }
    }
}
