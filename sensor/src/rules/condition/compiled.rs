//! The compiled, evaluable form of conditions.

use std::{cell::Cell, sync::Arc};

use super::super::{
    eval::{EvalEvent, Value as FieldValue},
    fields::{ActionSet, Field},
    matchers::{FlagsMatcher, IpMatcher, NumberMatcher, TextMatcher},
};
use crate::event::Outcome;

#[derive(Clone, Debug)]
pub enum Matcher {
    /// `event.action` in a set: a bit test.
    Actions(ActionSet),
    /// `event.outcome` in a set.
    Outcomes(Vec<Outcome>),
    Text(TextMatcher),
    Number(NumberMatcher),
    Ip(IpMatcher),
    Flags(FlagsMatcher),
    Bool(bool),
}

#[derive(Clone, Debug)]
pub struct Test {
    pub field: Field,
    /// `exists: true/false`, when given.
    pub exists: Option<bool>,
    /// Every matcher must hold (one per operator group).
    pub matchers: Vec<Matcher>,
    /// The actions this test can hold for.
    pub actions: ActionSet,
}

impl Test {
    fn eval(&self, event: &EvalEvent) -> bool {
        match self.matchers.first() {
            Some(Matcher::Actions(set)) => return set.contains(event.event.action),
            Some(Matcher::Outcomes(outcomes)) => return outcomes.contains(&event.event.outcome),
            _ => {}
        }
        let Some(value) = event.get(self.field) else {
            return self.exists == Some(false) && self.matchers.is_empty();
        };
        if self.exists == Some(false) {
            return false;
        }
        let home = if self.field.is_path() { event.home } else { None };
        self.matchers.iter().all(|matcher| match (matcher, value) {
            (Matcher::Text(m), FieldValue::Text(text)) => m.matches(text, home),
            (Matcher::Text(m), FieldValue::List(items)) => items.iter().any(|item| m.matches(item, home)),
            (Matcher::Number(m), FieldValue::Number(n)) => m.matches(n),
            (Matcher::Ip(m), FieldValue::Ip(ip)) => m.matches(ip),
            (Matcher::Flags(m), FieldValue::Flags(flags)) => m.matches(flags),
            (Matcher::Bool(expected), FieldValue::Bool(actual)) => *expected == actual,
            _ => false,
        })
    }

    fn cost(&self) -> u32 {
        let derived = match self.field {
            Field::ExecPathArgs | Field::ExecArgsOutsideWorkspace => 30,
            Field::UserId | Field::GroupId | Field::AgentId | Field::DestinationAddress => 5,
            _ => 0,
        };
        derived
            + self
                .matchers
                .iter()
                .map(|matcher| match matcher {
                    Matcher::Text(m) => m.cost(),
                    _ => 1,
                })
                .sum::<u32>()
            + 1
    }
}

#[derive(Clone, Debug)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Test(Test),
    /// A macro: its result is computed once per event and remembered (slot `slot` of the
    /// event's macro memo), however many rules use it.
    Macro {
        slot: usize,
        cond: Arc<Cond>,
    },
    /// Decided without looking at the event (after specialisation to one action).
    Const(bool),
    /// One operator of a text field, answered by the action's index (`rules::index`): bit
    /// `bit` of the field in slot `slot`.
    Bit {
        slot: u8,
        bit: u32,
    },
}

/// Per-event memo of macro results: 0 not computed yet, 1 false, 2 true.
pub type MacroMemo = [Cell<u8>];

impl Cond {
    pub fn eval(&self, event: &EvalEvent) -> bool {
        match self {
            Cond::All(parts) => parts.iter().all(|part| part.eval(event)),
            Cond::Any(parts) => parts.iter().any(|part| part.eval(event)),
            Cond::Not(inner) => !inner.eval(event),
            Cond::Test(test) => test.eval(event),
            Cond::Macro { slot, cond } => match event.memo().get(*slot) {
                Some(cell) => match cell.get() {
                    1 => false,
                    2 => true,
                    _ => {
                        let result = cond.eval(event);
                        cell.set(if result { 2 } else { 1 });
                        result
                    }
                },
                None => cond.eval(event),
            },
            Cond::Const(value) => *value,
            Cond::Bit { slot, bit } => event.bit(*slot, *bit),
        }
    }

    /// The actions whose events this condition can hold for.
    pub fn actions(&self) -> ActionSet {
        match self {
            Cond::All(parts) => parts
                .iter()
                .fold(ActionSet::ALL, |set, part| set.intersect(part.actions())),
            Cond::Any(parts) => parts
                .iter()
                .fold(ActionSet::NONE, |set, part| set.union(part.actions())),
            Cond::Not(_) => ActionSet::ALL,
            Cond::Test(test) => test.actions,
            Cond::Macro { cond, .. } => cond.actions(),
            Cond::Const(true) => ActionSet::ALL,
            Cond::Const(false) => ActionSet::NONE,
            Cond::Bit { .. } => ActionSet::ALL,
        }
    }

    fn cost(&self) -> u32 {
        match self {
            Cond::All(parts) | Cond::Any(parts) => parts.iter().map(Cond::cost).sum::<u32>() + 1,
            Cond::Not(inner) => inner.cost(),
            Cond::Test(test) => test.cost(),
            Cond::Macro { cond, .. } => cond.cost(),
            Cond::Const(_) => 0,
            Cond::Bit { .. } => 1,
        }
    }

    /// Orders the parts of `all`/`any` cheapest first; the result is the same, found sooner.
    pub fn order_by_cost(mut self) -> Self {
        if let Cond::All(parts) | Cond::Any(parts) = &mut self {
            let taken = std::mem::take(parts);
            let mut ordered: Vec<Cond> = taken.into_iter().map(Cond::order_by_cost).collect();
            ordered.sort_by_key(Cond::cost);
            *parts = ordered;
        }
        self
    }
}
