//! Conditions: their syntax tree as written in a pack, and their compiled, evaluable form.

use std::{cell::Cell, collections::HashMap, sync::Arc};

use globset::GlobBuilder;
use regex::RegexSetBuilder;

use super::{
    diagnostics::Diagnostic,
    eval::{EvalEvent, Value as FieldValue},
    fields::{ActionSet, Field, FieldType},
    globs::Globs,
    matchers::{
        FlagTest, FlagsMatcher, HomeSplit, IpMatcher, IpOp, NumberMatcher, NumberOp, StrSet, Subject, TextMatcher,
        TextOp, below, flag_test,
    },
    yaml_tree::{Node, Pos, Value},
};
use crate::event::{Action, Outcome};

// ---------------------------------------------------------------------------------------------
// Syntax

#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn describe(&self) -> String {
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

    fn parse(name: &str) -> Option<Op> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    fn name(self) -> &'static str {
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

// ---------------------------------------------------------------------------------------------
// Compiled form

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
            (Matcher::Text(m), FieldValue::Text(text)) => match event.globbed(self.field) {
                Some((value, cache)) => m.matches_subject(&Subject {
                    value,
                    below_home: home.and_then(|home| below(value, home)),
                    candidates: cache,
                }),
                None => m.matches(text, home),
            },
            (Matcher::Text(m), FieldValue::List(items)) => items.iter().any(|item| m.matches(item, home)),
            (Matcher::Number(m), FieldValue::Number(n)) => m.matches(n),
            (Matcher::Ip(m), FieldValue::Ip(ip)) => m.matches(ip),
            (Matcher::Flags(m), FieldValue::Flags(flags)) => m.matches(flags),
            (Matcher::Bool(expected), FieldValue::Bool(actual)) => *expected == actual,
            _ => false,
        })
    }

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
}

/// Specialised macros, by memo slot and action, so each is specialised once per action.
pub type SpecializedMacros = HashMap<(usize, u8), Cond>;

/// Per-event memo of macro results: 0 not computed yet, 1 false, 2 true.
pub type MacroMemo = [Cell<u8>];

