//! Merging packs in order (definitions, then overrides) and compiling every rule once, indexed by
//! the event actions it can match.

use std::{collections::HashMap, sync::Arc};

use super::{
    condition::{Compiler, Cond, ListDef, MacroDef, SpecializedMacros},
    diagnostics::{Diagnostic, Diagnostics},
    fields::{ActionSet, Field},
    index::{ActionIndex, Lowering},
    kernel_form::{self, Definitions, KernelForm},
    pack::{ListChange, PackAst, RuleAst},
    rule::{GroupBy, RuleAction, RuleMeta},
    trigger::{Trigger, TriggerWords},
    yaml_tree::Pos,
};
use crate::event::Action;

#[derive(Clone, Debug)]
pub struct Step {
    pub when: Cond,
    pub keys: Vec<Field>,
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    /// Fires on every matching event.
    Single { when: Cond },
    /// Fires when `count` matching events (or distinct values) happen `within`, per group.
    Threshold {
        when: Cond,
        count: u32,
        distinct: Option<Field>,
        within_ns: u64,
        per: GroupBy,
    },
    /// Fires when the steps happen in order, joined on their keys, within `within`, per group.
    Sequence {
        steps: Vec<Step>,
        within_ns: u64,
        per: GroupBy,
    },
}

#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub meta: Arc<RuleMeta>,
    pub kind: RuleKind,
    pub except: Vec<Cond>,
    /// The actions whose events can match the rule (or one of its steps).
    pub actions: ActionSet,
    /// How the rule's action is carried out (`None` for alert rules).
    pub enforcement: Option<RuleEnforcement>,
}

pub use super::kernel_form::RuleEnforcement;

impl CompiledRule {
    /// The rule's kernel form, when the kernel judges it.
    pub fn kernel_form(&self) -> Option<&Arc<KernelForm>> {
        match &self.enforcement {
            Some(RuleEnforcement::Kernel(form)) => Some(form),
            _ => None,
        }
    }
}

/// A rule specialised to one event action: the parts of its conditions that the action alone
/// decides are folded away.
#[derive(Clone, Debug)]
pub struct ActionRule {
    /// Index into `RuleSet::rules`.
    pub rule: usize,
    /// The `when` of single-event and threshold rules (true for sequences).
    pub when: Cond,
    /// The steps of a sequence; `None` for a step no event of this action can match.
    pub steps: Vec<Option<Cond>>,
    /// Exceptions that events of this action can meet.
    pub except: Vec<Cond>,
    /// Index bits one of which holds whenever the rule can match (`None`: always try it).
    pub trigger: Option<TriggerWords>,
}

/// Every enabled rule, compiled, with an index from event action to the rules to try.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<CompiledRule>,
    by_action: [Vec<ActionRule>; crate::event::ACTION_COUNT],
    /// The text-field indexes of each action, which the conditions of `by_action` test (actions
    /// whose rules test the same operators share one: unlink and rmdir, for instance).
    indexes: [Arc<ActionIndex>; crate::event::ACTION_COUNT],
    /// Rules that are defined but disabled.
    pub disabled: usize,
    /// The pack files, in load order.
    pub files: Vec<Arc<str>>,
    /// How many macro memo slots an event needs.
    pub macro_slots: usize,
    /// Sigma rules that were left out, each with its reason (docs/sigma.md).
    pub skipped: Vec<Diagnostic>,
}

impl RuleSet {
    /// The rules that can match events of `action`, specialised to it.
    pub fn for_action(&self, action: Action) -> &[ActionRule] {
        &self.by_action[action as usize]
    }

    /// The text-field indexes of `action`.
    pub fn action_index(&self, action: Action) -> &ActionIndex {
        &self.indexes[action as usize]
    }

