//! Runs events through a rule set: single-event rules, thresholds and sequences, with the
//! session memory the derived fields need.

use std::{collections::HashMap, sync::Arc};

use super::{
    alert::Alert,
    compile::{RuleKind, RuleSet},
    eval::{EvalEvent, Value},
    fields::Field,
    rule::GroupBy,
    scratch::Scratch,
    state::{SequenceState, SessionWrites, StepHit, ThresholdState, hash_str},
};
use crate::event::{Action, Detail, Event, Outcome, open_flags};

pub struct Engine {
    rules: Arc<RuleSet>,
    /// Rules (by index) the kernel judges in this run, which the engine leaves alone.
    skipped: Vec<bool>,
    thresholds: HashMap<usize, ThresholdState>,
    sequences: HashMap<usize, SequenceState>,
    writes: SessionWrites,
    alerts: u64,
    /// Working memory reused from one event to the next.
    scratch: Scratch,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>) -> Self {
        Self {
            skipped: Vec::new(),
            thresholds: HashMap::new(),
            sequences: HashMap::new(),
            writes: SessionWrites::default(),
            alerts: 0,
            scratch: Scratch::default(),
            rules,
        }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Leaves the rules whose index is `true` in `skipped` to someone else (the kernel judges
    /// them live; replaying a recording evaluates every rule).
    pub fn skip_rules(&mut self, skipped: Vec<bool>) {
        self.skipped = skipped;
    }

    /// Replaces the rules (on reload); the state of stateful rules starts afresh, and no rule is
    /// skipped until `skip_rules` says so again.
    pub fn replace_rules(&mut self, rules: Arc<RuleSet>) {
        self.skipped.clear();
        self.rules = rules;
        self.scratch.per_process.get_mut().clear();
        self.thresholds.clear();
        self.sequences.clear();
    }

    /// Alerts raised so far.
    pub fn alert_count(&self) -> u64 {
        self.alerts
    }

    /// Evaluates one event; alerts go to `out`.
    pub fn process(&mut self, event: &Event, out: &mut Vec<Alert>) {
        let session = event.session.as_ref().map_or(0, |session| session.id);
        let written = written_by_session(&mut self.writes, session, event);
        let rules = self.rules.clone();
        let action_index = rules.action_index(event.action);
        self.scratch.start(event, action_index.words, rules.macro_slots);
        let view = EvalEvent::new(event, written, &self.scratch, Some(action_index));
        for specialized in rules.for_action(event.action) {
            let index = specialized.rule;
            // A call whose argument the kernel could not read was not judged there.
            if self.skipped.get(index).copied().unwrap_or(false) && !event.unjudged_by_kernel() {
                continue;
            }
            if let Some(trigger) = &specialized.trigger
                && !trigger.holds(&view)
            {
                continue;
            }
            let rule = &rules.rules[index];
            let excepted = |view: &EvalEvent| specialized.except.iter().any(|except| except.eval(view));
            let ids = match &rule.kind {
                RuleKind::Single { .. } => (specialized.when.eval(&view) && !excepted(&view)).then(|| vec![event.id()]),
                RuleKind::Threshold {
                    count,
                    distinct,
                    within_ns,
                    per,
                    ..
                } => {
                    if !specialized.when.eval(&view) || excepted(&view) {
                        continue;
                    }
                    let value = match distinct {
                        Some(field) => match text_values(&view, *field).into_iter().next() {
                            Some(value) => Some(value),
                            None => continue,
                        },
                        None => None,
                    };
                    self.thresholds.entry(index).or_default().record(
                        group(event, *per),
                        event.timestamp_ns,
                        event.id(),
                        value,
                        *count,
                        *within_ns,
                    )
                }
                RuleKind::Sequence { steps, within_ns, per } => {
                    let mut fired = None;
                    // Last step first, so one event never advances two steps at once.
                    for (step_index, step) in steps.iter().enumerate().rev() {
                        let Some(step_when) = &specialized.steps[step_index] else {
                            continue;
                        };
                        if !step_when.eval(&view) || excepted(&view) {
                            continue;
                        }
                        let group = group(event, *per);
                        // A later step matters only when a partial match waits for it.
                        if step_index > 0
                            && !self
                                .sequences
                                .get(&index)
                                .is_some_and(|state| state.is_waiting(group, step_index))
                        {
                            continue;
                        }
                        let keys = join_values(&view, &step.keys);
                        if keys.is_empty() {
                            continue;
                        }
                        let state = self
                            .sequences
                            .entry(index)
                            .or_insert_with(|| SequenceState::new(steps.len(), *within_ns));
                        let id = event.id();
                        let hit = StepHit {
                            at_ns: event.timestamp_ns,
                            id: &id,
                            keys: &keys,
                        };
                        if step_index == 0 {
                            state.start(group, &hit);
                        } else if let Some(ids) = state.advance(group, step_index, &hit) {
                            fired = Some(ids);
                        }
                    }
                    fired
                }
            };
            if let Some(ids) = ids {
                self.alerts += 1;
                out.push(Alert {
                    number: self.alerts,
                    rule: rule.meta.clone(),
                    event: event.clone(),
                    contributing: ids,
                    response: None,
                });
            }
        }
        remember_write(&mut self.writes, session, event);
    }
}

/// The group a stateful rule counts this event in.
fn group(event: &Event, per: GroupBy) -> u64 {
    match per {
        GroupBy::Session => event.session.as_ref().map_or(0, |session| session.id),
        GroupBy::Process => event.process.pid as u64,
        GroupBy::Executable => hash_str(&event.process.executable),
    }
}

/// The string values of `field` (every element of a list field).
fn text_values(view: &EvalEvent, field: Field) -> Vec<String> {
    match view.get(field) {
        Some(Value::Text(text)) => vec![text.to_string()],
        Some(Value::List(items)) => items.to_vec(),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Ip(ip)) => vec![ip.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Flags(flags)) => vec![flags.to_string()],
        None => Vec::new(),
    }
}

