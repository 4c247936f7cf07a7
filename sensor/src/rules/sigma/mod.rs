//! Sigma rules, natively (docs/sigma.md): a translator from Sigma documents into the rule packs
//! the YAML pack parser produces (`PackAst`), which the engine then compiles like any pack.
//!
//! Flow: `document` splits a file into documents and reads each → `pipeline` says which events
//! a log source is and what a Sigma field is called here → `detection` (with `expr` for the
//! condition and `values` for modifiers) builds the condition → `correlation` turns correlation
//! rules into thresholds and sequences. A rule that cannot be translated (or compiled) is left out
//! and reported with the reason; nothing in a Sigma file stops the other rules from loading.

mod correlation;
mod detection;
mod document;
mod expr;
pub mod pipeline;
mod values;

#[cfg(test)]
mod tests;

use std::{collections::HashMap, sync::Arc};

pub use document::{Shape, shape};

use self::{
    correlation::{Base, Correlated},
    document::{Body, Document},
    pipeline::Pipeline,
};
use super::{
    compile::compile,
    diagnostics::Diagnostic,
    pack::{Overrides, PackAst, RuleAst},
    rule::{RuleAction, Severity},
    yaml_tree::Pos,
};
// The engine's condition syntax, which the translator produces.
pub(crate) use super::condition::{CondAst, Item, Op, OpAst, Scalar, TestAst};
pub(crate) use super::fields::Field;

/// `rule.ruleset` of Sigma rules.
pub const RULESET: &str = "sigma";

/// Why a rule cannot be loaded, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub pos: Pos,
    pub message: String,
    pub advice: String,
}

impl Unsupported {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
            advice: String::new(),
        }
    }

    pub fn advice(mut self, advice: impl Into<String>) -> Self {
        self.advice = advice.into();
        self
    }
}

/// A Sigma file to translate: its place among the sources, its name and text.
pub struct Source<'a> {
    pub index: usize,
    pub origin: &'a str,
    pub text: &'a str,
}

/// What the Sigma files became.
#[derive(Debug, Default)]
pub struct Translation {
    /// One pack per Sigma file that had a loadable rule, with the file's source index.
    pub packs: Vec<(usize, PackAst)>,
    /// The rules left out, each with its reason.
    pub skipped: Vec<Diagnostic>,
    /// Problems of the pipeline files (these stop loading, like a broken pack).
    pub errors: Vec<Diagnostic>,
}

impl Translation {
    /// How many Sigma rules were translated.
    pub fn loaded(&self) -> usize {
        self.packs.iter().map(|(_, pack)| pack.rules.len()).sum()
    }
}

struct Translated {
    rule: RuleAst,
    file: Arc<str>,
    source: usize,
}

/// Translates Sigma files with the built-in pipeline extended by `pipelines` (origin, text).
pub fn translate(sources: &[Source], pipelines: &[(&str, &str)]) -> Translation {
    let mut out = Translation::default();
    let mut pipeline = match Pipeline::built_in() {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            out.errors = errors;
            return out;
        }
    };
    for (origin, text) in pipelines {
        if let Err(errors) = pipeline.add(origin, text) {
            out.errors.extend(errors);
        }
    }
    let mut documents: Vec<(usize, Arc<str>, Document)> = Vec::new();
    for source in sources {
        let file: Arc<str> = Arc::from(source.origin);
        for text in document::split(source.text) {
            match document::read(source.origin, &text) {
                Ok(doc) => documents.push((source.index, file.clone(), doc)),
                Err(problem) => out.skipped.push(skip(&file, problem)),
            }
        }
    }
    let mut rules: Vec<Translated> = Vec::new();
    let mut bases: HashMap<String, (Base, usize)> = HashMap::new();
    for (source, file, doc) in &documents {
        let Body::Detection {
            logsource,
            logsource_pos,
            detection,
        } = &doc.body
        else {
            continue;
        };
        let translated = status(doc).and_then(|()| {
            let events = pipeline.log_source(logsource).ok_or_else(|| {
                Unsupported::new(
                    *logsource_pos,
                    format!("log source `{}` is not produced by this sensor", logsource.describe()),
                )
                .advice("the sensor produces product: linux with category process_creation, file_event, file_delete, network_connection")
            })?;
            let matched = detection::translate(detection, logsource, &pipeline)?;
            Ok(CondAst::All(vec![events, matched]))
        });
        let when = match translated.and_then(|when| rule_ast(doc, rules.len(), file).map(|rule| (when, rule))) {
            Ok((when, mut rule)) => {
                rule.when = Some(when.clone());
                let base = Base {
                    when,
                    source: logsource.clone(),
                };
                for key in doc.id.iter().chain(doc.name.iter()) {
                    bases.insert(key.clone(), (base.clone(), rules.len()));
                }
                rule
            }
            Err(problem) => {
                out.skipped.push(skip(file, problem));
                continue;
            }
        };
        rules.push(Translated {
            rule: when,
            file: file.clone(),
            source: *source,
        });
    }
    // A rule a correlation refers to alerts on its own only when one of them says `generate: true`.
    let mut quiet = Vec::new();
    let mut loud = Vec::new();
    for (source, file, doc) in &documents {
        let Body::Correlation(node) = &doc.body else {
            continue;
        };
        match correlated(doc, node, &bases, &pipeline, rules.len(), file) {
            Ok((rule, referenced, generate)) => {
                if generate {
                    loud.extend(referenced);
                } else {
                    quiet.extend(referenced);
                }
                rules.push(Translated {
                    rule,
                    file: file.clone(),
                    source: *source,
                });
            }
            Err(problem) => out.skipped.push(skip(file, problem)),
        }
    }
    for index in quiet {
        if !loud.contains(&index) {
            rules[index].rule.enabled = false;
        }
    }
    collect(rules, &mut out);
    out
}