    /// Builds the per-action rules and indexes.
    fn index(&mut self) {
        let mut macros = SpecializedMacros::new();
        let mut built = Vec::new();
        for action in Action::ALL {
            let mut list = Vec::new();
            for (index, rule) in self.rules.iter().enumerate() {
                if let Some(specialized) = specialize(index, rule, action, &mut macros) {
                    list.push(specialized);
                }
            }
            let (list, index) = lower(list, &mut built);
            self.by_action[action as usize] = list;
            self.indexes[action as usize] = index;
        }
    }
}

/// The indexes built so far, by what they index ([`Lowering::signature`]).
type BuiltIndexes = Vec<(Vec<(Field, Vec<String>)>, Arc<ActionIndex>)>;

/// The rules of one action with their text operators answered by the action's index, and their
/// triggers; as they were (no index) should the index not build. An index that answers as one
/// in `built` is not built again.
fn lower(rules: Vec<ActionRule>, built: &mut BuiltIndexes) -> (Vec<ActionRule>, Arc<ActionIndex>) {
    let mut lowering = Lowering::default();
    let lowered: Vec<ActionRule> = rules
        .iter()
        .map(|rule| {
            let when = lowering.lower(&rule.when);
            let steps: Vec<Option<Cond>> = rule
                .steps
                .iter()
                .map(|step| step.as_ref().map(|step| lowering.lower(step)))
                .collect();
            let except = rule.except.iter().map(|except| lowering.lower(except)).collect();
            let trigger = if steps.is_empty() {
                Trigger::of([&when])
            } else {
                Trigger::of(steps.iter().flatten())
            }
            .map(|trigger| TriggerWords::new(&trigger));
            ActionRule {
                rule: rule.rule,
                when,
                steps,
                except,
                trigger,
            }
        })
        .collect();
    let signature = lowering.signature();
    if let Some((_, index)) = built.iter().find(|(known, _)| *known == signature) {
        return (lowered, index.clone());
    }
    match lowering.finish() {
        Ok(index) => {
            let index = Arc::new(index);
            built.push((signature, index.clone()));
            (lowered, index)
        }
        Err(_) => (rules, Arc::default()),
    }
}

/// `rule` for events of `action`, or `None` when no such event can match it.
fn specialize(index: usize, rule: &CompiledRule, action: Action, macros: &mut SpecializedMacros) -> Option<ActionRule> {
    let except: Vec<Cond> = rule
        .except
        .iter()
        .map(|except| except.specialize(action, macros).order_by_cost())
        .filter(|except| !matches!(except, Cond::Const(false)))
        .collect();
    if except.iter().any(|except| matches!(except, Cond::Const(true))) {
        return None;
    }
    match &rule.kind {
        RuleKind::Single { when } | RuleKind::Threshold { when, .. } => {
            let when = when.specialize(action, macros).order_by_cost();
            (!matches!(when, Cond::Const(false))).then_some(ActionRule {
                rule: index,
                when,
                steps: Vec::new(),
                except,
                trigger: None,
            })
        }
        RuleKind::Sequence { steps, .. } => {
            let steps: Vec<Option<Cond>> = steps
                .iter()
                .map(|step| match step.when.specialize(action, macros).order_by_cost() {
                    Cond::Const(false) => None,
                    other => Some(other),
                })
                .collect();
            steps.iter().any(Option::is_some).then_some(ActionRule {
                rule: index,
                when: Cond::Const(true),
                steps,
                except,
                trigger: None,
            })
        }
    }
}

struct RuleEntry {
    ast: RuleAst,
    file: Arc<str>,
    ruleset: Arc<str>,
}

