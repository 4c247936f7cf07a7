//! The index, the triggers and the engine's working memory never change an answer: for every
//! rule and sequence step of the default pack, on random events built from the pack's own values
//! and patterns, the specialised, lowered and triggered conditions agree with plain evaluation of
//! the compiled ones.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::{
    event::{
        Event,
        from_json::{event_from_json, nest_dotted},
    },
    rules::{
        compile::{RuleKind, RuleSet},
        condition::{Cond, Matcher},
        eval::EvalEvent,
        globs::expand_braces,
        loader,
        matchers::TextOp,
        scratch::Scratch,
    },
};

static RULES: LazyLock<RuleSet> = LazyLock::new(|| loader::load(&[]).expect("the default pack compiles"));

const HOME: &str = "/home/alice";

/// Strings of the pack: values, prefixes, suffixes, needles, values made from glob patterns,
/// and the literals of regular expressions.
static VALUES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut values = vec![
        String::new(),
        "/".into(),
        HOME.into(),
        "/home/alice/project/src/main.rs".into(),
        "/usr/bin/bash".into(),
        "-rf".into(),
    ];
    let mut conds: Vec<&Cond> = Vec::new();
    for rule in &RULES.rules {
        match &rule.kind {
            RuleKind::Single { when } | RuleKind::Threshold { when, .. } => conds.push(when),
            RuleKind::Sequence { steps, .. } => conds.extend(steps.iter().map(|step| &step.when)),
        }
        conds.extend(&rule.except);
    }
    for cond in conds {
        collect(cond, &mut values);
    }
    values.sort();
    values.dedup();
    values
});

fn collect(cond: &Cond, out: &mut Vec<String>) {
    match cond {
        Cond::All(parts) | Cond::Any(parts) => parts.iter().for_each(|part| collect(part, out)),
        Cond::Not(inner) => collect(inner, out),
        Cond::Macro { cond, .. } => collect(cond, out),
        Cond::Test(test) => {
            for matcher in &test.matchers {
                let Matcher::Text(text) = matcher else { continue };
                for op in &text.ops {
                    let (absolute, home): (Vec<String>, Vec<String>) = match op {
                        TextOp::Equal(split) => (strings(split.absolute.values()), strings(split.home.values())),
                        TextOp::Prefix(split) => (around(&split.absolute, "", "/x"), around(&split.home, "", "/x")),
                        TextOp::Suffix(values) => (around(values, "/usr/local/bin/a", ""), Vec::new()),
                        TextOp::Contains(values) => (around(values, "/a", "b/c"), Vec::new()),
                        TextOp::Glob(split) => (samples(split.absolute.patterns()), samples(split.home.patterns())),
                        // The literals the index tests before running the expressions.
                        TextOp::Regex(set) => (around(set.literals().unwrap_or_default(), "x ", " y"), Vec::new()),
                    };
                    out.extend(absolute);
                    out.extend(home.iter().map(|rest| format!("{HOME}{rest}")));
                    out.extend(home.iter().map(|rest| format!("/root{rest}")));
                }
            }
        }
        Cond::Const(_) | Cond::Bit { .. } => {}
    }
}

/// Each value, and each value with `before` and `after` around it.
fn around(values: &[String], before: &str, after: &str) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| [value.clone(), format!("{before}{value}{after}")])
        .collect()
}

fn strings(values: Vec<&str>) -> Vec<String> {
    values.into_iter().map(String::from).collect()
}

/// Values a pattern matches, and near misses.
fn samples(patterns: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for pattern in patterns {
        for alternative in expand_braces(pattern, 64).unwrap_or_default() {
            let mut value = String::new();
            let mut chars = alternative.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => {
                        chars.next();
                        value.push_str("d/e");
                    }
                    '*' => value.push('x'),
                    '?' => value.push('q'),
                    '[' => {
                        let first = chars.next().unwrap_or('0');
                        value.push(if first == '!' { 'z' } else { first });
                        for c in chars.by_ref() {
                            if c == ']' {
                                break;
                            }
                        }
                    }
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            out.push(value.replace("/d/e/", "/"));
            out.push(format!("{value}/more"));
            out.push(value);
        }
    }
    out
}

fn pick(values: &[String], index: usize) -> String {
    values[index % values.len()].clone()
}

const ACTIONS: [&str; 7] = ["open", "exec", "unlink", "rmdir", "connect", "fork", "exit"];

