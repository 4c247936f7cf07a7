//! Sigma correlation rules on the engine's thresholds and sequences: `event_count` and
//! `value_count` are thresholds, `temporal_ordered` is a sequence.

use std::time::Duration;

use super::{
    CondAst, Field, Unsupported,
    pipeline::{FieldTarget, LogSource, Pipeline},
};
use crate::rules::{
    pack::{SequenceAst, StepAst, ThresholdAst},
    rule::GroupBy,
    yaml_tree::{Node, Pos, Value},
};

/// A rule a correlation refers to, translated.
#[derive(Clone, Debug)]
pub struct Base {
    pub when: CondAst,
    pub source: LogSource,
}

/// What a correlation becomes.
#[derive(Clone, Debug)]
pub enum Correlated {
    Threshold { when: CondAst, threshold: ThresholdAst },
    Sequence(SequenceAst),
}

/// The parts of a `correlation:` mapping.
pub struct Correlation<'n> {
    pub kind: &'n Node,
    pub rules: Vec<(String, Pos)>,
    pub group_by: Vec<(String, Pos)>,
    pub timespan: Option<&'n Node>,
    pub condition: Option<&'n Node>,
    pub generate: bool,
    pub pos: Pos,
}

/// Reads a `correlation:` mapping.
pub fn read(node: &Node) -> Result<Correlation<'_>, Unsupported> {
    let Some(entries) = node.as_map() else {
        return Err(Unsupported::new(node.pos, "`correlation` must be a mapping"));
    };
    let get = |name: &str| entries.iter().find(|(key, _)| key.name == name).map(|(_, v)| v);
    if let Some((key, _)) = entries.iter().find(|(key, _)| key.name == "aliases") {
        return Err(Unsupported::new(key.pos, "correlation `aliases` are not supported"));
    }
    let names = |node: Option<&Node>| -> Vec<(String, Pos)> {
        match node.map(|n| &n.value) {
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(|s| (s.to_string(), item.pos)))
                .collect(),
            Some(Value::Str(s)) => vec![(s.clone(), node.map_or(Pos::default(), |n| n.pos))],
            _ => Vec::new(),
        }
    };
    let kind = get("type").ok_or_else(|| Unsupported::new(node.pos, "a correlation needs a `type`"))?;
    match kind.as_str() {
        Some("event_count" | "value_count" | "temporal_ordered") => {}
        Some("temporal") => {
            return Err(Unsupported::new(
                kind.pos,
                "unordered `temporal` correlations are not supported: the engine's sequences are ordered; use temporal_ordered",
            ));
        }
        _ => return Err(Unsupported::new(kind.pos, "unknown correlation type")),
    }
    Ok(Correlation {
        kind,
        rules: names(get("rules")),
        group_by: names(get("group-by")),
        timespan: get("timespan").or_else(|| get("timeframe")),
        condition: get("condition"),
        generate: matches!(get("generate").map(|n| &n.value), Some(Value::Bool(true))),
        pos: node.pos,
    })
}

/// `30s`, `5m`, `1h`, `2d`.
pub fn timespan(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3_600)?,
        "d" => number.checked_mul(86_400)?,
        "w" => number.checked_mul(604_800)?,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// Translates a correlation whose referenced rules are `bases` (in the order of `rules`).
