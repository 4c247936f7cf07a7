//! Reading the values of a pack (mappings with known keys, strings, lists, booleans, conditions,
//! list items, names) and reporting each wrong one with its position.

use super::*;
use crate::rules::{condition::parse_condition, fields::edit_distance, yaml_tree::Value};

pub(super) struct Reader<'r> {
    pub(super) r: &'r mut Reporter,
}

/// The keys of one mapping, checked against the keys it may have.
pub(super) struct MapFields<'n> {
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    allowed: &'static [&'static str],
    what: &'static str,
}

impl<'n> MapFields<'n> {
    pub(super) fn take(&mut self, name: &str) -> Option<&'n Node> {
        let index = self.entries.iter().position(|(key, _)| key.name == name)?;
        self.used[index] = true;
        Some(&self.entries[index].1)
    }

    pub(super) fn finish(self, r: &mut Reporter) {
        for (index, (key, _)) in self.entries.iter().enumerate() {
            if !self.used[index] {
                let suggestion = self
                    .allowed
                    .iter()
                    .filter(|allowed| edit_distance(allowed, &key.name) <= 3)
                    .min_by_key(|allowed| edit_distance(allowed, &key.name));
                let advice = match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("{} may have {}", self.what, list(self.allowed)),
                };
                r.error(key.pos, format!("unknown key `{}` in {}", key.name, self.what), advice);
            }
        }
    }
}

pub(super) fn list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl Reader<'_> {
    pub(super) fn map<'n>(
        &mut self,
        node: &'n Node,
        allowed: &'static [&'static str],
        what: &'static str,
    ) -> Option<MapFields<'n>> {
        match node.as_map() {
            Some(entries) => Some(MapFields {
                entries,
                used: vec![false; entries.len()],
                allowed,
                what,
            }),
            None => {
                self.r.error(
                    node.pos,
                    format!("{what} must be a mapping, not {}", node.kind()),
                    format!("{what} has the keys {}", list(allowed)),
                );
                None
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => {
                self.r.error(
                    node.pos,
                    format!("{what} must be a non-empty string, not {}", node.kind()),
                    "quote it if in doubt",
                );
                None
            }
        }
    }

    pub(super) fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let Some(items) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list, not {}", node.kind()),
                "write `[a, b]` or `- a` lines",
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            out.push(self.string(item, what)?);
        }
        Some(out)
    }

    pub(super) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.r.error(
                    node.pos,
                    format!("{what} must be true or false, not {}", node.kind()),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    pub(super) fn condition(&mut self, node: &Node) -> Option<CondAst> {
        let mut errors = Vec::new();
        let parsed = parse_condition(node, &mut errors);
        for (pos, message, advice) in errors {
            self.r.error(pos, message, advice);
        }
        parsed
    }

    pub(super) fn conditions(&mut self, node: &Node, what: &str) -> Option<Vec<CondAst>> {
        let Some(items) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list of conditions, not {}", node.kind()),
                "write `- condition` lines",
            );
            return None;
        };
        let parsed: Vec<Option<CondAst>> = items.iter().map(|item| self.condition(item)).collect();
        parsed.into_iter().collect()
    }

    pub(super) fn items(&mut self, node: &Node, what: &str) -> Option<Vec<Item>> {
        let Some(values) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list of values, not {}", node.kind()),
                "write `[a, b]` or `- a` lines",
            );
            return None;
        };
        let mut items = Vec::new();
        for value in values {
            let item = match &value.value {
                Value::Str(s) => match s.strip_prefix('$') {
                    Some(name) if !name.is_empty() && name != "HOME" && !name.starts_with("HOME/") => {
                        Item::ListRef(name.to_string(), value.pos)
                    }
                    _ => Item::Scalar(crate::rules::condition::Scalar::Str(s.clone()), value.pos),
                },
                Value::Int(i) => Item::Scalar(crate::rules::condition::Scalar::Int(*i), value.pos),
                Value::Float(f) => Item::Scalar(crate::rules::condition::Scalar::Float(*f), value.pos),
                Value::Bool(b) => Item::Scalar(crate::rules::condition::Scalar::Bool(*b), value.pos),
                _ => {
                    self.r.error(
                        value.pos,
                        format!("{what}: items must be plain values, not {}", value.kind()),
                        "remove the nesting",
                    );
                    return None;
                }
            };
            items.push(item);
        }
        Some(items)
    }

    pub(super) fn name_key(&mut self, key: &Key, what: &str) -> bool {
        let valid = !key.name.is_empty()
            && key
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            self.r.error(
                key.pos,
                format!("{what} name `{}` is not valid", key.name),
                "use letters, digits, `_`, `-` and `.`",
            );
        }
        valid
    }
}

pub(super) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("`{s}`"),
        Value::Int(i) => i.to_string(),
        _ => node.kind().to_string(),
    }
}

pub(super) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn valid_technique(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match rest.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (rest, None),
    };
    main.len() == 4
        && main.chars().all(|c| c.is_ascii_digit())
        && sub.is_none_or(|sub| sub.len() == 3 && sub.chars().all(|c| c.is_ascii_digit()))
}