/// Merges `packs` (in load order) and compiles their rules.
pub fn compile(packs: &[PackAst]) -> Result<RuleSet, Diagnostics> {
    let mut diagnostics = Vec::new();
    let mut lists: HashMap<String, ListDef> = HashMap::new();
    let mut list_origin: HashMap<String, Arc<str>> = HashMap::new();
    let mut macros: HashMap<String, MacroDef> = HashMap::new();
    let mut macro_origin: HashMap<String, Arc<str>> = HashMap::new();
    let mut rules: Vec<RuleEntry> = Vec::new();
    let mut rule_index: HashMap<String, usize> = HashMap::new();

    for pack in packs {
        let file = pack.file.clone();
        let ruleset: Arc<str> = Arc::from(pack.ruleset.as_str());
        for (key, items) in &pack.lists {
            if let Some(first) = list_origin.get(&key.name) {
                diagnostics.push(Diagnostic::new(
                    &file,
                    key.pos,
                    format!("list `{}` is already defined in {first}", key.name),
                    "change an earlier pack's list with `overrides: {lists: {NAME: {append: […]}}}`",
                ));
                continue;
            }
            list_origin.insert(key.name.clone(), file.clone());
            lists.insert(
                key.name.clone(),
                ListDef {
                    items: items.clone(),
                    file: file.clone(),
                },
            );
        }
        for (key, cond) in &pack.macros {
            if let Some(first) = macro_origin.get(&key.name) {
                diagnostics.push(Diagnostic::new(
                    &file,
                    key.pos,
                    format!("macro `{}` is already defined in {first}", key.name),
                    "replace an earlier pack's macro under `overrides: {macros: …}`",
                ));
                continue;
            }
            macro_origin.insert(key.name.clone(), file.clone());
            macros.insert(
                key.name.clone(),
                MacroDef {
                    cond: cond.clone(),
                    file: file.clone(),
                },
            );
        }
        for rule in &pack.rules {
            if let Some(&existing) = rule_index.get(&rule.id) {
                diagnostics.push(Diagnostic::new(
                    &file,
                    rule.pos,
                    format!("rule id `{}` is already used in {}", rule.id, rules[existing].file),
                    "ids are unique across packs; change an existing rule with `overrides: {rules: …}`",
                ));
                continue;
            }
            rule_index.insert(rule.id.clone(), rules.len());
            rules.push(RuleEntry {
                ast: rule.clone(),
                file: file.clone(),
                ruleset: ruleset.clone(),
            });
        }
        // Overrides: to anything defined so far.
        for (key, change) in &pack.overrides.lists {
            let Some(list) = lists.get_mut(&key.name) else {
                diagnostics.push(unknown_target(&file, key.pos, "list", &key.name));
                continue;
            };
            match change {
                ListChange::Append(items) => list.items.extend(items.iter().cloned()),
                ListChange::Replace(items) => list.items = items.clone(),
            }
        }
        for (key, cond) in &pack.overrides.macros {
            match macros.get_mut(&key.name) {
                Some(definition) => {
                    *definition = MacroDef {
                        cond: cond.clone(),
                        file: file.clone(),
                    }
                }
                None => diagnostics.push(unknown_target(&file, key.pos, "macro", &key.name)),
            }
        }
        for (key, change) in &pack.overrides.rules {
            let Some(&index) = rule_index.get(&key.name) else {
                diagnostics.push(unknown_target(&file, key.pos, "rule", &key.name));
                continue;
            };
            let rule = &mut rules[index].ast;
            if let Some(enabled) = change.enabled {
                rule.enabled = enabled;
            }
            if let Some(severity) = change.severity {
                rule.severity = severity;
            }
            if let Some(action) = change.action {
                rule.action = action;
            }
            if let Some(escalate) = change.escalate {
                rule.escalate = escalate;
            }
            if let Some(tags) = &change.tags {
                rule.tags = tags.clone();
            }
            if let Some(mitre) = &change.mitre {
                rule.mitre = mitre.clone();
            }
            if let Some(name) = &change.name {
                rule.name = name.clone();
            }
            if let Some(description) = &change.description {
                rule.description = description.clone();
            }
            // Exceptions added by an override are compiled with the override's file for errors.
            rule.except.extend(change.except.iter().cloned());
        }
    }

    let mut compiler = Compiler::new(&lists, &macros);
    compiler.check_macros();
    let mut set = RuleSet {
        files: packs.iter().map(|pack| pack.file.clone()).collect(),
        ..RuleSet::default()
    };
    let definitions = Definitions {
        lists: &lists,
        macros: &macros,
    };
    for entry in &rules {
        let Some(mut compiled) = compile_rule(&mut compiler, entry) else {
            continue;
        };
        if kernel_form::enforces(entry.ast.action) {
            compiled.enforcement = match kernel_form::extract(&entry.ast, &definitions) {
                Ok(form) => Some(RuleEnforcement::Kernel(Arc::new(form))),
                Err(problem) if entry.ast.action == RuleAction::Deny => {
                    compiler.diagnostics.push(Diagnostic::new(
                        &entry.file,
                        problem.pos,
                        format!(
                            "rule `{}` has `action: deny`, which the kernel carries out, but {}",
                            entry.ast.id, problem.message
                        ),
                        problem.advice,
                    ));
                    continue;
                }
                Err(problem) => Some(RuleEnforcement::Sensor {
                    reason: problem.message,
                }),
            };
        }
        if entry.ast.broken {
            continue;
        }
        if compiled.actions.is_empty() {
            compiler.diagnostics.push(Diagnostic::new(
                &entry.file,
                entry.ast.pos,
                format!("rule `{}` can never match: no event action has all the fields it requires", entry.ast.id),
                "check `event.action` against the fields used (file.* exist on open, unlink and rmdir; destination.* on connect)",
            ));
            continue;
        }
        if !entry.ast.enabled {
            set.disabled += 1;
            continue;
        }
        set.rules.push(compiled);
    }
    set.macro_slots = compiler.macro_slots;
    set.index();
    diagnostics.extend(compiler.diagnostics);
    if diagnostics.is_empty() {
        Ok(set)
    } else {
        diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Err(Diagnostics(diagnostics))
    }
}

