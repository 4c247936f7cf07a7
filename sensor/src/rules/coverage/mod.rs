//! The ATT&CK coverage map of a rule set (`agent-sensor rules coverage`, docs/coverage.md):
//! every technique named in the rules' `mitre:` fields, the rules that name it, what each does
//! on a match, and which backend can prevent the operation.
//!
//! `markdown` renders the map and rewrites the generated section of a document; `techniques`
//! names the technique ids.

pub mod markdown;
pub mod techniques;

use std::collections::BTreeMap;

use sensor_common::policy::{BACKEND_LSM, PolicyOp};
use serde::Serialize;

use super::{
    RuleSet,
    compile::{CompiledRule, RuleEnforcement},
    kernel_form::KernelForm,
    rule::RuleAction,
};
use crate::enforce::backends::{backend_name, fallback_backend, lsm_hook};

/// The coverage map: techniques in id order, and the rules that name none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoverageMap {
    pub techniques: Vec<Technique>,
    /// Rules without a `mitre:` field (ids), so that unmapped detections are visible too.
    pub rules_without_mitre: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Technique {
    /// `T1485`, `T1552.001`.
    pub id: String,
    /// The ATT&CK name, when `techniques` knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// The rules naming the technique, in id order.
    pub rules: Vec<RuleCoverage>,
}

/// One rule under one technique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCoverage {
    pub rule: String,
    /// `alert`, `deny`, `kill` or `kill-tree`.
    pub action: &'static str,
    /// Who carries the action out: `kernel`, `sensor` (after detection) or `none` (alert rules).
    pub enforced_by: &'static str,
    /// How the operation can be prevented (kernel rules only; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prevention: Vec<Prevention>,
}

/// The backends that judge one kernel operation of a rule: BPF LSM where it is loaded, the
/// fallback otherwise (docs/enforcement.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prevention {
    /// `open-read`, `unlink`, `connect`, …
    pub operation: &'static str,
    /// `bpf-lsm`.
    pub backend: &'static str,
    /// The LSM hook: `file_open`, `path_unlink`, …
    pub hook: &'static str,
    /// `tracepoint-sigkill` or `cgroup-sock-addr`.
    pub fallback: &'static str,
}

impl RuleCoverage {
    fn of(rule: &CompiledRule) -> Self {
        let (enforced_by, prevention) = match (&rule.enforcement, rule.meta.action) {
            (_, RuleAction::Alert) | (None, _) => ("none", Vec::new()),
            (Some(RuleEnforcement::Kernel(form)), _) => ("kernel", prevention(form)),
            (Some(RuleEnforcement::Sensor { .. }), _) => ("sensor", Vec::new()),
        };
        Self {
            rule: rule.meta.id.to_string(),
            action: rule.meta.action.as_str(),
            enforced_by,
            prevention,
        }
    }

    /// The action column of docs/coverage.md: `alert`, `deny (kernel)`, `kill (sensor)`, …
    pub fn action_label(&self) -> String {
        match self.enforced_by {
            "none" => self.action.to_string(),
            by => format!("{} ({by})", self.action),
        }
    }
}

/// The operations of a kernel form with the backends that judge them.
fn prevention(form: &KernelForm) -> Vec<Prevention> {
    PolicyOp::ALL
        .into_iter()
        .filter(|op| form.ops.contains(*op))
        .map(|op| Prevention {
            operation: op.name(),
            backend: backend_name(BACKEND_LSM),
            hook: lsm_hook(op),
            fallback: backend_name(fallback_backend(op)),
        })
        .collect()
}

impl CoverageMap {
    /// The map of every enabled rule of `set`.
    pub fn of(set: &RuleSet) -> Self {
        let mut by_technique: BTreeMap<TechniqueKey, Vec<RuleCoverage>> = BTreeMap::new();
        let mut rules_without_mitre = Vec::new();
        for rule in &set.rules {
            if rule.meta.mitre.is_empty() {
                rules_without_mitre.push(rule.meta.id.to_string());
                continue;
            }
            let coverage = RuleCoverage::of(rule);
            for id in &rule.meta.mitre {
                let rules = by_technique.entry(TechniqueKey::new(id)).or_default();
                if !rules.iter().any(|known| known.rule == coverage.rule) {
                    rules.push(coverage.clone());
                }
            }
        }
        rules_without_mitre.sort();
        rules_without_mitre.dedup();
        let techniques = by_technique
            .into_iter()
            .map(|(key, mut rules)| {
                rules.sort_by(|a, b| a.rule.cmp(&b.rule));
                Technique {
                    name: techniques::name(&key.id),
                    id: key.id,
                    rules,
                }
            })
            .collect();
        Self {
            techniques,
            rules_without_mitre,
        }
    }
}

/// Orders technique ids numerically (`T1059` before `T1059.004` before `T1070`), whatever the
/// case they were written in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TechniqueKey {
    number: u32,
    sub: u32,
    id: String,
}

impl TechniqueKey {
    fn new(id: &str) -> Self {
        let id = id.trim().to_ascii_uppercase();
        let digits = id.strip_prefix('T').unwrap_or(&id);
        let (number, sub) = digits.split_once('.').unwrap_or((digits, ""));
        Self {
            number: number.parse().unwrap_or(u32::MAX),
            sub: sub.parse().unwrap_or(0),
            id,
        }
    }
}

#[cfg(test)]
mod tests;
