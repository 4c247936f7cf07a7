//! Reading one rule of a pack: its keys, thresholds, sequences, escalation and ATT&CK tags.

use super::{
    reader::{describe, list, valid_id, valid_technique},
    *,
};
use crate::rules::{fields::Field, rule::EscalateTo, yaml_tree::Value};

impl Reader<'_> {
    pub(super) fn rule(&mut self, node: &Node) -> Option<RuleAst> {
        const KEYS: &[&str] = &[
            "id",
            "name",
            "description",
            "severity",
            "tags",
            "mitre",
            "enabled",
            "action",
            "when",
            "except",
            "threshold",
            "sequence",
            "escalate",
        ];
        let mut fields = self.map(node, KEYS, "a rule")?;
        let mut ok = true;
        let id = match fields.take("id") {
            Some(id_node) => match self.string(id_node, "`id`") {
                Some(id) if valid_id(&id) => Some(id),
                Some(id) => {
                    self.r.error(
                        id_node.pos,
                        format!("rule id `{id}` is not valid"),
                        "use lower-case letters, digits and `-`, e.g. `credential-file-read`",
                    );
                    None
                }
                None => None,
            },
            None => {
                self.r.error(
                    node.pos,
                    "a rule needs an `id`",
                    "give it a stable, unique id such as `credential-file-read`",
                );
                None
            }
        };
        let mut required = |reader: &mut Self, key: &str| -> Option<String> {
            match fields.take(key) {
                Some(value) => reader.string(value, &format!("`{key}`")),
                None => {
                    reader.r.error(
                        node.pos,
                        format!("rule `{}` needs a `{key}`", id.as_deref().unwrap_or("?")),
                        format!("add `{key}:`"),
                    );
                    None
                }
            }
        };
        let name = required(self, "name");
        let description = required(self, "description");
        let severity = match fields.take("severity") {
            Some(value) => match value.as_str().and_then(Severity::parse) {
                Some(severity) => Some(severity),
                None => {
                    self.r.error(
                        value.pos,
                        format!("unknown severity {}", describe(value)),
                        format!("severity is one of {}", list(&Severity::NAMES)),
                    );
                    None
                }
            },
            None => {
                self.r.error(
                    node.pos,
                    format!("rule `{}` needs a `severity`", id.as_deref().unwrap_or("?")),
                    format!("one of {}", list(&Severity::NAMES)),
                );
                None
            }
        };
        let action = match fields.take("action") {
            Some(value) => match value.as_str().and_then(RuleAction::parse) {
                Some(action) => Some(action),
                None => {
                    self.r.error(
                        value.pos,
                        format!("unknown action {}", describe(value)),
                        format!("action is one of {}", list(&RuleAction::NAMES)),
                    );
                    None
                }
            },
            None => Some(RuleAction::Alert),
        };
        let tags = fields
            .take("tags")
            .map(|n| self.strings(n, "`tags`"))
            .unwrap_or(Some(Vec::new()));
        let mitre = match fields.take("mitre") {
            Some(n) => self.mitre(n),
            None => Some(Vec::new()),
        };
        let enabled = fields
            .take("enabled")
            .map(|n| self.boolean(n, "`enabled`"))
            .unwrap_or(Some(true));
        let when = fields.take("when").map(|n| self.condition(n));
        let except = fields
            .take("except")
            .map(|n| self.conditions(n, "`except`"))
            .unwrap_or(Some(Vec::new()));
        let threshold = fields.take("threshold").map(|n| self.threshold(n));
        let sequence = fields.take("sequence").map(|n| self.sequence(n));
        let escalate = fields.take("escalate").map(|n| self.escalate(n));
        fields.finish(self.r);
        if let (Some(Some(Some(_))), Some(RuleAction::Alert)) = (&escalate, &action) {
            self.r.error(
                node.pos,
                "`escalate` follows an enforcing action; this rule only alerts",
                "give the rule `action: deny` (or kill, kill-tree), or drop `escalate`",
            );
            ok = false;
        }

        match (&when, &sequence, &threshold) {
            (None, None, _) => {
                self.r.error(
                    node.pos,
                    format!("rule `{}` needs a `when` condition", id.as_deref().unwrap_or("?")),
                    "add `when:`, or `sequence:` for an ordered rule",
                );
                ok = false;
            }
            (Some(_), Some(_), _) => {
                self.r.error(
                    node.pos,
                    "a rule has either `when` or `sequence`, not both",
                    "a sequence's steps carry their own `when`",
                );
                ok = false;
            }
            (_, Some(_), Some(_)) => {
                self.r.error(
                    node.pos,
                    "a rule has either `threshold` or `sequence`, not both",
                    "split it into two rules",
                );
                ok = false;
            }
            _ => {}
        }
        let broken = !ok
            || name.is_none()
            || description.is_none()
            || severity.is_none()
            || action.is_none()
            || tags.is_none()
            || mitre.is_none()
            || enabled.is_none()
            || except.is_none()
            || matches!(when, Some(None))
            || matches!(threshold, Some(None))
            || matches!(sequence, Some(None))
            || matches!(escalate, Some(None));
        Some(RuleAst {
            id: id?,
            pos: node.pos,
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            severity: severity.unwrap_or(Severity::Info),
            tags: tags.unwrap_or_default(),
            mitre: mitre.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            action: action.unwrap_or(RuleAction::Alert),
            when: when.flatten(),
            except: except.unwrap_or_default(),
            threshold: threshold.flatten(),
            sequence: sequence.flatten(),
            escalate: escalate.flatten().flatten(),
            broken,
        })
    }

    /// `escalate: {window: 60s, after: 3, then: freeze}`, or `escalate: false`.
    pub(super) fn escalate(&mut self, node: &Node) -> Option<Option<Escalation>> {
        if let Value::Bool(false) = node.value {
            return Some(None);
        }
        let mut fields = self.map(node, &["window", "after", "then"], "`escalate`")?;
        let window = match fields.take("window") {
            Some(n) => self.duration(n),
            None => {
                self.r.error(
                    node.pos,
                    "`escalate` needs a `window`",
                    "write e.g. `escalate: {window: 60s, after: 3, then: freeze}`",
                );
                None
            }
        };
        let after = match fields.take("after") {
            Some(n) => match n.value {
                Value::Int(after) if (1..=1_000).contains(&after) => Some(after as u32),
                _ => {
                    self.r.error(
                        n.pos,
                        format!("`after` must be a whole number from 1, not {}", describe(n)),
                        "write e.g. `after: 3`",
                    );
                    None
                }
            },
            None => Some(3),
        };
        let then = match fields.take("then") {
            Some(n) => match n.as_str().and_then(EscalateTo::parse) {
                Some(then) => Some(then),
                None => {
                    self.r.error(
                        n.pos,
                        format!("unknown escalation {}", describe(n)),
                        format!("`then` is one of {}", list(&EscalateTo::NAMES)),
                    );
                    None
                }
            },
            None => Some(EscalateTo::Freeze),
        };
        fields.finish(self.r);
        Some(Some(Escalation {
            window: window?,
            after: after?,
            then: then?,
        }))
    }

    pub(super) fn mitre(&mut self, node: &Node) -> Option<Vec<String>> {
        let ids = self.strings(node, "`mitre`")?;
        let items = node.as_seq().unwrap_or_default();
        let mut ok = true;
        for (id, item) in ids.iter().zip(items) {
            if !valid_technique(id) {
                self.r.error(
                    item.pos,
                    format!("`{id}` is not a MITRE ATT&CK technique id"),
                    "write ids such as T1552 or T1552.004",
                );
                ok = false;
            }
        }
        ok.then_some(ids)
    }

    pub(super) fn duration(&mut self, node: &Node) -> Option<Duration> {
        let parsed = node.as_str().and_then(parse_duration);
        if parsed.is_none() {
            self.r.error(
                node.pos,
                format!("{} is not a duration", describe(node)),
                "write a number and a unit: 500ms, 10s, 5m, 1h",
            );
        }
        parsed
    }

    pub(super) fn group(&mut self, node: Option<&Node>) -> Option<GroupBy> {
        let Some(node) = node else {
            return Some(GroupBy::Session);
        };
        let parsed = node.as_str().and_then(GroupBy::parse);
        if parsed.is_none() {
            self.r.error(
                node.pos,
                format!("`per` cannot be {}", describe(node)),
                "write `session`, `process` or `executable`",
            );
        }
        parsed
    }

    pub(super) fn field(&mut self, node: &Node) -> Option<Field> {
        let name = node.as_str().unwrap_or_default();
        let field = Field::parse(name);
        if field.is_none() {
            let advice = match Field::suggest(name) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "fields are listed in docs/rules.md".into(),
            };
            self.r
                .error(node.pos, format!("unknown event field {}", describe(node)), advice);
        }
        field
    }

    pub(super) fn threshold(&mut self, node: &Node) -> Option<ThresholdAst> {
        let mut fields = self.map(node, &["count", "distinct", "within", "per"], "a threshold")?;
        let count = match fields.take("count") {
            Some(n) => match n.value {
                Value::Int(count) if (1..=1_000_000).contains(&count) => Some(count as u32),
                _ => {
                    self.r.error(
                        n.pos,
                        format!("`count` must be a whole number from 1, not {}", describe(n)),
                        "write e.g. `count: 3`",
                    );
                    None
                }
            },
            None => {
                self.r
                    .error(node.pos, "a threshold needs a `count`", "write e.g. `count: 3`");
                None
            }
        };
        let distinct = match fields.take("distinct") {
            Some(n) => Some(self.field(n)?),
            None => None,
        };
        let within = match fields.take("within") {
            Some(n) => self.duration(n),
            None => {
                self.r
                    .error(node.pos, "a threshold needs `within`", "write e.g. `within: 60s`");
                None
            }
        };
        let per = self.group(fields.take("per"));
        fields.finish(self.r);
        Some(ThresholdAst {
            count: count?,
            distinct,
            within: within?,
            per: per?,
        })
    }

    pub(super) fn sequence(&mut self, node: &Node) -> Option<SequenceAst> {
        let mut fields = self.map(node, &["within", "per", "steps"], "a sequence")?;
        let within = match fields.take("within") {
            Some(n) => self.duration(n),
            None => {
                self.r
                    .error(node.pos, "a sequence needs `within`", "write e.g. `within: 5m`");
                None
            }
        };
        let per = self.group(fields.take("per"));
        let steps = match fields.take("steps") {
            Some(n) => match n.as_seq() {
                Some(items) if items.len() >= 2 => {
                    let parsed: Vec<Option<StepAst>> = items.iter().map(|item| self.step(item)).collect();
                    parsed.into_iter().collect::<Option<Vec<_>>>()
                }
                _ => {
                    self.r.error(
                        n.pos,
                        "`steps` must be a list of two or more steps",
                        "write `- when: …` entries, in order",
                    );
                    None
                }
            },
            None => {
                self.r.error(
                    node.pos,
                    "a sequence needs `steps`",
                    "write `steps:` with two or more `- when: …` entries",
                );
                None
            }
        };
        fields.finish(self.r);
        Some(SequenceAst {
            within: within?,
            per: per?,
            steps: steps?,
        })
    }

    pub(super) fn step(&mut self, node: &Node) -> Option<StepAst> {
        let mut fields = self.map(node, &["when", "key"], "a sequence step")?;
        let when = match fields.take("when") {
            Some(n) => self.condition(n),
            None => {
                self.r
                    .error(node.pos, "a step needs `when`", "write `when: {condition}`");
                None
            }
        };
        let keys = match fields.take("key") {
            None => Some(Vec::new()),
            Some(n) if n.as_seq().is_some() => n
                .as_seq()
                .unwrap_or_default()
                .iter()
                .map(|item| self.field(item))
                .collect(),
            Some(n) => self.field(n).map(|field| vec![field]),
        };
        fields.finish(self.r);
        Some(StepAst {
            when: when?,
            keys: keys?,
            pos: node.pos,
        })
    }
}
