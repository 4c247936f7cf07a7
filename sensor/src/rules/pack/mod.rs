//! Reading one pack file into its syntax tree, reporting every problem with its position.

mod reader;
mod rule;
mod sections;

use std::{sync::Arc, time::Duration};

use self::reader::Reader;
use super::{
    condition::{CondAst, Item},
    diagnostics::{Diagnostic, Reporter},
    fields::Field,
    rule::{Escalation, GroupBy, RuleAction, Severity},
    yaml_tree::{self, Key, Node, Pos},
};

#[derive(Clone, Debug)]
pub struct ThresholdAst {
    pub count: u32,
    pub distinct: Option<Field>,
    pub within: Duration,
    pub per: GroupBy,
}

#[derive(Clone, Debug)]
pub struct StepAst {
    pub when: CondAst,
    pub keys: Vec<Field>,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct SequenceAst {
    pub within: Duration,
    pub per: GroupBy,
    pub steps: Vec<StepAst>,
}

#[derive(Clone, Debug)]
pub struct RuleAst {
    pub id: String,
    pub pos: Pos,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub mitre: Vec<String>,
    pub enabled: bool,
    pub action: RuleAction,
    pub when: Option<CondAst>,
    pub except: Vec<CondAst>,
    pub threshold: Option<ThresholdAst>,
    pub sequence: Option<SequenceAst>,
    /// `escalate:`, for enforcing rules.
    pub escalate: Option<Escalation>,
    /// Some of the rule's keys were wrong: its conditions are still checked (so every problem
    /// is reported), but it is never used.
    pub broken: bool,
}

#[derive(Clone, Debug)]
pub enum ListChange {
    Append(Vec<Item>),
    Replace(Vec<Item>),
}

#[derive(Clone, Debug, Default)]
pub struct RuleChange {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub action: Option<RuleAction>,
    pub tags: Option<Vec<String>>,
    pub mitre: Option<Vec<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub except: Vec<CondAst>,
    /// `escalate:` (`Some(None)`: `escalate: false` turns it off).
    pub escalate: Option<Option<Escalation>>,
}

#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub lists: Vec<(Key, ListChange)>,
    pub macros: Vec<(Key, CondAst)>,
    pub rules: Vec<(Key, RuleChange)>,
}

#[derive(Clone, Debug)]
pub struct PackAst {
    pub file: Arc<str>,
    pub ruleset: String,
    pub lists: Vec<(Key, Vec<Item>)>,
    pub macros: Vec<(Key, CondAst)>,
    pub rules: Vec<RuleAst>,
    pub overrides: Overrides,
}

/// Parses one pack. Returns what could be read and every problem found.
pub fn parse_pack(file: &str, text: &str) -> (Option<PackAst>, Vec<Diagnostic>) {
    let mut reporter = Reporter::new(file);
    let root = match yaml_tree::parse(text, file) {
        Ok(root) => root,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let default_ruleset = std::path::Path::new(file)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rules".into());
    let mut reader = Reader { r: &mut reporter };
    let pack = reader.pack(&root, default_ruleset);
    (pack, reporter.found)
}
/// `500ms`, `10s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::{
        reader::{valid_id, valid_technique},
        *,
    };

    #[test]
    fn durations_and_ids() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("ten seconds"), None);
        assert!(valid_technique("T1552") && valid_technique("T1552.004"));
        assert!(!valid_technique("T155") && !valid_technique("1552") && !valid_technique("T1552.4"));
        assert!(valid_id("credential-file-read") && !valid_id("Credential") && !valid_id("-x"));
    }
}
