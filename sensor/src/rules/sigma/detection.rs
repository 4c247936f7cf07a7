//! A Sigma `detection` as the engine's condition: selections (maps are AND, lists are OR), field
//! modifiers with Sigma's semantics, and the condition expression.

use std::collections::HashMap;

use super::{
    CondAst, Field, Item, Op, OpAst, Scalar, TestAst, Unsupported,
    document::scalar_text as text,
    expr::{self, Expr},
    pipeline::{FieldTarget, LogSource, Pipeline},
    values::{Modifier, SigmaString, base64, base64_offsets},
};
use crate::rules::{
    fields::FieldType,
    yaml_tree::{Key, Node, Pos, Value},
};

/// The condition that always holds (an empty `all`).
pub fn always() -> CondAst {
    CondAst::All(Vec::new())
}

/// Translates a rule's `detection` for log source `source`.
pub fn translate(detection: &Node, source: &LogSource, pipeline: &Pipeline) -> Result<CondAst, Unsupported> {
    let Some(entries) = detection.as_map() else {
        return Err(Unsupported::new(detection.pos, "`detection` must be a mapping"));
    };
    let mut selections: Vec<(&Key, &Node)> = Vec::new();
    let mut condition = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "condition" => condition = Some(value),
            "timeframe" => {
                return Err(Unsupported::new(
                    key.pos,
                    "`timeframe` with aggregations is not supported: write a correlation rule",
                ));
            }
            _ => selections.push((key, value)),
        }
    }
    let Some(condition) = condition else {
        return Err(Unsupported::new(detection.pos, "`detection` has no `condition`"));
    };
    let translator = Translator {
        selections,
        source,
        pipeline,
        done: HashMap::new(),
    };
    translator.condition(condition)
}

struct Translator<'a> {
    selections: Vec<(&'a Key, &'a Node)>,
    source: &'a LogSource,
    pipeline: &'a Pipeline,
    done: HashMap<String, CondAst>,
}

impl Translator<'_> {
    fn condition(mut self, node: &Node) -> Result<CondAst, Unsupported> {
        let texts: Vec<&Node> = match &node.value {
            Value::Str(_) => vec![node],
            Value::Seq(items) => items.iter().collect(),
            _ => return Err(Unsupported::new(node.pos, "`condition` must be a string")),
        };
        let mut parts = Vec::new();
        for text in texts {
            let Some(source) = text.as_str() else {
                return Err(Unsupported::new(text.pos, "`condition` must be a string"));
            };
            let parsed = expr::parse(source).map_err(|(offset, message)| {
                Unsupported::new(
                    text.pos,
                    format!("condition `{source}`, at character {}: {message}", offset + 1),
                )
            })?;
            parts.push(self.expr(&parsed, text.pos)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            CondAst::Any(parts)
        })
    }

    fn expr(&mut self, expr: &Expr, pos: Pos) -> Result<CondAst, Unsupported> {
        Ok(match expr {
            Expr::And(parts) => CondAst::All(parts.iter().map(|p| self.expr(p, pos)).collect::<Result<_, _>>()?),
            Expr::Or(parts) => CondAst::Any(parts.iter().map(|p| self.expr(p, pos)).collect::<Result<_, _>>()?),
            Expr::Not(inner) => CondAst::Not(Box::new(self.expr(inner, pos)?)),
            Expr::Name(name) => self.selection(name, pos)?,
            Expr::Of { all, pattern } => {
                let names: Vec<String> = self
                    .selections
                    .iter()
                    .map(|(key, _)| key.name.clone())
                    .filter(|name| match pattern {
                        Some(pattern) => expr::name_matches(pattern, name),
                        None => !name.starts_with('_'),
                    })
                    .collect();
                if names.is_empty() {
                    let what = pattern.as_deref().unwrap_or("them");
                    return Err(Unsupported::new(
                        pos,
                        format!("no selection matches `{what}` in the condition"),
                    ));
                }
                let parts = names
                    .iter()
                    .map(|name| self.selection(name, pos))
                    .collect::<Result<Vec<_>, _>>()?;
                if *all { CondAst::All(parts) } else { CondAst::Any(parts) }
            }
        })
    }

    fn selection(&mut self, name: &str, pos: Pos) -> Result<CondAst, Unsupported> {
        if let Some(done) = self.done.get(name) {
            return Ok(done.clone());
        }
        let Some((_, node)) = self.selections.iter().find(|(key, _)| key.name == name).copied() else {
            return Err(Unsupported::new(
                pos,
                format!("the condition names `{name}`, which the detection does not define"),
            ));
        };
        let cond = self.selection_node(node)?;
        self.done.insert(name.to_string(), cond.clone());
        Ok(cond)
    }

    fn selection_node(&self, node: &Node) -> Result<CondAst, Unsupported> {
        match &node.value {
            Value::Map(entries) => {
                let parts = entries
                    .iter()
                    .map(|(key, value)| self.item(key, value))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(all(parts))
            }
            Value::Seq(items) if !items.is_empty() && items.iter().all(|item| item.as_map().is_some()) => {
                let parts = items
                    .iter()
                    .map(|item| self.selection_node(item))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(CondAst::Any(parts))
            }
            Value::Seq(items) if items.iter().all(|item| item.as_map().is_none()) => Err(Unsupported::new(
                node.pos,
                "keyword searches (values without a field) are not supported: the sensor's events have no raw message",
            )),
            _ => Err(Unsupported::new(
                node.pos,
                "a selection must be a mapping of fields or a list of mappings",
            )),
        }
    }

    /// One `Field|modifiers: value(s)` entry.
    fn item(&self, key: &Key, value: &Node) -> Result<CondAst, Unsupported> {
        let mut parts = key.name.split('|');
        let name = parts.next().unwrap_or_default();
        let modifiers = parts
            .map(|m| Modifier::parse(m).map_err(|error| Unsupported::new(key.pos, error.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if name.is_empty() {
            return Err(Unsupported::new(
                key.pos,
                "keyword searches (values without a field) are not supported: the sensor's events have no raw message",
            ));
        }
        let fields = match self.pipeline.field(self.source, name) {
            Some(FieldTarget::Dropped) => return Ok(always()),
            Some(FieldTarget::Fields(fields)) => fields,
            None => {
                let known = self.pipeline.names(self.source);
                return Err(Unsupported::new(
                    key.pos,
                    format!(
                        "unsupported field `{name}` for {}: the sensor's events have no such field",
                        self.source.describe()
                    ),
                )
                .advice(format!(
                    "the pipeline maps {}; add a mapping in a pipeline file of your own (docs/sigma.md)",
                    known.join(", ")
                )));
            }
        };
        let values: Vec<&Node> = match &value.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        if values.is_empty() {
            return Err(Unsupported::new(value.pos, "an empty list of values"));
        }
        if let Some(nested) = values.iter().find(|v| matches!(v.value, Value::Seq(_) | Value::Map(_))) {
            return Err(Unsupported::new(
                nested.pos,
                "values must be plain: no lists or mappings inside",
            ));
        }
        let parts = fields
            .iter()
            .map(|field| field_cond(*field, &modifiers, &values, key.pos))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_else(always)
        } else {
            CondAst::Any(parts)
        })
    }
}

