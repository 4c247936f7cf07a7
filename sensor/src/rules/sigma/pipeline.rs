//! The Sigma processing pipeline: which events each Sigma log source is made of and how Sigma's
//! field names map onto the sensor's. The file is a pySigma processing pipeline; the sensor reads
//! the transformation types it needs (docs/sigma.md).

use super::{CondAst, Field, Item, Op, OpAst, Scalar, TestAst};
use crate::rules::{
    diagnostics::{Diagnostic, Reporter},
    fields::FieldType,
    yaml_tree::{self, Node, Pos, Value},
};

/// The pipeline shipped with the sensor (`rules/sigma/agent-sensor.pipeline.yml`).
pub const BUILT_IN: &str = include_str!("../../../../rules/sigma/agent-sensor.pipeline.yml");
pub const BUILT_IN_ORIGIN: &str = "built-in rules/sigma/agent-sensor.pipeline.yml";

/// A rule's `logsource`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSource {
    pub category: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
}

impl LogSource {
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ]
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| format!("{key}: {value}")))
        .collect();
        if parts.is_empty() {
            "an empty log source".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `rule_conditions` of a transformation: which rules it applies to.
#[derive(Clone, Debug, Default)]
struct RuleConditions {
    /// `rule_cond_op: or` (default and).
    any: bool,
    /// Log sources the rule must have; none: every rule.
    sources: Vec<LogSource>,
}

impl RuleConditions {
    fn applies(&self, rule: &LogSource) -> bool {
        let covers = |wanted: &LogSource| {
            let same = |want: &Option<String>, have: &Option<String>| {
                want.as_ref()
                    .is_none_or(|want| have.as_ref().is_some_and(|have| have.eq_ignore_ascii_case(want)))
            };
            same(&wanted.category, &rule.category)
                && same(&wanted.product, &rule.product)
                && same(&wanted.service, &rule.service)
        };
        if self.sources.is_empty() {
            true
        } else if self.any {
            self.sources.iter().any(covers)
        } else {
            self.sources.iter().all(covers)
        }
    }
}

#[derive(Clone, Debug)]
struct AddCondition {
    when: RuleConditions,
    cond: CondAst,
}

#[derive(Clone, Debug)]
struct Mapping {
    when: RuleConditions,
    sigma: String,
    fields: Vec<Field>,
}

#[derive(Clone, Debug)]
struct Drop {
    when: RuleConditions,
    fields: Vec<String>,
}

/// Every pipeline file loaded, in order (later mappings of a name win).
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    sources: Vec<AddCondition>,
    mappings: Vec<Mapping>,
    drops: Vec<Drop>,
}

/// What a Sigma field name is for one log source.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldTarget {
    /// One or more sensor fields (several: any of them).
    Fields(Vec<Field>),
    /// Dropped by the pipeline: the item always holds.
    Dropped,
}

impl Pipeline {
    /// The built-in pipeline.
    pub fn built_in() -> Result<Self, Vec<Diagnostic>> {
        let mut pipeline = Pipeline::default();
        pipeline.add(BUILT_IN_ORIGIN, BUILT_IN)?;
        Ok(pipeline)
    }

    /// Adds the transformations of one pipeline file.
    pub fn add(&mut self, file: &str, text: &str) -> Result<(), Vec<Diagnostic>> {
        let mut r = Reporter::new(file);
        match yaml_tree::parse(text, file) {
            Ok(root) => self.read(&root, &mut r),
            Err(diagnostic) => r.found.push(diagnostic),
        }
        if r.found.is_empty() { Ok(()) } else { Err(r.found) }
    }

