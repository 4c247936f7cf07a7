//! The syntax of conditions as written in a pack: fields, operators and values, with positions.

use super::super::{
    fields::{Field, FieldType},
    yaml_tree::{Node, Pos, Value},
};

#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub(super) fn describe(&self) -> String {
        match self {
            Scalar::Str(s) => format!("`{s}`"),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// One value in a list, or a `$name` reference to a named list.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Scalar(Scalar, Pos),
    ListRef(String, Pos),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    In,
    Glob,
    Regex,
    Prefix,
    Suffix,
    Contains,
    Cidr,
    Range,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
}

impl Op {
    const ALL: [(&'static str, Op); 14] = [
        ("eq", Op::Eq),
        ("in", Op::In),
        ("glob", Op::Glob),
        ("regex", Op::Regex),
        ("prefix", Op::Prefix),
        ("suffix", Op::Suffix),
        ("contains", Op::Contains),
        ("cidr", Op::Cidr),
        ("range", Op::Range),
        ("gt", Op::Gt),
        ("ge", Op::Ge),
        ("lt", Op::Lt),
        ("le", Op::Le),
        ("exists", Op::Exists),
    ];

    pub(super) fn parse(name: &str) -> Option<Op> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    pub(super) fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, op)| *op == self).map_or("?", |(n, _)| n)
    }

    /// The operators a field type accepts.
    fn allowed(kind: FieldType) -> &'static [Op] {
        match kind {
            FieldType::Text | FieldType::TextList => &[
                Op::Eq,
                Op::In,
                Op::Glob,
                Op::Regex,
                Op::Prefix,
                Op::Suffix,
                Op::Contains,
                Op::Exists,
            ],
            FieldType::Flags => &[Op::Eq, Op::In, Op::Exists],
            FieldType::Number => &[Op::Eq, Op::In, Op::Range, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Exists],
            FieldType::Ip => &[Op::Eq, Op::In, Op::Cidr, Op::Exists],
            FieldType::Bool => &[Op::Eq, Op::Exists],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpAst {
    pub op: Op,
    pub pos: Pos,
    pub values: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestAst {
    pub field: Field,
    pub pos: Pos,
    pub ops: Vec<OpAst>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CondAst {
    All(Vec<CondAst>),
    Any(Vec<CondAst>),
    Not(Box<CondAst>),
    Macro(String, Pos),
    Test(TestAst),
}

/// Parses a condition mapping; problems go to `errors`.
pub fn parse_condition(node: &Node, errors: &mut Vec<(Pos, String, String)>) -> Option<CondAst> {
    let Some(entries) = node.as_map() else {
        errors.push((
            node.pos,
            format!("a condition must be a mapping, not {}", node.kind()),
            "write `field: value`, or `all:`/`any:` with a list, `not:` or `macro:`".into(),
        ));
        return None;
    };
    if entries.is_empty() {
        errors.push((
            node.pos,
            "empty condition".into(),
            "write at least one `field: value`".into(),
        ));
        return None;
    }
    let mut parts = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let part = match key.name.as_str() {
            "all" | "any" => {
                let Some(items) = value.as_seq().filter(|items| !items.is_empty()) else {
                    errors.push((
                        value.pos,
                        format!(
                            "`{}` takes a non-empty list of conditions, not {}",
                            key.name,
                            value.kind()
                        ),
                        format!("write `{}:` followed by `- condition` lines", key.name),
                    ));
                    ok = false;
                    continue;
                };
                let parsed: Vec<Option<CondAst>> = items.iter().map(|item| parse_condition(item, errors)).collect();
                if parsed.iter().any(Option::is_none) {
                    ok = false;
                    continue;
                }
                let parsed = parsed.into_iter().flatten().collect();
                if key.name == "all" {
                    CondAst::All(parsed)
                } else {
                    CondAst::Any(parsed)
                }
            }
            "not" => match parse_condition(value, errors) {
                Some(inner) => CondAst::Not(Box::new(inner)),
                None => {
                    ok = false;
                    continue;
                }
            },
            "macro" => match value.as_str() {
                Some(name) => CondAst::Macro(name.to_string(), value.pos),
                None => {
                    errors.push((
                        value.pos,
                        format!("`macro` takes a macro name, not {}", value.kind()),
                        "write `macro: NAME` with a macro defined under `macros:`".into(),
                    ));
                    ok = false;
                    continue;
                }
            },
            name => {
                let Some(field) = Field::parse(name) else {
                    let advice = match Field::suggest(name) {
                        Some(suggestion) => format!("did you mean `{suggestion}`? Fields are listed in docs/rules.md"),
                        None => {
                            "fields are the ECS names of docs/events.md and the derived fields of docs/rules.md".into()
                        }
                    };
                    errors.push((key.pos, format!("unknown event field `{name}`"), advice));
                    ok = false;
                    continue;
                };
                match parse_matcher(field, key.pos, value, errors) {
                    Some(test) => CondAst::Test(test),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
        };
        parts.push(part);
    }
    if !ok {
        return None;
    }
    if parts.len() == 1 {
        parts.pop()
    } else {
        Some(CondAst::All(parts))
    }
}

fn parse_matcher(field: Field, pos: Pos, node: &Node, errors: &mut Vec<(Pos, String, String)>) -> Option<TestAst> {
    let allowed = Op::allowed(field.kind());
    let ops = match &node.value {
        Value::Map(entries) => {
            if entries.is_empty() {
                errors.push((
                    node.pos,
                    format!("no operator for `{}`", field.name()),
                    "write a value, a list of values, or operators such as `{glob: …}`".into(),
                ));
                return None;
            }
            let mut ops = Vec::new();
            let mut ok = true;
            for (key, value) in entries {
                let Some(op) = Op::parse(&key.name) else {
                    errors.push((
                        key.pos,
                        format!("unknown operator `{}`", key.name),
                        format!("{} accepts {}", field.name(), names(allowed)),
                    ));
                    ok = false;
                    continue;
                };
                if !allowed.contains(&op) {
                    errors.push((
                        key.pos,
                        format!(
                            "`{}` does not apply to `{}`, {}",
                            op.name(),
                            field.name(),
                            field.kind().describe()
                        ),
                        format!("{} accepts {}", field.name(), names(allowed)),
                    ));
                    ok = false;
                    continue;
                }
                match parse_values(value, errors) {
                    Some(values) => ops.push(OpAst {
                        op,
                        pos: key.pos,
                        values,
                    }),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            ops
        }
        Value::Seq(_) => vec![OpAst {
            op: Op::In,
            pos: node.pos,
            values: parse_values(node, errors)?,
        }],
        Value::Str(text) if text.starts_with('$') => vec![OpAst {
            op: Op::In,
            pos: node.pos,
            values: parse_values(node, errors)?,
        }],
        _ => vec![OpAst {
            op: Op::Eq,
            pos: node.pos,
            values: parse_values(node, errors)?,
        }],
    };
    Some(TestAst { field, pos, ops })
}

fn names(ops: &[Op]) -> String {
    ops.iter()
        .map(|op| format!("`{}`", op.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A scalar, a list of scalars, or `$list` references.
fn parse_values(node: &Node, errors: &mut Vec<(Pos, String, String)>) -> Option<Vec<Item>> {
    match &node.value {
        Value::Seq(items) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match scalar_item(item) {
                    Some(parsed) => out.push(parsed),
                    None => {
                        errors.push((
                            item.pos,
                            format!("list items must be plain values, not {}", item.kind()),
                            "nest no lists or mappings inside a list of values".into(),
                        ));
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        _ => match scalar_item(node) {
            Some(item) => Some(vec![item]),
            None => {
                errors.push((
                    node.pos,
                    format!("expected a value or a list of values, not {}", node.kind()),
                    "operators take a scalar, a `[list]`, or `$name` of a list".into(),
                ));
                None
            }
        },
    }
}

fn scalar_item(node: &Node) -> Option<Item> {
    Some(match &node.value {
        Value::Str(text) => match text.strip_prefix('$') {
            Some(name) if name != "HOME" && !name.starts_with("HOME/") && !name.is_empty() => {
                Item::ListRef(name.to_string(), node.pos)
            }
            _ => Item::Scalar(Scalar::Str(text.clone()), node.pos),
        },
        Value::Int(i) => Item::Scalar(Scalar::Int(*i), node.pos),
        Value::Float(f) => Item::Scalar(Scalar::Float(*f), node.pos),
        Value::Bool(b) => Item::Scalar(Scalar::Bool(*b), node.pos),
        Value::Null | Value::Seq(_) | Value::Map(_) => return None,
    })
}