fn all(mut parts: Vec<CondAst>) -> CondAst {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        CondAst::All(parts)
    }
}

fn test(field: Field, pos: Pos, ops: Vec<OpAst>) -> CondAst {
    CondAst::Test(TestAst { field, pos, ops })
}

fn op(op: Op, pos: Pos, values: Vec<Scalar>) -> OpAst {
    OpAst {
        op,
        pos,
        values: values.into_iter().map(|scalar| Item::Scalar(scalar, pos)).collect(),
    }
}

/// Combines per-value tests: any of them, or all with `|all`.
fn combine(all_of: bool, parts: Vec<CondAst>) -> CondAst {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_else(always);
    }
    if all_of {
        CondAst::All(parts)
    } else {
        CondAst::Any(parts)
    }
}

/// The condition of one field with its modifiers and values.
fn field_cond(field: Field, modifiers: &[Modifier], values: &[&Node], pos: Pos) -> Result<CondAst, Unsupported> {
    let has = |m: Modifier| modifiers.contains(&m);
    let all_of = has(Modifier::All);
    if has(Modifier::Exists) {
        if modifiers.len() > 1 {
            return Err(Unsupported::new(pos, "`exists` takes no other modifier"));
        }
        return match values {
            [
                Node {
                    value: Value::Bool(b), ..
                },
            ] => Ok(test(field, pos, vec![op(Op::Exists, pos, vec![Scalar::Bool(*b)])])),
            _ => Err(Unsupported::new(pos, "`exists` takes `true` or `false`")),
        };
    }
    if modifiers.iter().any(|m| m.is_re_flag()) && !has(Modifier::Re) {
        return Err(Unsupported::new(pos, "the flags `i`, `m` and `s` go with `re`"));
    }
    let kind = field.kind();
    if let Some(comparison) = modifiers.iter().copied().find(|m| m.is_comparison()) {
        if modifiers.iter().any(|m| *m != comparison && *m != Modifier::All) {
            return Err(Unsupported::new(pos, "a numeric comparison takes no other modifier"));
        }
        if kind != FieldType::Number {
            return Err(Unsupported::new(
                pos,
                format!(
                    "`{}` is {}; numeric comparisons apply to number fields",
                    field.name(),
                    kind.describe()
                ),
            ));
        }
        let op_kind = match comparison {
            Modifier::Gt => Op::Gt,
            Modifier::Gte => Op::Ge,
            Modifier::Lt => Op::Lt,
            _ => Op::Le,
        };
        let parts = values
            .iter()
            .map(|value| number(value).map(|n| test(field, pos, vec![op(op_kind, pos, vec![Scalar::Int(n)])])))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(combine(all_of, parts));
    }
    if has(Modifier::Cidr) {
        if modifiers.iter().any(|m| !matches!(m, Modifier::Cidr | Modifier::All)) {
            return Err(Unsupported::new(pos, "`cidr` takes no other modifier"));
        }
        if kind != FieldType::Ip {
            return Err(Unsupported::new(
                pos,
                format!(
                    "`{}` is {}; `cidr` applies to IP address fields",
                    field.name(),
                    kind.describe()
                ),
            ));
        }
        let nets = values
            .iter()
            .map(|value| {
                text(value)
                    .map(Scalar::Str)
                    .ok_or_else(|| Unsupported::new(value.pos, "`cidr` takes networks"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if all_of {
            combine(
                true,
                nets.into_iter()
                    .map(|net| test(field, pos, vec![op(Op::Cidr, pos, vec![net])]))
                    .collect(),
            )
        } else {
            test(field, pos, vec![op(Op::Cidr, pos, nets)])
        });
    }
    let only_plain = modifiers.iter().all(|m| matches!(m, Modifier::All | Modifier::Cased));
    match kind {
        FieldType::Number if only_plain => {
            let numbers = values
                .iter()
                .map(|value| number(value).map(Scalar::Int))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(equal_any(field, pos, all_of, numbers))
        }
        FieldType::Ip
            if only_plain
                && values
                    .iter()
                    .all(|v| text(v).is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok())) =>
        {
            let ips = values.iter().filter_map(|v| text(v)).map(Scalar::Str).collect();
            Ok(equal_any(field, pos, all_of, ips))
        }
        // Patterns on an IP: match its text form.
        FieldType::Ip if field == Field::DestinationIp => text_cond(Field::DestinationAddress, modifiers, values, pos),
        FieldType::Bool if only_plain => {
            let bools = values
                .iter()
                .map(|value| match &value.value {
                    Value::Bool(b) => Ok(Scalar::Bool(*b)),
                    Value::Str(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                        Ok(Scalar::Bool(s.eq_ignore_ascii_case("true")))
                    }
                    _ => Err(Unsupported::new(
                        value.pos,
                        format!("`{}` is true or false", field.name()),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(equal_any(field, pos, all_of, bools))
        }
        FieldType::Text | FieldType::TextList => text_cond(field, modifiers, values, pos),
        _ => Err(Unsupported::new(
            pos,
            format!(
                "`{}` is {}; these modifiers do not apply to it",
                field.name(),
                kind.describe()
            ),
        )),
    }
}

fn equal_any(field: Field, pos: Pos, all_of: bool, values: Vec<Scalar>) -> CondAst {
    if all_of {
        combine(
            true,
            values
                .into_iter()
                .map(|v| test(field, pos, vec![op(Op::Eq, pos, vec![v])]))
                .collect(),
        )
    } else {
        test(field, pos, vec![op(Op::In, pos, values)])
    }
}

fn number(node: &Node) -> Result<i64, Unsupported> {
    match &node.value {
        Value::Int(i) => Ok(*i),
        Value::Str(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().unwrap_or_default()),
        _ => Err(Unsupported::new(node.pos, "a number field takes whole numbers here")),
    }
}

/// A string field: every value becomes an anchored regular expression with Sigma's semantics.
fn text_cond(field: Field, modifiers: &[Modifier], values: &[&Node], pos: Pos) -> Result<CondAst, Unsupported> {
    let has = |m: Modifier| modifiers.contains(&m);
    let all_of = has(Modifier::All);
    let cased = has(Modifier::Cased);
    let mut per_value: Vec<Vec<String>> = Vec::new();
    let mut nulls = 0;
    for value in values {
        if matches!(value.value, Value::Null) {
            nulls += 1;
            continue;
        }
        let Some(raw) = text(value) else {
            return Err(Unsupported::new(value.pos, "values must be plain"));
        };
        per_value.push(if has(Modifier::Re) {
            vec![regex_value(&raw, modifiers, value.pos)?]
        } else {
            string_value(&raw, modifiers, value.pos)?
                .iter()
                .map(|s| s.to_regex(cased))
                .collect()
        });
    }
    let mut parts = Vec::new();
    if !per_value.is_empty() {
        let scalars = |v: Vec<String>| v.into_iter().map(Scalar::Str).collect::<Vec<_>>();
        let ops = if all_of {
            per_value.into_iter().map(|v| op(Op::Regex, pos, scalars(v))).collect()
        } else {
            vec![op(Op::Regex, pos, scalars(per_value.into_iter().flatten().collect()))]
        };
        parts.push(test(field, pos, ops));
    }
    if nulls > 0 {
        // `Field: null`: the event does not have the field (or it is empty).
        parts.push(CondAst::Any(vec![
            test(field, pos, vec![op(Op::Exists, pos, vec![Scalar::Bool(false)])]),
            test(field, pos, vec![op(Op::Regex, pos, vec![Scalar::Str("^$".into())])]),
        ]));
    }
    Ok(combine(all_of, parts))
}

/// `re` with its flags; the expression must be one the engine's regex syntax accepts.
fn regex_value(raw: &str, modifiers: &[Modifier], pos: Pos) -> Result<String, Unsupported> {
    if modifiers.iter().any(|m| {
        !matches!(
            m,
            Modifier::Re | Modifier::All | Modifier::ReI | Modifier::ReM | Modifier::ReS
        )
    }) {
        return Err(Unsupported::new(
            pos,
            "`re` takes no other modifier than `all` and the flags `i`, `m`, `s`",
        ));
    }
    let flags: String = modifiers
        .iter()
        .filter_map(|m| match m {
            Modifier::ReI => Some('i'),
            Modifier::ReM => Some('m'),
            Modifier::ReS => Some('s'),
            _ => None,
        })
        .collect();
    let source = if flags.is_empty() {
        raw.to_string()
    } else {
        format!("(?{flags}){raw}")
    };
    match regex::Regex::new(&source) {
        Ok(_) => Ok(source),
        Err(error) => {
            let detail = error.to_string();
            let last = detail.lines().last().unwrap_or("invalid").trim().to_string();
            Err(Unsupported::new(
                pos,
                format!(
                    "unsupported regular expression `{raw}`: {last} (the engine has no look-around or back-references)"
                ),
            ))
        }
    }
}

/// A string value through its modifiers, in order: the Sigma strings any of which must match.
fn string_value(raw: &str, modifiers: &[Modifier], pos: Pos) -> Result<Vec<SigmaString>, Unsupported> {
    let mut variants = vec![SigmaString::parse(raw)];
    let mut placed = false;
    for modifier in modifiers {
        let position_after = |placed: bool| {
            if placed {
                Err(Unsupported::new(
                    pos,
                    "only one of `contains`, `startswith`, `endswith` applies",
                ))
            } else {
                Ok(true)
            }
        };
        variants = match modifier {
            Modifier::Contains => {
                placed = position_after(placed)?;
                variants.into_iter().map(SigmaString::contains).collect()
            }
            Modifier::StartsWith => {
                placed = position_after(placed)?;
                variants.into_iter().map(SigmaString::starts_with).collect()
            }
            Modifier::EndsWith => {
                placed = position_after(placed)?;
                variants.into_iter().map(SigmaString::ends_with).collect()
            }
            Modifier::Windash => variants.into_iter().map(SigmaString::windash).collect(),
            Modifier::Base64 => variants
                .iter()
                .map(base64)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| Unsupported::new(pos, error.to_string()))?,
            Modifier::Base64Offset => {
                if !modifiers.contains(&Modifier::Contains) {
                    return Err(Unsupported::new(pos, "`base64offset` needs `contains` after it"));
                }
                let mut out = Vec::new();
                for variant in &variants {
                    out.extend(base64_offsets(variant).map_err(|error| Unsupported::new(pos, error.to_string()))?);
                }
                out
            }
            Modifier::All | Modifier::Cased => variants,
            other => {
                return Err(Unsupported::new(
                    pos,
                    format!(
                        "the modifier `{}` does not apply to a string value",
                        modifier_name(*other)
                    ),
                ));
            }
        };
    }
    Ok(variants)
}

fn modifier_name(modifier: Modifier) -> &'static str {
    match modifier {
        Modifier::Re => "re",
        Modifier::ReI => "i",
        Modifier::ReM => "m",
        Modifier::ReS => "s",
        Modifier::Cidr => "cidr",
        Modifier::Exists => "exists",
        Modifier::Gt => "gt",
        Modifier::Gte => "gte",
        Modifier::Lt => "lt",
        Modifier::Lte => "lte",
        _ => "this",
    }
}