    /// The condition that selects the events of `source`, or `None` when the sensor does not
    /// produce it.
    pub fn log_source(&self, source: &LogSource) -> Option<CondAst> {
        let parts: Vec<CondAst> = self
            .sources
            .iter()
            .filter(|add| add.when.applies(source) && !add.when.sources.is_empty())
            .map(|add| add.cond.clone())
            .collect();
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => Some(CondAst::All(parts)),
        }
    }

    /// What `name` is for rules of `source`; `None`: the pipeline does not map it.
    pub fn field(&self, source: &LogSource, name: &str) -> Option<FieldTarget> {
        if self
            .drops
            .iter()
            .any(|drop| drop.when.applies(source) && drop.fields.iter().any(|f| f == name))
        {
            return Some(FieldTarget::Dropped);
        }
        self.mappings
            .iter()
            .rev()
            .find(|mapping| mapping.sigma == name && mapping.when.applies(source))
            .map(|mapping| FieldTarget::Fields(mapping.fields.clone()))
    }

    /// The Sigma field names mapped for `source`, for advice.
    pub fn names(&self, source: &LogSource) -> Vec<String> {
        let mut names: Vec<String> = self
            .mappings
            .iter()
            .filter(|mapping| mapping.when.applies(source))
            .map(|mapping| mapping.sigma.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn read(&mut self, root: &Node, r: &mut Reporter) {
        let Some(entries) = root.as_map() else {
            r.error(
                root.pos,
                "a pipeline must be a mapping",
                "a pipeline has `name` and `transformations`",
            );
            return;
        };
        for (key, value) in entries {
            match key.name.as_str() {
                "name" | "priority" | "vars" | "allowed_backends" | "postprocessing" | "finalizers" => {}
                "transformations" => match value.as_seq() {
                    Some(items) => {
                        for item in items {
                            self.transformation(item, r);
                        }
                    }
                    None => r.error(value.pos, "`transformations` must be a list", "write `- id: …` entries"),
                },
                other => r.error(
                    key.pos,
                    format!("unknown key `{other}` in a pipeline"),
                    "a pipeline has `name`, `priority` and `transformations`",
                ),
            }
        }
    }

    fn transformation(&mut self, node: &Node, r: &mut Reporter) {
        let Some(entries) = node.as_map() else {
            r.error(
                node.pos,
                "a transformation must be a mapping",
                "write `type: …` and its settings",
            );
            return;
        };
        let get = |name: &str| entries.iter().find(|(key, _)| key.name == name).map(|(_, value)| value);
        let when = rule_conditions(get("rule_conditions"), get("rule_cond_op"), r);
        for (key, _) in entries {
            let known = [
                "id",
                "type",
                "rule_conditions",
                "rule_cond_op",
                "conditions",
                "mapping",
                "field_name_conditions",
                "field_name_cond_op",
            ];
            if !known.contains(&key.name.as_str()) {
                r.error(
                    key.pos,
                    format!("the sensor does not understand `{}` in a transformation", key.name),
                    "docs/sigma.md lists what a pipeline may have",
                );
            }
        }
        let Some(kind) = get("type") else {
            r.error(
                node.pos,
                "a transformation needs a `type`",
                "add_condition, field_name_mapping or drop_detection_item",
            );
            return;
        };
        match kind.as_str() {
            Some("add_condition") => {
                if let Some(cond) = get("conditions").and_then(|n| conditions(n, r)) {
                    self.sources.push(AddCondition { when, cond });
                } else if get("conditions").is_none() {
                    r.error(
                        node.pos,
                        "`add_condition` needs `conditions`",
                        "write `conditions: {event.action: exec}`",
                    );
                }
            }
            Some("field_name_mapping") => match get("mapping").and_then(Node::as_map) {
                Some(pairs) => {
                    for (sigma, target) in pairs {
                        if let Some(fields) = target_fields(target, r) {
                            self.mappings.push(Mapping {
                                when: when.clone(),
                                sigma: sigma.name.clone(),
                                fields,
                            });
                        }
                    }
                }
                None => r.error(
                    node.pos,
                    "`field_name_mapping` needs a `mapping`",
                    "write `mapping: {Image: process.executable}`",
                ),
            },
            Some("drop_detection_item") => {
                let fields = get("field_name_conditions")
                    .map(|n| include_fields(n, r))
                    .unwrap_or_default();
                if fields.is_empty() {
                    r.error(
                        node.pos,
                        "`drop_detection_item` needs `field_name_conditions` of type include_fields",
                        "write `field_name_conditions: [{type: include_fields, fields: [Initiated]}]`",
                    );
                }
                self.drops.push(Drop { when, fields });
            }
            _ => r.error(
                kind.pos,
                format!(
                    "the sensor does not understand transformations of type {}",
                    describe(kind)
                ),
                "it reads add_condition, field_name_mapping and drop_detection_item",
            ),
        }
    }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("`{s}`"),
        _ => node.kind().to_string(),
    }
}

