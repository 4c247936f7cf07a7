//! Reading one pack file into its syntax tree, reporting every problem with its position.

use std::{sync::Arc, time::Duration};

use super::{
    condition::{CondAst, Item, parse_condition},
    diagnostics::{Diagnostic, Reporter},
    fields::{Field, edit_distance},
    rule::{EscalateTo, Escalation, GroupBy, RuleAction, Severity},
    yaml_tree::{self, Key, Node, Pos, Value},
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

struct Reader<'r> {
    r: &'r mut Reporter,
}

/// The keys of one mapping, checked against the keys it may have.
struct MapFields<'n> {
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    allowed: &'static [&'static str],
    what: &'static str,
}

impl<'n> MapFields<'n> {
    fn take(&mut self, name: &str) -> Option<&'n Node> {
        let index = self.entries.iter().position(|(key, _)| key.name == name)?;
        self.used[index] = true;
        Some(&self.entries[index].1)
    }

    fn finish(self, r: &mut Reporter) {
        for (index, (key, _)) in self.entries.iter().enumerate() {
            if !self.used[index] {
                let suggestion = self
                    .allowed
                    .iter()
                    .filter(|allowed| edit_distance(allowed, &key.name) <= 3)
                    .min_by_key(|allowed| edit_distance(allowed, &key.name));
                let advice = match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("{} may have {}", self.what, list(self.allowed)),
                };
                r.error(key.pos, format!("unknown key `{}` in {}", key.name, self.what), advice);
            }
        }
    }
}