fn skip(file: &str, problem: Unsupported) -> Diagnostic {
    let advice = if problem.advice.is_empty() {
        "the rule is not loaded".to_string()
    } else {
        format!("the rule is not loaded; {}", problem.advice)
    };
    Diagnostic::new(file, problem.pos, problem.message, advice)
}

fn status(doc: &Document) -> Result<(), Unsupported> {
    match doc.status.as_deref() {
        Some(status @ ("deprecated" | "unsupported")) => {
            Err(Unsupported::new(doc.pos, format!("the rule's status is `{status}`")))
        }
        _ => Ok(()),
    }
}

/// A correlation rule, the indexes of the rules it refers to, and whether they alert on their own.
fn correlated(
    doc: &Document,
    node: &super::yaml_tree::Node,
    bases: &HashMap<String, (Base, usize)>,
    pipeline: &Pipeline,
    index: usize,
    file: &str,
) -> Result<(RuleAst, Vec<usize>, bool), Unsupported> {
    status(doc)?;
    let c = correlation::read(node)?;
    let mut found = Vec::new();
    let mut referenced = Vec::new();
    for (name, pos) in &c.rules {
        let Some((base, index)) = bases.get(name) else {
            return Err(Unsupported::new(
                *pos,
                format!("the correlation refers to `{name}`, which is no loaded Sigma rule's id or name"),
            ));
        };
        found.push(base.clone());
        referenced.push(*index);
    }
    let mut rule = rule_ast(doc, index, file)?;
    match correlation::translate(&c, &found, pipeline)? {
        Correlated::Threshold { when, threshold } => {
            rule.when = Some(when);
            rule.threshold = Some(threshold);
        }
        Correlated::Sequence(sequence) => rule.sequence = Some(sequence),
    }
    Ok((rule, referenced, c.generate))
}

/// The rule's identity and metadata (its conditions are set by the caller).
fn rule_ast(doc: &Document, index: usize, file: &str) -> Result<RuleAst, Unsupported> {
    let severity = match &doc.level {
        None => Severity::Medium,
        Some((level, pos)) => match level.as_str() {
            "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => return Err(Unsupported::new(*pos, format!("unknown level `{other}`"))),
        },
    };
    let id = doc.id.clone().unwrap_or_else(|| {
        let stem = std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        format!("sigma-{stem}-{index}")
    });
    let mut description = doc.description.trim().to_string();
    if !doc.falsepositives.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str("False positives: ");
        description.push_str(&doc.falsepositives.join("; "));
    }
    let mut mitre: Vec<String> = doc.tags.iter().filter_map(|tag| document::technique(tag)).collect();
    mitre.dedup();
    Ok(RuleAst {
        id,
        pos: doc.pos,
        name: doc.title.clone(),
        description,
        severity,
        tags: doc.tags.clone(),
        mitre,
        enabled: true,
        action: RuleAction::Alert,
        when: None,
        except: Vec::new(),
        threshold: None,
        sequence: None,
        escalate: None,
        broken: false,
    })
}

/// Checks ids and that each rule compiles on its own, then groups the rules into packs.
fn collect(rules: Vec<Translated>, out: &mut Translation) {
    let mut seen: HashMap<String, Arc<str>> = HashMap::new();
    let mut packs: Vec<(usize, PackAst)> = Vec::new();
    for Translated { rule, file, source } in rules {
        if let Some(first) = seen.get(&rule.id) {
            out.skipped.push(Diagnostic::new(
                &file,
                rule.pos,
                format!("rule id `{}` is already used in {first}", rule.id),
                "the rule is not loaded; Sigma ids are unique",
            ));
            continue;
        }
        let pack = |rules: Vec<RuleAst>| PackAst {
            file: file.clone(),
            ruleset: RULESET.to_string(),
            lists: Vec::new(),
            macros: Vec::new(),
            rules,
            overrides: Overrides::default(),
        };
        if let Err(problems) = compile(&[pack(vec![rule.clone()])]) {
            for problem in problems.0 {
                out.skipped.push(Diagnostic {
                    advice: "the rule is not loaded".into(),
                    ..problem
                });
            }
            continue;
        }
        seen.insert(rule.id.clone(), file.clone());
        match packs.iter_mut().find(|(index, _)| *index == source) {
            Some((_, existing)) => existing.rules.push(rule),
            None => packs.push((source, pack(vec![rule]))),
        }
    }
    out.packs = packs;
}