pub fn translate(c: &Correlation, bases: &[Base], pipeline: &Pipeline) -> Result<Correlated, Unsupported> {
    let kind = c.kind.as_str().unwrap_or_default();
    let within = match c.timespan {
        Some(node) => node
            .as_str()
            .and_then(timespan)
            .ok_or_else(|| Unsupported::new(node.pos, "`timespan` must be a duration such as 5m, 1h, 1d"))?,
        None => return Err(Unsupported::new(c.pos, "a correlation needs a `timespan`")),
    };
    let Some(first) = bases.first() else {
        return Err(Unsupported::new(c.pos, "a correlation needs `rules`"));
    };
    match kind {
        "event_count" | "value_count" => {
            let (count, field) = count_condition(c)?;
            let distinct = match (kind, field) {
                ("value_count", Some((name, pos))) => Some(one_field(pipeline, &first.source, &name, pos)?),
                ("value_count", None) => {
                    return Err(Unsupported::new(
                        c.pos,
                        "a value_count correlation needs `condition.field`",
                    ));
                }
                _ => None,
            };
            let per = group(c, pipeline, &first.source)?;
            let when = if bases.len() == 1 {
                first.when.clone()
            } else {
                CondAst::Any(bases.iter().map(|base| base.when.clone()).collect())
            };
            Ok(Correlated::Threshold {
                when,
                threshold: ThresholdAst {
                    count,
                    distinct,
                    within,
                    per,
                },
            })
        }
        "temporal_ordered" => {
            if bases.len() < 2 {
                return Err(Unsupported::new(
                    c.pos,
                    "a temporal_ordered correlation needs two or more rules",
                ));
            }
            if let Some(condition) = c.condition {
                let (count, _) = count_condition(c)?;
                if count as usize != bases.len() {
                    return Err(Unsupported::new(
                        condition.pos,
                        "a temporal correlation's condition must count every rule (the engine's sequences match each step once)",
                    ));
                }
            }
            let steps = bases
                .iter()
                .map(|base| {
                    let keys = match c.group_by.as_slice() {
                        [] => Vec::new(),
                        [(name, pos)] => vec![one_field(pipeline, &base.source, name, *pos)?],
                        [_, (_, pos), ..] => {
                            return Err(Unsupported::new(
                                *pos,
                                "a sequence joins its steps on one field: group-by lists more than one",
                            ));
                        }
                    };
                    Ok(StepAst {
                        when: base.when.clone(),
                        keys,
                        pos: c.pos,
                    })
                })
                .collect::<Result<Vec<_>, Unsupported>>()?;
            Ok(Correlated::Sequence(SequenceAst {
                within,
                per: GroupBy::Session,
                steps,
            }))
        }
        other => Err(Unsupported::new(
            c.kind.pos,
            format!("unknown correlation type `{other}`"),
        )),
    }
}

/// `condition: {gte: N}` (or `gt`), and `field` for value_count.
fn count_condition(c: &Correlation) -> Result<(u32, Option<(String, Pos)>), Unsupported> {
    let Some(node) = c.condition else {
        return Err(Unsupported::new(
            c.pos,
            "a correlation needs a `condition` such as `{gte: 10}`",
        ));
    };
    let Some(entries) = node.as_map() else {
        return Err(Unsupported::new(
            node.pos,
            "a correlation's `condition` must be a mapping such as `{gte: 10}`",
        ));
    };
    let mut count = None;
    let mut field = None;
    for (key, value) in entries {
        let number = match value.value {
            Value::Int(n) if (0..1_000_000).contains(&n) => Some(n as u32),
            _ => None,
        };
        match (key.name.as_str(), number) {
            ("gte", Some(n)) => count = Some(n.max(1)),
            ("gt", Some(n)) => count = Some(n + 1),
            ("field", _) => field = value.as_str().map(|s| (s.to_string(), value.pos)),
            ("lt" | "lte" | "eq" | "neq", _) => {
                return Err(Unsupported::new(
                    key.pos,
                    format!(
                        "`{}` is not supported: the engine fires when a count is reached, not when a window ends below it",
                        key.name
                    ),
                ));
            }
            _ => {
                return Err(Unsupported::new(
                    key.pos,
                    format!("`{}` in a correlation condition", key.name),
                ));
            }
        }
    }
    let count = count.ok_or_else(|| Unsupported::new(node.pos, "a correlation condition needs `gte` or `gt`"))?;
    Ok((count, field))
}

fn one_field(pipeline: &Pipeline, source: &LogSource, name: &str, pos: Pos) -> Result<Field, Unsupported> {
    match pipeline.field(source, name) {
        Some(FieldTarget::Fields(fields)) if fields.len() == 1 => Ok(fields[0]),
        _ => Err(Unsupported::new(
            pos,
            format!("unsupported field `{name}` for {}", source.describe()),
        )),
    }
}

/// A threshold's group from `group-by`: the engine counts per session, process or executable.
fn group(c: &Correlation, pipeline: &Pipeline, source: &LogSource) -> Result<GroupBy, Unsupported> {
    match c.group_by.as_slice() {
        [] => Ok(GroupBy::Session),
        [(name, pos)] => match one_field(pipeline, source, name, *pos)? {
            Field::ProcessExecutable => Ok(GroupBy::Executable),
            Field::ProcessPid => Ok(GroupBy::Process),
            other => Err(Unsupported::new(
                *pos,
                format!(
                    "group-by `{name}` ({}): the engine's thresholds count per session, process (ProcessId) or executable (Image)",
                    other.name()
                ),
            )),
        },
        [_, (_, pos), ..] => Err(Unsupported::new(*pos, "group-by lists more than one field")),
    }
}