fn list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl Reader<'_> {
    fn map<'n>(
        &mut self,
        node: &'n Node,
        allowed: &'static [&'static str],
        what: &'static str,
    ) -> Option<MapFields<'n>> {
        match node.as_map() {
            Some(entries) => Some(MapFields {
                entries,
                used: vec![false; entries.len()],
                allowed,
                what,
            }),
            None => {
                self.r.error(
                    node.pos,
                    format!("{what} must be a mapping, not {}", node.kind()),
                    format!("{what} has the keys {}", list(allowed)),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => {
                self.r.error(
                    node.pos,
                    format!("{what} must be a non-empty string, not {}", node.kind()),
                    "quote it if in doubt",
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let Some(items) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list, not {}", node.kind()),
                "write `[a, b]` or `- a` lines",
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            out.push(self.string(item, what)?);
        }
        Some(out)
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.r.error(
                    node.pos,
                    format!("{what} must be true or false, not {}", node.kind()),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    fn condition(&mut self, node: &Node) -> Option<CondAst> {
        let mut errors = Vec::new();
        let parsed = parse_condition(node, &mut errors);
        for (pos, message, advice) in errors {
            self.r.error(pos, message, advice);
        }
        parsed
    }

    fn conditions(&mut self, node: &Node, what: &str) -> Option<Vec<CondAst>> {
        let Some(items) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list of conditions, not {}", node.kind()),
                "write `- condition` lines",
            );
            return None;
        };
        let parsed: Vec<Option<CondAst>> = items.iter().map(|item| self.condition(item)).collect();
        parsed.into_iter().collect()
    }

    fn items(&mut self, node: &Node, what: &str) -> Option<Vec<Item>> {
        let Some(values) = node.as_seq() else {
            self.r.error(
                node.pos,
                format!("{what} must be a list of values, not {}", node.kind()),
                "write `[a, b]` or `- a` lines",
            );
            return None;
        };
        let mut items = Vec::new();
        for value in values {
            let item = match &value.value {
                Value::Str(s) => match s.strip_prefix('$') {
                    Some(name) if !name.is_empty() && name != "HOME" && !name.starts_with("HOME/") => {
                        Item::ListRef(name.to_string(), value.pos)
                    }
                    _ => Item::Scalar(super::condition::Scalar::Str(s.clone()), value.pos),
                },
                Value::Int(i) => Item::Scalar(super::condition::Scalar::Int(*i), value.pos),
                Value::Float(f) => Item::Scalar(super::condition::Scalar::Float(*f), value.pos),
                Value::Bool(b) => Item::Scalar(super::condition::Scalar::Bool(*b), value.pos),
                _ => {
                    self.r.error(
                        value.pos,
                        format!("{what}: items must be plain values, not {}", value.kind()),
                        "remove the nesting",
                    );
                    return None;
                }
            };
            items.push(item);
        }
        Some(items)
    }

    fn name_key(&mut self, key: &Key, what: &str) -> bool {
        let valid = !key.name.is_empty()
            && key
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            self.r.error(
                key.pos,
                format!("{what} name `{}` is not valid", key.name),
                "use letters, digits, `_`, `-` and `.`",
            );
        }
        valid
    }

    fn pack(&mut self, root: &Node, default_ruleset: String) -> Option<PackAst> {
        if matches!(root.value, Value::Null) {
            self.r.error(
                root.pos,
                "the pack is empty",
                "a pack has `rules:`, and may have `lists:`, `macros:`, `overrides:`",
            );
            return None;
        }
        let mut fields = self.map(root, &["ruleset", "lists", "macros", "rules", "overrides"], "a pack")?;
        let ruleset = fields
            .take("ruleset")
            .and_then(|node| self.string(node, "`ruleset`"))
            .unwrap_or(default_ruleset);
        let mut pack = PackAst {
            file: self.r.file.clone(),
            ruleset,
            lists: Vec::new(),
            macros: Vec::new(),
            rules: Vec::new(),
            overrides: Overrides::default(),
        };
        if let Some(node) = fields.take("lists") {
            pack.lists = self.named_lists(node);
        }
        if let Some(node) = fields.take("macros") {
            pack.macros = self.named_conditions(node, "macro");
        }
        if let Some(node) = fields.take("rules") {
            match node.as_seq() {
                Some(rules) => pack.rules = rules.iter().filter_map(|rule| self.rule(rule)).collect(),
                None => self.r.error(
                    node.pos,
                    format!("`rules` must be a list, not {}", node.kind()),
                    "write `- id: …` entries",
                ),
            }
        }
        if let Some(node) = fields.take("overrides") {
            pack.overrides = self.overrides(node);
        }
        fields.finish(self.r);
        Some(pack)
    }

    fn named_lists(&mut self, node: &Node) -> Vec<(Key, Vec<Item>)> {
        let Some(entries) = node.as_map() else {
            self.r
                .error(node.pos, "`lists` must map names to lists", "write `name: [a, b]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if self.name_key(key, "list")
                && let Some(items) = self.items(value, &format!("list `{}`", key.name))
            {
                out.push((key.clone(), items));
            }
        }
        out
    }

    fn named_conditions(&mut self, node: &Node, what: &str) -> Vec<(Key, CondAst)> {
        let Some(entries) = node.as_map() else {
            self.r.error(
                node.pos,
                format!("`{what}s` must map names to conditions"),
                "write `name: {field: value}`",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if self.name_key(key, what)
                && let Some(condition) = self.condition(value)
            {
                out.push((key.clone(), condition));
            }
        }
        out
    }

    fn rule(&mut self, node: &Node) -> Option<RuleAst> {
        const KEYS: &[&str] = &[
            "id",
            "name",
            "description",
            "severity",
            "tags",
            "mitre",
            "enabled",
            "action",
            "when",
            "except",
            "threshold",
            "sequence",
            "escalate",
        ];
        let mut fields = self.map(node, KEYS, "a rule")?;
        let mut ok = true;
        let id = match fields.take("id") {
            Some(id_node) => match self.string(id_node, "`id`") {
                Some(id) if valid_id(&id) => Some(id),
                Some(id) => {
                    self.r.error(
                        id_node.pos,
                        format!("rule id `{id}` is not valid"),
                        "use lower-case letters, digits and `-`, e.g. `credential-file-read`",
                    );
                    None
                }
                None => None,
            },
            None => {
                self.r.error(
                    node.pos,
                    "a rule needs an `id`",
                    "give it a stable, unique id such as `credential-file-read`",
                );
                None
            }
        };
        let mut required = |reader: &mut Self, key: &str| -> Option<String> {
            match fields.take(key) {
                Some(value) => reader.string(value, &format!("`{key}`")),
                None => {
                    reader.r.error(
                        node.pos,
                        format!("rule `{}` needs a `{key}`", id.as_deref().unwrap_or("?")),
                        format!("add `{key}:`"),
                    );
                    None
                }
            }
        };
        let name = required(self, "name");
        let description = required(self, "description");
        let severity = match fields.take("severity") {
            Some(value) => match value.as_str().and_then(Severity::parse) {
                Some(severity) => Some(severity),
                None => {
                    self.r.error(
                        value.pos,
                        format!("unknown severity {}", describe(value)),
                        format!("severity is one of {}", list(&Severity::NAMES)),
                    );
                    None
                }
            },
            None => {
                self.r.error(
                    node.pos,
                    format!("rule `{}` needs a `severity`", id.as_deref().unwrap_or("?")),
                    format!("one of {}", list(&Severity::NAMES)),
                );
                None
            }
        };
        let action = match fields.take("action") {
            Some(value) => match value.as_str().and_then(RuleAction::parse) {
                Some(action) => Some(action),
                None => {
                    self.r.error(
                        value.pos,
                        format!("unknown action {}", describe(value)),
                        format!("action is one of {}", list(&RuleAction::NAMES)),
                    );
                    None
                }
            },
            None => Some(RuleAction::Alert),
        };
        let tags = fields
            .take("tags")
            .map(|n| self.strings(n, "`tags`"))
            .unwrap_or(Some(Vec::new()));
        let mitre = match fields.take("mitre") {
            Some(n) => self.mitre(n),
            None => Some(Vec::new()),
        };
        let enabled = fields
            .take("enabled")
            .map(|n| self.boolean(n, "`enabled`"))
            .unwrap_or(Some(true));
        let when = fields.take("when").map(|n| self.condition(n));
        let except = fields
            .take("except")
            .map(|n| self.conditions(n, "`except`"))
            .unwrap_or(Some(Vec::new()));
        let threshold = fields.take("threshold").map(|n| self.threshold(n));
        let sequence = fields.take("sequence").map(|n| self.sequence(n));
        let escalate = fields.take("escalate").map(|n| self.escalate(n));
        fields.finish(self.r);
        if let (Some(Some(Some(_))), Some(RuleAction::Alert)) = (&escalate, &action) {
            self.r.error(
                node.pos,
                "`escalate` follows an enforcing action; this rule only alerts",
                "give the rule `action: deny` (or kill, kill-tree), or drop `escalate`",
            );
            ok = false;
        }

        match (&when, &sequence, &threshold) {
            (None, None, _) => {
                self.r.error(
                    node.pos,
                    format!("rule `{}` needs a `when` condition", id.as_deref().unwrap_or("?")),
                    "add `when:`, or `sequence:` for an ordered rule",
                );
                ok = false;
            }
            (Some(_), Some(_), _) => {
                self.r.error(
                    node.pos,
                    "a rule has either `when` or `sequence`, not both",
                    "a sequence's steps carry their own `when`",
                );
                ok = false;
            }
            (_, Some(_), Some(_)) => {
                self.r.error(
                    node.pos,
                    "a rule has either `threshold` or `sequence`, not both",
                    "split it into two rules",
                );
                ok = false;
            }
            _ => {}
        }
        let broken = !ok
            || name.is_none()
            || description.is_none()
            || severity.is_none()
            || action.is_none()
            || tags.is_none()
            || mitre.is_none()
            || enabled.is_none()
            || except.is_none()
            || matches!(when, Some(None))
            || matches!(threshold, Some(None))
            || matches!(sequence, Some(None))
            || matches!(escalate, Some(None));
        Some(RuleAst {
            id: id?,
            pos: node.pos,
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            severity: severity.unwrap_or(Severity::Info),
            tags: tags.unwrap_or_default(),
            mitre: mitre.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            action: action.unwrap_or(RuleAction::Alert),
            when: when.flatten(),
            except: except.unwrap_or_default(),
            threshold: threshold.flatten(),
            sequence: sequence.flatten(),
            escalate: escalate.flatten().flatten(),
            broken,
        })
    }

    /// `escalate: {window: 60s, after: 3, then: freeze}`, or `escalate: false`.
    fn escalate(&mut self, node: &Node) -> Option<Option<Escalation>> {
        if let Value::Bool(false) = node.value {
            return Some(None);
        }
        let mut fields = self.map(node, &["window", "after", "then"], "`escalate`")?;
        let window = match fields.take("window") {
            Some(n) => self.duration(n),
            None => {
                self.r.error(
                    node.pos,
                    "`escalate` needs a `window`",
                    "write e.g. `escalate: {window: 60s, after: 3, then: freeze}`",
                );
                None
            }
        };
        let after = match fields.take("after") {
            Some(n) => match n.value {
                Value::Int(after) if (1..=1_000).contains(&after) => Some(after as u32),
                _ => {
                    self.r.error(
                        n.pos,
                        format!("`after` must be a whole number from 1, not {}", describe(n)),
                        "write e.g. `after: 3`",
                    );
                    None
                }
            },
            None => Some(3),
        };
        let then = match fields.take("then") {
            Some(n) => match n.as_str().and_then(EscalateTo::parse) {
                Some(then) => Some(then),
                None => {
                    self.r.error(
                        n.pos,
                        format!("unknown escalation {}", describe(n)),
                        format!("`then` is one of {}", list(&EscalateTo::NAMES)),
                    );
                    None
                }
            },
            None => Some(EscalateTo::Freeze),
        };
        fields.finish(self.r);
        Some(Some(Escalation {
            window: window?,
            after: after?,
            then: then?,
        }))
    }

    fn mitre(&mut self, node: &Node) -> Option<Vec<String>> {
        let ids = self.strings(node, "`mitre`")?;
        let items = node.as_seq().unwrap_or_default();
        let mut ok = true;
        for (id, item) in ids.iter().zip(items) {
            if !valid_technique(id) {
                self.r.error(
                    item.pos,
                    format!("`{id}` is not a MITRE ATT&CK technique id"),
                    "write ids such as T1552 or T1552.004",
                );
                ok = false;
            }
        }
        ok.then_some(ids)
    }

    fn duration(&mut self, node: &Node) -> Option<Duration> {
        let parsed = node.as_str().and_then(parse_duration);
        if parsed.is_none() {
            self.r.error(
                node.pos,
                format!("{} is not a duration", describe(node)),
                "write a number and a unit: 500ms, 10s, 5m, 1h",
            );
        }
        parsed
    }

    fn group(&mut self, node: Option<&Node>) -> Option<GroupBy> {
        let Some(node) = node else {
            return Some(GroupBy::Session);
        };
        let parsed = node.as_str().and_then(GroupBy::parse);
        if parsed.is_none() {
            self.r.error(
                node.pos,
                format!("`per` cannot be {}", describe(node)),
                "write `session`, `process` or `executable`",
            );
        }
        parsed
    }

    fn field(&mut self, node: &Node) -> Option<Field> {
        let name = node.as_str().unwrap_or_default();
        let field = Field::parse(name);
        if field.is_none() {
            let advice = match Field::suggest(name) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "fields are listed in docs/rules.md".into(),
            };
            self.r
                .error(node.pos, format!("unknown event field {}", describe(node)), advice);
        }
        field
    }

    fn threshold(&mut self, node: &Node) -> Option<ThresholdAst> {
        let mut fields = self.map(node, &["count", "distinct", "within", "per"], "a threshold")?;
        let count = match fields.take("count") {
            Some(n) => match n.value {
                Value::Int(count) if (1..=1_000_000).contains(&count) => Some(count as u32),
                _ => {
                    self.r.error(
                        n.pos,
                        format!("`count` must be a whole number from 1, not {}", describe(n)),
                        "write e.g. `count: 3`",
                    );
                    None
                }
            },
            None => {
                self.r
                    .error(node.pos, "a threshold needs a `count`", "write e.g. `count: 3`");
                None
            }
        };
        let distinct = match fields.take("distinct") {
            Some(n) => Some(self.field(n)?),
            None => None,
        };
        let within = match fields.take("within") {
            Some(n) => self.duration(n),
            None => {
                self.r
                    .error(node.pos, "a threshold needs `within`", "write e.g. `within: 60s`");
                None
            }
        };
        let per = self.group(fields.take("per"));
        fields.finish(self.r);
        Some(ThresholdAst {
            count: count?,
            distinct,
            within: within?,
            per: per?,
        })
    }

    fn sequence(&mut self, node: &Node) -> Option<SequenceAst> {
        let mut fields = self.map(node, &["within", "per", "steps"], "a sequence")?;
        let within = match fields.take("within") {
            Some(n) => self.duration(n),
            None => {
                self.r
                    .error(node.pos, "a sequence needs `within`", "write e.g. `within: 5m`");
                None
            }
        };
        let per = self.group(fields.take("per"));
        let steps = match fields.take("steps") {
            Some(n) => match n.as_seq() {
                Some(items) if items.len() >= 2 => {
                    let parsed: Vec<Option<StepAst>> = items.iter().map(|item| self.step(item)).collect();
                    parsed.into_iter().collect::<Option<Vec<_>>>()
                }
                _ => {
                    self.r.error(
                        n.pos,
                        "`steps` must be a list of two or more steps",
                        "write `- when: …` entries, in order",
                    );
                    None
                }
            },
            None => {
                self.r.error(
                    node.pos,
                    "a sequence needs `steps`",
                    "write `steps:` with two or more `- when: …` entries",
                );
                None
            }
        };
        fields.finish(self.r);
        Some(SequenceAst {
            within: within?,
            per: per?,
            steps: steps?,
        })
    }

    fn step(&mut self, node: &Node) -> Option<StepAst> {
        let mut fields = self.map(node, &["when", "key"], "a sequence step")?;
        let when = match fields.take("when") {
            Some(n) => self.condition(n),
            None => {
                self.r
                    .error(node.pos, "a step needs `when`", "write `when: {condition}`");
                None
            }
        };
        let keys = match fields.take("key") {
            None => Some(Vec::new()),
            Some(n) if n.as_seq().is_some() => n
                .as_seq()
                .unwrap_or_default()
                .iter()
                .map(|item| self.field(item))
                .collect(),
            Some(n) => self.field(n).map(|field| vec![field]),
        };
        fields.finish(self.r);
        Some(StepAst {
            when: when?,
            keys: keys?,
            pos: node.pos,
        })
    }

    fn overrides(&mut self, node: &Node) -> Overrides {
        let mut out = Overrides::default();
        let Some(mut fields) = self.map(node, &["lists", "macros", "rules"], "`overrides`") else {
            return out;
        };
        if let Some(lists) = fields.take("lists") {
            match lists.as_map() {
                Some(entries) => {
                    for (key, value) in entries {
                        if let Some(change) = self.list_change(value) {
                            out.lists.push((key.clone(), change));
                        }
                    }
                }
                None => self.r.error(
                    lists.pos,
                    "`overrides.lists` must map list names to changes",
                    "write `name: {append: [..]}`",
                ),
            }
        }
        if let Some(macros) = fields.take("macros") {
            out.macros = self.named_conditions(macros, "macro");
        }
        if let Some(rules) = fields.take("rules") {
            match rules.as_map() {
                Some(entries) => {
                    for (key, value) in entries {
                        if let Some(change) = self.rule_change(value) {
                            out.rules.push((key.clone(), change));
                        }
                    }
                }
                None => self.r.error(
                    rules.pos,
                    "`overrides.rules` must map rule ids to changes",
                    "write `rule-id: {enabled: false}`",
                ),
            }
        }
        fields.finish(self.r);
        out
    }

    fn list_change(&mut self, node: &Node) -> Option<ListChange> {
        let mut fields = self.map(node, &["append", "replace"], "a list override")?;
        let append = fields.take("append");
        let replace = fields.take("replace");
        fields.finish(self.r);
        match (append, replace) {
            (Some(items), None) => self.items(items, "`append`").map(ListChange::Append),
            (None, Some(items)) => self.items(items, "`replace`").map(ListChange::Replace),
            _ => {
                self.r.error(
                    node.pos,
                    "a list override has exactly one of `append` and `replace`",
                    "write `append: [..]` or `replace: [..]`",
                );
                None
            }
        }
    }

    fn rule_change(&mut self, node: &Node) -> Option<RuleChange> {
        let mut fields = self.map(
            node,
            &[
                "enabled",
                "severity",
                "action",
                "tags",
                "mitre",
                "name",
                "description",
                "except",
                "escalate",
            ],
            "a rule override",
        )?;
        let mut change = RuleChange::default();
        let mut ok = true;
        if let Some(n) = fields.take("enabled") {
            change.enabled = self.boolean(n, "`enabled`");
            ok &= change.enabled.is_some();
        }
        if let Some(n) = fields.take("severity") {
            change.severity = n.as_str().and_then(Severity::parse);
            if change.severity.is_none() {
                self.r.error(
                    n.pos,
                    format!("unknown severity {}", describe(n)),
                    format!("severity is one of {}", list(&Severity::NAMES)),
                );
                ok = false;
            }
        }
        if let Some(n) = fields.take("escalate") {
            change.escalate = self.escalate(n);
            ok &= change.escalate.is_some();
        }
        if let Some(n) = fields.take("action") {
            change.action = n.as_str().and_then(RuleAction::parse);
            if change.action.is_none() {
                self.r.error(
                    n.pos,
                    format!("unknown action {}", describe(n)),
                    format!("action is one of {}", list(&RuleAction::NAMES)),
                );
                ok = false;
            }
        }
        if let Some(n) = fields.take("tags") {
            change.tags = self.strings(n, "`tags`");
            ok &= change.tags.is_some();
        }
        if let Some(n) = fields.take("mitre") {
            change.mitre = self.mitre(n);
            ok &= change.mitre.is_some();
        }
        if let Some(n) = fields.take("name") {
            change.name = self.string(n, "`name`");
            ok &= change.name.is_some();
        }
        if let Some(n) = fields.take("description") {
            change.description = self.string(n, "`description`");
            ok &= change.description.is_some();
        }
        if let Some(n) = fields.take("except") {
            match self.conditions(n, "`except`") {
                Some(except) => change.except = except,
                None => ok = false,
            }
        }
        fields.finish(self.r);
        ok.then_some(change)
    }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("`{s}`"),
        Value::Int(i) => i.to_string(),
        _ => node.kind().to_string(),
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn valid_technique(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match rest.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (rest, None),
    };
    main.len() == 4
        && main.chars().all(|c| c.is_ascii_digit())
        && sub.is_none_or(|sub| sub.len() == 3 && sub.chars().all(|c| c.is_ascii_digit()))
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
    use super::*;

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
