//! Compilation of conditions: resolving lists and macros, and building each test.

use std::{collections::HashMap, sync::Arc};

use super::super::{
    diagnostics::Diagnostic,
    fields::{ActionSet, Field, FieldType},
    matchers::{IpMatcher, NumberMatcher, TextMatcher},
    yaml_tree::Pos,
};
use super::{
    compiled::{Cond, Matcher, Test},
    syntax::{CondAst, Item, Op, Scalar, TestAst},
    values::single_bool,
};
use crate::event::{Action, Outcome};

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

    pub(super) fn error(&mut self, file: &str, pos: Pos, message: impl Into<String>, advice: impl Into<String>) {
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
            .filter(|candidate| super::super::fields::edit_distance(candidate, name) <= 3)
            .min_by_key(|candidate| super::super::fields::edit_distance(candidate, name))
            .map_or_else(
                || fallback.to_string(),
                |candidate| format!("did you mean `{candidate}`?"),
            )
    }

    /// The scalars of an operator, with `$list` references expanded.
    pub(super) fn expand(
        &mut self,
        items: &[Item],
        file: &str,
        seen: &mut Vec<String>,
    ) -> Option<Vec<(Scalar, Pos, Arc<str>)>> {
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
}