fn event(choice: &Choice) -> Event {
    let values = &*VALUES;
    let action = ACTIONS[choice.action % ACTIONS.len()];
    let executable = pick(values, choice.executable);
    let executable = if executable.starts_with('/') {
        executable
    } else {
        format!("/usr/bin/{executable}")
    };
    let args: Vec<String> = choice.args.iter().map(|&index| pick(values, index)).collect();
    let mut flat = Map::new();
    let mut set = |key: &str, value: Value| {
        flat.insert(key.to_string(), value);
    };
    set("event.action", json!(action));
    set(
        "event.outcome",
        json!(if choice.failed { "failure" } else { "success" }),
    );
    set("agent_sensor.user.home", json!(HOME));
    set("agent_sensor.session.working_directory", json!("/home/alice/project"));
    set("process.working_directory", json!("/home/alice/project"));
    set("user.id", json!("1000"));
    set("gen_ai.agent.id", json!("00000000000000ab"));
    set("gen_ai.agent.name", json!("claude-code"));
    set("process.executable", json!(executable));
    set("process.args", json!(args));
    set("process.command_line", json!(args.join(" ")));
    set("process.parent.executable", json!(pick(values, choice.parent)));
    set("agent_sensor.process.trusted", json!(choice.trusted));
    match action {
        "open" | "unlink" | "rmdir" => {
            set("file.path", json!(pick(values, choice.path)));
            let flags = if choice.write {
                vec!["O_WRONLY", "O_CREAT", "O_TRUNC"]
            } else {
                vec!["O_RDONLY"]
            };
            set("agent_sensor.open.flags", json!(flags));
        }
        "exec" => set("agent_sensor.exec.filename", json!(pick(values, choice.path))),
        "connect" => {
            set(
                "destination.ip",
                json!(["8.8.8.8", "127.0.0.1", "10.1.2.3", "::1"][choice.path % 4]),
            );
            set("destination.port", json!([443, 4444, 53, 22][choice.parent % 4]));
        }
        _ => {}
    }
    event_from_json(&nest_dotted(&flat)).expect("test event")
}

#[derive(Debug, Clone)]
struct Choice {
    action: usize,
    executable: usize,
    path: usize,
    parent: usize,
    args: Vec<usize>,
    failed: bool,
    write: bool,
    trusted: bool,
    written: bool,
}

fn choice() -> impl Strategy<Value = Choice> {
    (
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        proptest::collection::vec(any::<usize>(), 0..5),
        any::<[bool; 4]>(),
    )
        .prop_map(
            |(action, executable, path, parent, args, [failed, write, trusted, written])| Choice {
                action,
                executable,
                path,
                parent,
                args,
                failed,
                write,
                trusted,
                written,
            },
        )
}

/// Working memory for plain evaluation of `event`: no index bits, no macro memo.
fn plain_scratch(event: &Event) -> Scratch {
    let mut scratch = Scratch::default();
    scratch.start(event, 0, 0);
    scratch
}

/// For every rule of the event's action (and every other rule: never), whether its condition
/// (or each sequence step) holds, the engine's way and the plain way.
fn check(event: &Event, written: bool) -> Result<(), TestCaseError> {
    let rules = &*RULES;
    let mut scratch = Scratch::default();
    let index = rules.action_index(event.action);
    scratch.start(event, index.words, rules.macro_slots);
    let fast = EvalEvent::new(event, written, &scratch, Some(index));
    let plain_scratch = plain_scratch(event);
    let plain = EvalEvent::new(event, written, &plain_scratch, None);
    let specialised = rules.for_action(event.action);
    for (number, rule) in rules.rules.iter().enumerate() {
        let except = rule.except.iter().any(|except| except.eval(&plain));
        let expected: Vec<bool> = match &rule.kind {
            RuleKind::Single { when } | RuleKind::Threshold { when, .. } => vec![when.eval(&plain) && !except],
            RuleKind::Sequence { steps, .. } => steps.iter().map(|step| step.when.eval(&plain) && !except).collect(),
        };
        let actual: Vec<bool> = match specialised.iter().find(|specialised| specialised.rule == number) {
            None => vec![false; expected.len()],
            Some(specialised) => {
                let triggered = specialised.trigger.as_ref().is_none_or(|trigger| trigger.holds(&fast));
                let excepted = specialised.except.iter().any(|except| except.eval(&fast));
                if specialised.steps.is_empty() {
                    vec![triggered && specialised.when.eval(&fast) && !excepted]
                } else {
                    specialised
                        .steps
                        .iter()
                        .map(|step| triggered && step.as_ref().is_some_and(|step| step.eval(&fast)) && !excepted)
                        .collect()
                }
            }
        };
        prop_assert_eq!(&actual, &expected, "rule {} on {:?}", rule.meta.id, event);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn the_engine_answers_as_plain_evaluation(choice in choice()) {
        let event = event(&choice);
        check(&event, choice.written)?;
    }
}

#[test]
fn every_rule_is_reached_by_the_generated_events() {
    // The generator is not vacuous: over a fixed sweep, most rules hold at least once.
    let mut held = vec![false; RULES.rules.len()];
    for seed in 0..20_000usize {
        let choice = Choice {
            action: seed,
            executable: seed.wrapping_mul(7919),
            path: seed.wrapping_mul(104_729),
            parent: seed / 7,
            args: vec![seed.wrapping_mul(31), seed.wrapping_mul(17) + 3],
            failed: seed % 11 == 0,
            write: seed % 3 == 0,
            trusted: seed % 5 == 0,
            written: seed % 2 == 0,
        };
        let event = event(&choice);
        let plain_scratch = plain_scratch(&event);
        let plain = EvalEvent::new(&event, choice.written, &plain_scratch, None);
        for (number, rule) in RULES.rules.iter().enumerate() {
            let hit = match &rule.kind {
                RuleKind::Single { when } | RuleKind::Threshold { when, .. } => when.eval(&plain),
                RuleKind::Sequence { steps, .. } => steps.iter().any(|step| step.when.eval(&plain)),
            };
            held[number] |= hit;
        }
    }
    let count = held.iter().filter(|&&held| held).count();
    assert!(count * 2 >= RULES.rules.len(), "{count} of {} rules", RULES.rules.len());
}
