//! Reading a pack's sections: the document itself, named lists and macros, and per-site overrides
//! of other packs' rules and lists.

use super::{
    reader::{describe, list},
    *,
};
use crate::rules::yaml_tree::Value;

impl Reader<'_> {
    pub(super) fn pack(&mut self, root: &Node, default_ruleset: String) -> Option<PackAst> {
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

    pub(super) fn named_lists(&mut self, node: &Node) -> Vec<(Key, Vec<Item>)> {
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

    pub(super) fn named_conditions(&mut self, node: &Node, what: &str) -> Vec<(Key, CondAst)> {
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

    pub(super) fn overrides(&mut self, node: &Node) -> Overrides {
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

    pub(super) fn list_change(&mut self, node: &Node) -> Option<ListChange> {
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

    pub(super) fn rule_change(&mut self, node: &Node) -> Option<RuleChange> {
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
