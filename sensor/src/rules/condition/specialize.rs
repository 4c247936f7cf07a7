//! Specialisation of compiled conditions to one event action: what the action alone decides is
//! folded into constants.

use std::{collections::HashMap, sync::Arc};

use super::compiled::{Cond, Matcher, Test};
use crate::event::Action;

/// Specialised macros, by memo slot and action, so each is specialised once per action.
pub type SpecializedMacros = HashMap<(usize, u8), Cond>;

impl Test {
    /// The test for events of `action` only: constant when the action decides it.
    fn specialize(&self, action: Action) -> Cond {
        if !self.field.actions().contains(action) {
            // The field is never present on this action.
            return Cond::Const(self.exists == Some(false) && self.matchers.is_empty());
        }
        match self.matchers.as_slice() {
            [Matcher::Actions(set)] => Cond::Const(set.contains(action)),
            _ => Cond::Test(self.clone()),
        }
    }
}

impl Cond {
    /// The condition for events of `action` only. Tests that the action alone decides
    /// (`event.action`, fields the action never carries) become constants and are folded away,
    /// so an open event never walks the exec branches of a rule.
    pub fn specialize(&self, action: Action, macros: &mut SpecializedMacros) -> Cond {
        match self {
            Cond::All(parts) => {
                let mut kept = Vec::new();
                for part in parts {
                    match part.specialize(action, macros) {
                        Cond::Const(false) => return Cond::Const(false),
                        Cond::Const(true) => {}
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Cond::Const(true),
                    1 => kept.pop().unwrap_or(Cond::Const(true)),
                    _ => Cond::All(kept),
                }
            }
            Cond::Any(parts) => {
                let mut kept = Vec::new();
                for part in parts {
                    match part.specialize(action, macros) {
                        Cond::Const(true) => return Cond::Const(true),
                        Cond::Const(false) => {}
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Cond::Const(false),
                    1 => kept.pop().unwrap_or(Cond::Const(false)),
                    _ => Cond::Any(kept),
                }
            }
            Cond::Not(inner) => match inner.specialize(action, macros) {
                Cond::Const(value) => Cond::Const(!value),
                other => Cond::Not(Box::new(other)),
            },
            Cond::Test(test) => test.specialize(action),
            Cond::Macro { slot, cond } => {
                let key = (*slot, action as u8);
                if let Some(done) = macros.get(&key) {
                    return done.clone();
                }
                let specialized = match cond.specialize(action, macros) {
                    constant @ Cond::Const(_) => constant,
                    // A macro that is just one test is cheaper evaluated than remembered.
                    test @ Cond::Test(_) => test,
                    other => Cond::Macro {
                        slot: *slot,
                        cond: Arc::new(other),
                    },
                };
                macros.insert(key, specialized.clone());
                specialized
            }
            Cond::Const(value) => Cond::Const(*value),
            Cond::Bit { slot, bit } => Cond::Bit { slot: *slot, bit: *bit },
        }
    }
}