/// The values a sequence step joins on; one empty value when the step has no key.
fn join_values(view: &EvalEvent, keys: &[Field]) -> Vec<String> {
    if keys.is_empty() {
        return vec![String::new()];
    }
    keys.iter().flat_map(|&field| text_values(view, field)).collect()
}

/// `agent_sensor.file.written_by_session`: the file (for an exec, the program or the script an
/// interpreter runs) was written by the session. For execs the kernel also says so by inode
/// (which follows renames, links and memfds the path cannot).
fn written_by_session(writes: &mut SessionWrites, session: u64, event: &Event) -> bool {
    match (&event.detail, event.action) {
        (Detail::File(file), _) => writes.contains(session, &file.path),
        (
            Detail::Exec {
                filename,
                script,
                exec_flags,
                ..
            },
            Action::Exec,
        ) => {
            exec_flags & sensor_common::event::EXEC_WRITTEN_BY_SESSION != 0
                || writes.contains(session, filename)
                || script.as_deref().is_some_and(|script| writes.contains(session, script))
        }
        _ => false,
    }
}

/// A successful open for writing, a directory made and a symbolic link made add their path to
/// the session's writes (so removing a tree the session copied is not deleting files it did not
/// create); a rename or link of a written file carries it to its new name.
fn remember_write(writes: &mut SessionWrites, session: u64, event: &Event) {
    if event.outcome == Outcome::Failure {
        return;
    }
    let Some(file) = event.file() else {
        return;
    };
    match event.action {
        Action::Open if event.outcome == Outcome::Success && open_flags::is_write(file.flags) => {
            writes.insert(session, &file.path);
        }
        Action::Mkdir | Action::Symlink if event.outcome == Outcome::Success => {
            writes.insert(session, &file.path);
        }
        Action::Rename | Action::Link => {
            if let crate::event::FileChange::From { original } = &file.change
                && writes.contains(session, original)
            {
                writes.insert(session, &file.path);
            }
        }
        _ => {}
    }
}