fn unknown_target(file: &str, pos: Pos, what: &str, name: &str) -> Diagnostic {
    Diagnostic::new(
        file,
        pos,
        format!("override of unknown {what} `{name}`"),
        format!("overrides change a {what} an earlier pack (or this one) defines; check the name and the load order"),
    )
}

fn compile_rule(compiler: &mut Compiler, entry: &RuleEntry) -> Option<CompiledRule> {
    let rule = &entry.ast;
    let file = &entry.file;
    let except: Vec<Option<Cond>> = rule.except.iter().map(|cond| compiler.compile(cond, file)).collect();
    let when = rule.when.as_ref().map(|cond| compiler.compile(cond, file));
    let (kind, actions) = if let Some(sequence) = &rule.sequence {
        let mut steps = Vec::new();
        let mut actions = ActionSet::NONE;
        for step in &sequence.steps {
            let when = compiler.compile(&step.when, file)?;
            actions = actions.union(when.actions());
            steps.push(super::compile::Step {
                when,
                keys: step.keys.clone(),
            });
        }
        let kind = RuleKind::Sequence {
            steps,
            within_ns: sequence.within.as_nanos() as u64,
            per: sequence.per,
        };
        (kind, actions)
    } else {
        let when = when??;
        let actions = when.actions();
        match &rule.threshold {
            Some(threshold) => (
                RuleKind::Threshold {
                    when,
                    count: threshold.count,
                    distinct: threshold.distinct,
                    within_ns: threshold.within.as_nanos() as u64,
                    per: threshold.per,
                },
                actions,
            ),
            None => (RuleKind::Single { when }, actions),
        }
    };
    let except: Vec<Cond> = except.into_iter().collect::<Option<_>>()?;
    Some(CompiledRule {
        meta: Arc::new(RuleMeta {
            id: Arc::from(rule.id.as_str()),
            name: Arc::from(rule.name.as_str()),
            description: Arc::from(rule.description.trim()),
            ruleset: entry.ruleset.clone(),
            severity: rule.severity,
            action: rule.action,
            tags: rule.tags.iter().map(|tag| Arc::from(tag.as_str())).collect(),
            mitre: rule.mitre.iter().map(|id| Arc::from(id.as_str())).collect(),
            escalate: rule.escalate,
        }),
        kind,
        except,
        actions,
        enforcement: None,
    })
}
