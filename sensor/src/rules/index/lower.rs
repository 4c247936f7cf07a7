//! Rewrites the conditions of one action's rules so their text operators test bits of the
//! action's index, building the index as it goes.

use std::{collections::HashMap, sync::Arc};

use super::{
    ActionIndex, MAX_FIELDS,
    field::{FieldIndex, FieldIndexBuilder},
};
use crate::rules::{
    condition::{Cond, Matcher, Test},
    fields::{Field, FieldType},
    matchers::{TextMatcher, TextOp},
};

/// The lowering of one action's conditions.
#[derive(Default)]
pub struct Lowering {
    fields: Vec<FieldIndexBuilder>,
    /// Slots by field; the literals regular expressions need have slots of their own (`true`),
    /// computed only when a rule asks for one of them, not with the field's other operators.
    slots: HashMap<(Field, bool), u8>,
    /// Lowered macros, by memo slot.
    macros: HashMap<usize, Cond>,
}

impl Lowering {
    /// `cond` with its indexable text operators turned into bits.
    pub fn lower(&mut self, cond: &Cond) -> Cond {
        match cond {
            Cond::All(parts) => Cond::All(parts.iter().map(|part| self.lower(part)).collect()),
            Cond::Any(parts) => Cond::Any(parts.iter().map(|part| self.lower(part)).collect()),
            Cond::Not(inner) => Cond::Not(Box::new(self.lower(inner))),
            Cond::Test(test) => self.lower_test(test),
            Cond::Macro { slot, cond } => {
                if let Some(done) = self.macros.get(slot) {
                    return done.clone();
                }
                let lowered = Cond::Macro {
                    slot: *slot,
                    cond: Arc::new(self.lower(cond)),
                };
                self.macros.insert(*slot, lowered.clone());
                lowered
            }
            Cond::Const(_) | Cond::Bit { .. } => cond.clone(),
        }
    }

    fn lower_test(&mut self, test: &Test) -> Cond {
        let keep = || Cond::Test(test.clone());
        if test.exists.is_some() || test.field.kind() != FieldType::Text {
            return keep();
        }
        let [Matcher::Text(matcher)] = test.matchers.as_slice() else {
            return keep();
        };
        let mut parts = Vec::new();
        let mut kept = Vec::new();
        for op in &matcher.ops {
            let TextOp::Regex(set) = op else {
                match self
                    .slot(test.field, false)
                    .and_then(|slot| Some((slot, self.bit(slot, op)?)))
                {
                    Some((slot, bit)) => parts.push(Cond::Bit { slot, bit }),
                    None => kept.push(op.clone()),
                }
                continue;
            };
            if let Some(literals) = set.literals()
                && let Some(slot) = self.slot(test.field, true)
                && let Some(bit) = self.bit(slot, &TextOp::Contains(literals.to_vec()))
            {
                parts.push(Cond::Bit { slot, bit });
            }
            kept.push(op.clone());
        }
        if parts.is_empty() {
            return keep();
        }
        if !kept.is_empty() {
            parts.push(Cond::Test(Test {
                matchers: vec![Matcher::Text(TextMatcher { ops: kept })],
                ..test.clone()
            }));
        }
        match parts.len() {
            1 => parts.pop().unwrap_or_else(keep),
            _ => Cond::All(parts),
        }
    }

    fn slot(&mut self, field: Field, literals: bool) -> Option<u8> {
        if let Some(&slot) = self.slots.get(&(field, literals)) {
            return Some(slot);
        }
        if self.fields.len() >= MAX_FIELDS {
            return None;
        }
        let slot = self.fields.len() as u8;
        self.fields.push(FieldIndexBuilder::new(field));
        self.slots.insert((field, literals), slot);
        Some(slot)
    }

    /// The bit of `op` in the field's index, added when new; `None` for regular expressions.
    fn bit(&mut self, slot: u8, op: &TextOp) -> Option<u32> {
        let key = key(op)?;
        let field = &mut self.fields[slot as usize];
        if let Some(&bit) = field.bits.get(&key) {
            return Some(bit);
        }
        let bit = field.bits.len() as u32;
        field.bits.insert(key, bit);
        let index = &mut field.index;
        match op {
            TextOp::Equal(split) => {
                for value in split.absolute.values() {
                    index.equal.entry(Box::from(value)).or_default().push(bit);
                }
                for value in split.home.values() {
                    index.home_equal.entry(Box::from(value)).or_default().push(bit);
                }
            }
            TextOp::Prefix(split) => {
                index
                    .prefix
                    .extend(split.absolute.iter().map(|v| (Box::from(v.as_str()), bit)));
                index
                    .home_prefix
                    .extend(split.home.iter().map(|v| (Box::from(v.as_str()), bit)));
            }
            TextOp::Suffix(values) => index.suffix.extend(values.iter().map(|v| (Box::from(v.as_str()), bit))),
            TextOp::Contains(values) => field
                .contains
                .extend(values.iter().map(|v| (Box::from(v.as_str()), bit))),
            TextOp::Glob(split) => {
                for pattern in split.absolute.patterns() {
                    field.globs.add(pattern, bit);
                }
                for pattern in split.home.patterns() {
                    field.home_globs.add(pattern, bit);
                }
            }
            TextOp::Regex(_) => return None,
        }
        Some(bit)
    }

    /// What the index will answer: its fields in slot order, each with the keys of its operators
    /// in bit order. Two lowerings with the same signature build indexes that set the same bits
    /// for every event (the operators' values may have come in another order, which no answer
    /// depends on), so one index can serve both.
    pub fn signature(&self) -> Vec<(Field, Vec<String>)> {
        self.fields
            .iter()
            .map(|builder| {
                let mut keys: Vec<(&String, u32)> = builder.bits.iter().map(|(key, &bit)| (key, bit)).collect();
                keys.sort_unstable_by_key(|&(_, bit)| bit);
                (
                    builder.index.field,
                    keys.into_iter().map(|(key, _)| key.clone()).collect(),
                )
            })
            .collect()
    }

    /// The action's index; the bits of each field start on a word of their own.
    pub fn finish(self) -> Result<ActionIndex, globset::Error> {
        let mut fields: Vec<FieldIndex> = Vec::with_capacity(self.fields.len());
        let mut words = 0;
        for builder in self.fields {
            let mut field = builder.build()?;
            field.first_word = words;
            words += field.words;
            fields.push(field);
        }
        let first_words = fields.iter().map(|field| field.first_word).collect();
        Ok(ActionIndex {
            fields,
            first_words,
            words,
        })
    }
}

/// What identifies an operator: its kind and values (sorted where order does not matter).
fn key(op: &TextOp) -> Option<String> {
    let join = |kind: &str, absolute: Vec<&str>, home: Vec<&str>| {
        let (mut absolute, mut home) = (absolute, home);
        absolute.sort_unstable();
        home.sort_unstable();
        format!("{kind}\u{0}{}\u{1}{}", absolute.join("\u{0}"), home.join("\u{0}"))
    };
    Some(match op {
        TextOp::Equal(split) => join("eq", split.absolute.values(), split.home.values()),
        TextOp::Prefix(split) => join("prefix", strs(&split.absolute), strs(&split.home)),
        TextOp::Suffix(values) => join("suffix", strs(values), Vec::new()),
        TextOp::Contains(values) => join("contains", strs(values), Vec::new()),
        TextOp::Glob(split) => join("glob", strs(split.absolute.patterns()), strs(split.home.patterns())),
        TextOp::Regex(_) => return None,
    })
}

fn strs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}