impl Cond {
    pub fn eval(&self, event: &EvalEvent) -> bool {
        match self {
            Cond::All(parts) => parts.iter().all(|part| part.eval(event)),
            Cond::Any(parts) => parts.iter().any(|part| part.eval(event)),
            Cond::Not(inner) => !inner.eval(event),
            Cond::Test(test) => test.eval(event),
            Cond::Macro { slot, cond } => match event.memo.get(*slot) {
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
        }
    }

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
        }
    }

    fn cost(&self) -> u32 {
        match self {
            Cond::All(parts) | Cond::Any(parts) => parts.iter().map(Cond::cost).sum::<u32>() + 1,
            Cond::Not(inner) => inner.cost(),
            Cond::Test(test) => test.cost(),
            Cond::Macro { cond, .. } => cond.cost(),
            Cond::Const(_) => 0,
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

// ---------------------------------------------------------------------------------------------
// Compilation: resolving lists and macros, converting values to each field's type

/// A named list as defined (or last overridden).
#[derive(Clone, Debug)]
pub struct ListDef {
    pub items: Vec<Item>,
    pub file: Arc<str>,
}

/// A macro as defined (or last overridden).
#[derive(Clone, Debug)]
pub struct MacroDef {
    pub cond: CondAst,
    pub file: Arc<str>,
}

pub struct Compiler<'d> {
    lists: &'d HashMap<String, ListDef>,
    macros: &'d HashMap<String, MacroDef>,
    compiled_macros: HashMap<String, Option<Cond>>,
    /// Memo slots handed out so far (one per compiled macro).
    pub macro_slots: usize,
    expanding: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'d> Compiler<'d> {
    pub fn new(lists: &'d HashMap<String, ListDef>, macros: &'d HashMap<String, MacroDef>) -> Self {
        Self {
            lists,
            macros,
            compiled_macros: HashMap::new(),
            macro_slots: 0,
            expanding: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    fn error(&mut self, file: &str, pos: Pos, message: impl Into<String>, advice: impl Into<String>) {
        let diagnostic = Diagnostic::new(file, pos, message, advice);
        if !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    /// Compiles every macro once, so errors inside unused macros are reported too.
    pub fn check_macros(&mut self) {
        let mut names: Vec<&String> = self.macros.keys().collect();
        names.sort();
        for name in names {
            self.expand_macro(name, "", Pos::default());
        }
    }

    pub fn compile(&mut self, ast: &CondAst, file: &str) -> Option<Cond> {
        self.compile_inner(ast, file).map(Cond::order_by_cost)
    }

    fn compile_inner(&mut self, ast: &CondAst, file: &str) -> Option<Cond> {
        match ast {
            CondAst::All(parts) | CondAst::Any(parts) => {
                let compiled: Vec<Option<Cond>> = parts.iter().map(|part| self.compile_inner(part, file)).collect();
                if compiled.iter().any(Option::is_none) {
                    return None;
                }
                let compiled = compiled.into_iter().flatten().collect();
                Some(if matches!(ast, CondAst::All(_)) {
                    Cond::All(compiled)
                } else {
                    Cond::Any(compiled)
                })
            }
            CondAst::Not(inner) => Some(Cond::Not(Box::new(self.compile_inner(inner, file)?))),
            CondAst::Macro(name, pos) => self.expand_macro(name, file, *pos),
            CondAst::Test(test) => self.compile_test(test, file).map(Cond::Test),
        }
    }

    fn expand_macro(&mut self, name: &str, file: &str, pos: Pos) -> Option<Cond> {
        if let Some(done) = self.compiled_macros.get(name) {
            return done.clone();
        }
        let Some(definition) = self.macros.get(name) else {
            let advice = self.closest(
                self.macros.keys(),
                name,
                "macros are defined under `macros:` in this or an earlier pack",
            );
            self.error(file, pos, format!("unknown macro `{name}`"), advice);
            return None;
        };
        if self.expanding.iter().any(|n| n == name) {
            let chain = format!("{} -> {name}", self.expanding.join(" -> "));
            self.error(
                file,
                pos,
                format!("macro `{name}` refers to itself ({chain})"),
                "break the cycle",
            );
            return None;
        }
        self.expanding.push(name.to_string());
        let compiled = self
            .compile_inner(&definition.cond, &definition.file.clone())
            .map(|cond| {
                let slot = self.macro_slots;
                self.macro_slots += 1;
                Cond::Macro {
                    slot,
                    cond: Arc::new(cond.order_by_cost()),
                }
            });
        self.expanding.pop();
        self.compiled_macros.insert(name.to_string(), compiled.clone());
        compiled
    }

    fn closest<'k>(&self, names: impl Iterator<Item = &'k String>, name: &str, fallback: &str) -> String {
        names
            .filter(|candidate| super::fields::edit_distance(candidate, name) <= 3)
            .min_by_key(|candidate| super::fields::edit_distance(candidate, name))
            .map_or_else(
                || fallback.to_string(),
                |candidate| format!("did you mean `{candidate}`?"),
            )
    }

    /// The scalars of an operator, with `$list` references expanded.
    fn expand(&mut self, items: &[Item], file: &str, seen: &mut Vec<String>) -> Option<Vec<(Scalar, Pos, Arc<str>)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item {
                Item::Scalar(scalar, pos) => out.push((scalar.clone(), *pos, Arc::from(file))),
                Item::ListRef(name, pos) => {
                    let Some(list) = self.lists.get(name) else {
                        let advice = self.closest(
                            self.lists.keys(),
                            name,
                            "lists are defined under `lists:` in this or an earlier pack",
                        );
                        self.error(file, *pos, format!("unknown list `${name}`"), advice);
                        ok = false;
                        continue;
                    };
                    if seen.iter().any(|n| n == name) {
                        self.error(file, *pos, format!("list `{name}` includes itself"), "break the cycle");
                        ok = false;
                        continue;
                    }
                    seen.push(name.clone());
                    let list_file = list.file.clone();
                    match self.expand(&list.items.clone(), &list_file, seen) {
                        Some(values) => out.extend(values),
                        None => ok = false,
                    }
                    seen.pop();
                }
            }
        }
        ok.then_some(out)
    }

    fn compile_test(&mut self, test: &TestAst, file: &str) -> Option<Test> {
        let field = test.field;
        let mut compiled = Test {
            field,
            exists: None,
            matchers: Vec::new(),
            actions: field.actions(),
        };
        let mut text = TextMatcher::default();
        let mut number = NumberMatcher::default();
        let mut ip = IpMatcher::default();
        let mut ok = true;
        for op in &test.ops {
            let Some(values) = self.expand(&op.values, file, &mut Vec::new()) else {
                ok = false;
                continue;
            };
            if values.is_empty() {
                self.error(
                    file,
                    op.pos,
                    format!("`{}` has no values", op.op.name()),
                    "give at least one value",
                );
                ok = false;
                continue;
            }
            if op.op == Op::Exists {
                match single_bool(&values) {
                    Some(flag) => compiled.exists = Some(flag),
                    None => {
                        self.error(file, op.pos, "`exists` takes true or false", "write `exists: true`");
                        ok = false;
                    }
                }
                continue;
            }
            let done = match field.kind() {
                FieldType::Text | FieldType::TextList => self.text_op(field, op, &values).map(|o| text.ops.push(o)),
                FieldType::Number => self.number_op(field, op, &values).map(|o| number.ops.push(o)),
                FieldType::Ip => self.ip_op(field, op, &values).map(|o| ip.ops.push(o)),
                FieldType::Flags => self
                    .flags_op(op, &values)
                    .map(|m| compiled.matchers.push(Matcher::Flags(m))),
                FieldType::Bool => self
                    .bool_op(field, op, &values)
                    .map(|b| compiled.matchers.push(Matcher::Bool(b))),
            };
            ok &= done.is_some();
        }
        if !text.ops.is_empty() {
            compiled.matchers.push(Matcher::Text(text));
        }
        if !number.ops.is_empty() {
            compiled.matchers.push(Matcher::Number(number));
        }
        if !ip.ops.is_empty() {
            compiled.matchers.push(Matcher::Ip(ip));
        }
        if compiled.exists == Some(false) {
            compiled.actions = ActionSet::ALL;
        } else if field == Field::EventAction {
            compiled.actions = self.action_values(test, file);
        }
        self.check_enumerated(test, file);
        // Plain `eq`/`in` on event.action and event.outcome become set tests.
        let only_equality = compiled.exists.is_none() && test.ops.iter().all(|op| matches!(op.op, Op::Eq | Op::In));
        if only_equality && field == Field::EventAction {
            compiled.matchers = vec![Matcher::Actions(compiled.actions)];
        } else if only_equality && field == Field::EventOutcome {
            let mut outcomes = vec![Outcome::Success, Outcome::Failure, Outcome::Unknown];
            for op in &test.ops {
                let values = self.expand(&op.values, file, &mut Vec::new()).unwrap_or_default();
                let named: Vec<&str> = values
                    .iter()
                    .filter_map(|(scalar, _, _)| match scalar {
                        Scalar::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect();
                outcomes.retain(|outcome| named.contains(&outcome.as_str()));
            }
            compiled.matchers = vec![Matcher::Outcomes(outcomes)];
        }
        ok.then_some(compiled)
    }

    /// `event.action: [open, unlink]` narrows the actions a test can hold for.
    fn action_values(&mut self, test: &TestAst, file: &str) -> ActionSet {
        let mut set = ActionSet::ALL;
        for op in &test.ops {
            if !matches!(op.op, Op::Eq | Op::In) {
                continue;
            }
            let values = self.expand(&op.values, file, &mut Vec::new()).unwrap_or_default();
            let actions: Vec<Action> = values
                .iter()
                .filter_map(|(scalar, _, _)| match scalar {
                    Scalar::Str(name) => Action::parse(name),
                    _ => None,
                })
                .collect();
            set = set.intersect(ActionSet::of(&actions));
        }
        set
    }

    /// Fields with a fixed set of values reject anything else (`event.action: execve`).
    fn check_enumerated(&mut self, test: &TestAst, file: &str) {
        let actions = crate::event::Action::ALL.map(crate::event::Action::as_str);
        let allowed: &[&str] = match test.field {
            Field::EventAction => &actions,
            Field::EventOutcome => &["success", "failure", "unknown"],
            Field::OpenAccess => &["read", "write", "read-write"],
            Field::NetworkType => &["ipv4", "ipv6", "unix"],
            Field::DestinationScope => &crate::event::annotations::Scope::NAMES,
            Field::BaselineStatus => &["learning", "enforcing"],
            _ => return,
        };
        for op in &test.ops {
            if !matches!(op.op, Op::Eq | Op::In) {
                continue;
            }
            for (scalar, pos, value_file) in self.expand(&op.values, file, &mut Vec::new()).unwrap_or_default() {
                let known = matches!(&scalar, Scalar::Str(s) if allowed.contains(&s.as_str()));
                if !known {
                    self.error(
                        &value_file,
                        pos,
                        format!("{} is never {}", test.field.name(), scalar.describe()),
                        format!("its values are {}", allowed.join(", ")),
                    );
                }
            }
        }
    }

    fn text_value(&mut self, field: Field, scalar: &Scalar, pos: Pos, file: &str) -> Option<String> {
        match scalar {
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Float(f) => Some(f.to_string()),
            Scalar::Bool(b) => {
                self.error(
                    file,
                    pos,
                    format!("{} is text; {b} is a boolean", field.name()),
                    format!("quote it: \"{b}\""),
                );
                None
            }
        }
    }

    fn text_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<TextOp> {
        let mut strings = Vec::new();
        for (scalar, pos, file) in values {
            strings.push((self.text_value(field, scalar, *pos, file)?, *pos, file.clone()));
        }
        let home = field.is_path();
        Some(match op.op {
            Op::Eq | Op::In => {
                let (mut absolute, mut below) = (Vec::new(), Vec::new());
                for (value, _, _) in strings {
                    match home_part(&value, home) {
                        Some(rest) => below.push(rest.to_string()),
                        None => absolute.push(value),
                    }
                }
                TextOp::Equal(HomeSplit {
                    absolute: StrSet::from_values(absolute),
                    home: StrSet::from_values(below),
                })
            }
            Op::Prefix => {
                let mut split = HomeSplit::<Vec<String>>::default();
                for (value, _, _) in strings {
                    match home_part(&value, home) {
                        Some(rest) => split.home.push(rest.to_string()),
                        None => split.absolute.push(value),
                    }
                }
                TextOp::Prefix(split)
            }
            Op::Suffix => TextOp::Suffix(strings.into_iter().map(|(v, _, _)| v).collect()),
            Op::Contains => TextOp::Contains(strings.into_iter().map(|(v, _, _)| v).collect()),
            Op::Glob => {
                let mut absolute = Vec::new();
                let mut below = Vec::new();
                let mut ok = true;
                for (value, pos, file) in &strings {
                    let (list, pattern) = match home_part(value, home) {
                        Some(rest) => (&mut below, rest),
                        None => (&mut absolute, value.as_str()),
                    };
                    match GlobBuilder::new(pattern)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()
                    {
                        Ok(glob) => list.push((pattern.to_string(), glob)),
                        Err(error) => {
                            self.error(
                                file,
                                *pos,
                                format!("bad glob `{value}`: {}", error.kind()),
                                "globs use `*`, `?`, `**`, `[abc]` and `{a,b}`",
                            );
                            ok = false;
                        }
                    }
                }
                if !ok {
                    return None;
                }
                match (Globs::build(absolute), Globs::build(below)) {
                    (Ok(absolute), Ok(home)) => TextOp::Glob(HomeSplit { absolute, home }),
                    (Err(error), _) | (_, Err(error)) => {
                        self.error(
                            &strings[0].2,
                            op.pos,
                            format!("bad glob set: {error}"),
                            "check the patterns",
                        );
                        return None;
                    }
                }
            }
            Op::Regex => {
                let mut ok = true;
                for (value, pos, file) in &strings {
                    if let Err(error) = regex::Regex::new(value) {
                        let detail = error.to_string();
                        let last = detail.lines().last().unwrap_or("invalid").trim().to_string();
                        self.error(
                            file,
                            *pos,
                            format!("bad regular expression `{value}`: {last}"),
                            "see https://docs.rs/regex for the syntax",
                        );
                        ok = false;
                    }
                }
                if !ok {
                    return None;
                }
                match RegexSetBuilder::new(strings.iter().map(|(v, _, _)| v.as_str())).build() {
                    Ok(set) => TextOp::Regex(set),
                    Err(error) => {
                        self.error(
                            &strings[0].2,
                            op.pos,
                            format!("bad regular expressions: {error}"),
                            "simplify them",
                        );
                        return None;
                    }
                }
            }
            _ => return None,
        })
    }

    fn number_value(&mut self, field: Field, scalar: &Scalar, pos: Pos, file: &str) -> Option<i64> {
        let parsed = match scalar {
            Scalar::Int(i) => Some(*i),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                file,
                pos,
                format!("{} is a number; {} is not", field.name(), scalar.describe()),
                "write a whole number such as 443",
            );
        }
        parsed
    }

    fn number_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<NumberOp> {
        if matches!(op.op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
            if values.len() != 1 {
                self.error(
                    &values[0].2,
                    op.pos,
                    format!("`{}` takes one number", op.op.name()),
                    "write e.g. `gt: 1024`",
                );
                return None;
            }
            let (scalar, pos, file) = &values[0];
            let bound = self.number_value(field, scalar, *pos, file)?;
            return Some(match op.op {
                Op::Gt => NumberOp::Gt(bound),
                Op::Ge => NumberOp::Ge(bound),
                Op::Lt => NumberOp::Lt(bound),
                _ => NumberOp::Le(bound),
            });
        }
        if op.op == Op::Range {
            let mut ranges = Vec::new();
            for (scalar, pos, file) in values {
                let range = match scalar {
                    Scalar::Int(i) => Some((*i, *i)),
                    Scalar::Str(s) => parse_range(s),
                    _ => None,
                };
                match range {
                    Some(range) => ranges.push(range),
                    None => {
                        self.error(
                            file,
                            *pos,
                            format!("{} is not a range", scalar.describe()),
                            "write `LOW-HIGH` (inclusive) or a single number",
                        );
                        return None;
                    }
                }
            }
            return Some(NumberOp::Ranges(ranges));
        }
        let mut numbers = Vec::new();
        for (scalar, pos, file) in values {
            numbers.push(self.number_value(field, scalar, *pos, file)?);
        }
        Some(NumberOp::In(numbers))
    }

    fn ip_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<IpOp> {
        let mut ips = Vec::new();
        let mut nets = Vec::new();
        for (scalar, pos, file) in values {
            let Scalar::Str(text) = scalar else {
                self.error(
                    file,
                    *pos,
                    format!("{} takes addresses; {} is not one", field.name(), scalar.describe()),
                    "quote addresses, e.g. \"10.0.0.1\"",
                );
                return None;
            };
            if op.op == Op::Cidr {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from));
                match net {
                    Some(net) => nets.push(net),
                    None => {
                        self.error(
                            file,
                            *pos,
                            format!("`{text}` is not a network"),
                            "write a CIDR such as 10.0.0.0/8 or fd00::/8",
                        );
                        return None;
                    }
                }
            } else {
                match text.parse::<std::net::IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => {
                        self.error(
                            file,
                            *pos,
                            format!("`{text}` is not an IP address"),
                            "use `cidr:` for networks",
                        );
                        return None;
                    }
                }
            }
        }
        Some(if op.op == Op::Cidr {
            IpOp::Cidr(nets)
        } else {
            IpOp::In(ips)
        })
    }

    fn flags_op(&mut self, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<FlagsMatcher> {
        let _ = op;
        let mut any: Vec<FlagTest> = Vec::new();
        for (scalar, pos, file) in values {
            let test = match scalar {
                Scalar::Str(name) => flag_test(name),
                _ => None,
            };
            match test {
                Some(test) => any.push(test),
                None => {
                    self.error(
                        file,
                        *pos,
                        format!("{} is not an open flag", scalar.describe()),
                        "use names such as O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_DIRECTORY",
                    );
                    return None;
                }
            }
        }
        Some(FlagsMatcher { any })
    }

    fn bool_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<bool> {
        match single_bool(values) {
            Some(value) => Some(value),
            None => {
                self.error(
                    &values[0].2,
                    op.pos,
                    format!("{} is true or false", field.name()),
                    "write `true` or `false` (unquoted)",
                );
                None
            }
        }
    }
}

fn single_bool(values: &[(Scalar, Pos, Arc<str>)]) -> Option<bool> {
    match values {
        [(Scalar::Bool(value), _, _)] => Some(*value),
        _ => None,
    }
}

/// `"1024-65535"` → (1024, 65535); `"443"` → (443, 443).
pub(super) fn parse_range(text: &str) -> Option<(i64, i64)> {
    let text = text.trim();
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
            (low <= high).then_some((low, high))
        }
        None => text.parse().ok().map(|n| (n, n)),
    }
}

/// For path fields, the part after a leading `~` or `$HOME` (`~/x` → `/x`, `~` → ``).
fn home_part(value: &str, is_path: bool) -> Option<&str> {
    if !is_path {
        return None;
    }
    let rest = value.strip_prefix("$HOME").or_else(|| value.strip_prefix('~'))?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}
