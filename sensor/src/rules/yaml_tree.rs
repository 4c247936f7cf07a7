//! A YAML document as a tree whose every key and value knows its line and column, so rule-pack
//! errors can point at the exact place. The YAML itself is parsed by serde-saphyr.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Options, Spanned};

use super::diagnostics::Diagnostic;
pub use super::diagnostics::Pos;

/// Where a spanned YAML value starts.
fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    Pos {
        line: spanned.referenced.line() as u32,
        column: spanned.referenced.column() as u32,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Node {
    /// What kind of value this is, for error messages ("a list", "a mapping", …).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "empty",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }
}

/// Deserializes any YAML value with positions (through serde-saphyr's `Spanned`).
struct NodeValue(Value);

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor).map(NodeValue)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("number too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<NodeValue>>()? {
            items.push(Node {
                pos: pos_of(&item),
                value: item.value.0,
            });
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<NodeValue>>()?;
            entries.push((
                Key {
                    pos: pos_of(&key),
                    name: key.value,
                },
                Node {
                    pos: pos_of(&value),
                    value: value.value.0,
                },
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses `text`. YAML 1.2 booleans only (`yes`/`no`/`on`/`off` stay strings), numbers with
/// leading zeros or underscores stay strings, duplicate keys are errors.
pub fn parse(text: &str, file: &str) -> Result<Node, Diagnostic> {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    let parsed: Result<Spanned<NodeValue>, _> = serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(root) => Ok(Node {
            pos: pos_of(&root),
            value: root.value.0,
        }),
        Err(error) => {
            let pos = error
                .location()
                .map(|location| Pos {
                    line: location.line() as u32,
                    column: location.column() as u32,
                })
                .unwrap_or_default();
            let message = error.to_string();
            let message = message.lines().next().unwrap_or("invalid YAML").trim();
            let message = message.split(" at line ").next().unwrap_or(message);
            Err(Diagnostic::new(
                file,
                pos,
                format!("invalid YAML: {message}"),
                "check indentation, quoting and that every list item starts with `- `",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let root = parse("rules:\n  - id: x\n    tags: [a, b]\n", "p.yaml").expect("parses");
        let map = root.as_map().expect("map");
        assert_eq!(map[0].0.name, "rules");
        let rules = map[0].1.as_seq().expect("seq");
        let rule = rules[0].as_map().expect("rule map");
        assert_eq!(rule[1].0.name, "tags");
        assert_eq!(rule[1].0.pos, Pos { line: 3, column: 5 });
        let tags = rule[1].1.as_seq().expect("tags");
        assert_eq!(tags[1].pos, Pos { line: 3, column: 15 });
    }

    #[test]
    fn yaml_1_1_booleans_and_odd_numbers_stay_strings() {
        let root = parse("a: [yes, no, on, 0755, 1_000, true, 12]\n", "p.yaml").expect("parses");
        let items = root.as_map().expect("map")[0].1.as_seq().expect("seq");
        let values: Vec<&Value> = items.iter().map(|n| &n.value).collect();
        assert_eq!(values[0], &Value::Str("yes".into()));
        assert_eq!(values[1], &Value::Str("no".into()));
        assert_eq!(values[2], &Value::Str("on".into()));
        assert_eq!(values[3], &Value::Str("0755".into()));
        assert_eq!(values[4], &Value::Str("1_000".into()));
        assert_eq!(values[5], &Value::Bool(true));
        assert_eq!(values[6], &Value::Int(12));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let error = parse("rules:\n  - id: x\n   bad: [\n", "p.yaml").expect_err("bad yaml");
        assert!(error.line > 0, "{error}");
        assert!(error.to_string().starts_with("p.yaml:"), "{error}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(parse("a: 1\na: 2\n", "p.yaml").is_err());
    }
}