fn rule_conditions(node: Option<&Node>, op: Option<&Node>, r: &mut Reporter) -> RuleConditions {
    let any = match op.map(|n| (n, n.as_str())) {
        None | Some((_, Some("and"))) => false,
        Some((_, Some("or"))) => true,
        Some((n, _)) => {
            r.error(n.pos, "`rule_cond_op` is `and` or `or`", "write `rule_cond_op: or`");
            false
        }
    };
    let mut sources = Vec::new();
    for item in node.and_then(Node::as_seq).unwrap_or_default() {
        let Some(entries) = item.as_map() else {
            r.error(
                item.pos,
                "a rule condition must be a mapping",
                "write `- type: logsource`",
            );
            continue;
        };
        let mut source = LogSource::default();
        for (key, value) in entries {
            let text = value.as_str().map(str::to_string);
            match key.name.as_str() {
                "type" if text.as_deref() == Some("logsource") => {}
                "type" => r.error(
                    value.pos,
                    format!(
                        "the sensor does not understand rule conditions of type {}",
                        describe(value)
                    ),
                    "it reads rule conditions of type logsource",
                ),
                "category" => source.category = text,
                "product" => source.product = text,
                "service" => source.service = text,
                other => r.error(
                    key.pos,
                    format!("unknown key `{other}` in a logsource rule condition"),
                    "write category, product and service",
                ),
            }
        }
        sources.push(source);
    }
    if node.is_some_and(|n| n.as_seq().is_none()) {
        r.error(
            node.map_or(Pos::default(), |n| n.pos),
            "`rule_conditions` must be a list",
            "write `- type: logsource`",
        );
    }
    RuleConditions { any, sources }
}

fn target_fields(node: &Node, r: &mut Reporter) -> Option<Vec<Field>> {
    let names: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut fields = Vec::new();
    for name in names {
        let parsed = name.as_str().and_then(Field::parse);
        match parsed {
            Some(field) => fields.push(field),
            None => {
                let advice = match name.as_str().and_then(Field::suggest) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "map onto the fields of docs/events.md".into(),
                };
                r.error(name.pos, format!("unknown event field {}", describe(name)), advice);
                return None;
            }
        }
    }
    Some(fields)
}

fn include_fields(node: &Node, r: &mut Reporter) -> Vec<String> {
    let mut out = Vec::new();
    for item in node.as_seq().unwrap_or_default() {
        let entries = item.as_map().unwrap_or_default();
        let kind = entries
            .iter()
            .find(|(k, _)| k.name == "type")
            .and_then(|(_, v)| v.as_str());
        if kind != Some("include_fields") {
            r.error(
                item.pos,
                "the sensor reads field name conditions of type include_fields",
                "write `type: include_fields`",
            );
            continue;
        }
        for (key, value) in entries {
            if key.name == "fields" {
                out.extend(
                    value
                        .as_seq()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string)),
                );
            }
        }
    }
    out
}

/// `conditions:` of add_condition: `field: value` or `field: [values]`, all of them.
fn conditions(node: &Node, r: &mut Reporter) -> Option<CondAst> {
    let Some(entries) = node.as_map() else {
        r.error(
            node.pos,
            "`conditions` must be a mapping",
            "write `conditions: {event.action: exec}`",
        );
        return None;
    };
    let mut parts = Vec::new();
    for (key, value) in entries {
        let Some(field) = Field::parse(&key.name) else {
            r.error(
                key.pos,
                format!("unknown event field `{}`", key.name),
                "fields are listed in docs/rules.md",
            );
            continue;
        };
        let nodes: Vec<&Node> = match &value.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut values = Vec::new();
        for n in nodes {
            let scalar = match (&n.value, field.kind()) {
                (Value::Bool(b), _) => Scalar::Bool(*b),
                (Value::Int(i), _) => Scalar::Int(*i),
                (Value::Str(s), FieldType::Bool) if s == "true" || s == "false" => Scalar::Bool(s == "true"),
                (Value::Str(s), _) => Scalar::Str(s.clone()),
                _ => {
                    r.error(
                        n.pos,
                        "a condition value must be a plain value",
                        "write e.g. `event.action: exec`",
                    );
                    continue;
                }
            };
            values.push(Item::Scalar(scalar, n.pos));
        }
        parts.push(CondAst::Test(TestAst {
            field,
            pos: key.pos,
            ops: vec![OpAst {
                op: if values.len() == 1 { Op::Eq } else { Op::In },
                pos: value.pos,
                values,
            }],
        }));
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(CondAst::All(parts)),
    }
}
