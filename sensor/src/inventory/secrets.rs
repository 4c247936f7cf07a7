//! Provider API keys in text: which patterns, where, and how a finding shows one (a short prefix
//! and a hash, never the value).

use std::sync::LazyLock;

use regex::Regex;

use super::{files::sha256_hex, model::SecretRef};

/// (kind, pattern, marker length): the marker is the provider's fixed prefix, shown in findings.
const PATTERNS: &[(&str, &str, usize)] = &[
    ("anthropic", r"sk-ant-(?:api|admin|oat)\d\d-[A-Za-z0-9_\-]{20,}", 7),
    ("openai", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}", 3),
    ("aws-access-key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 4),
    ("github", r"\bgh[pousr]_[A-Za-z0-9]{36,}", 4),
    ("github-fine-grained", r"\bgithub_pat_[A-Za-z0-9_]{40,}", 11),
    ("gitlab", r"\bglpat-[A-Za-z0-9_\-]{20,}", 6),
    ("google", r"\bAIza[0-9A-Za-z_\-]{35}", 4),
    ("slack", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}", 5),
    ("huggingface", r"\bhf_[A-Za-z0-9]{30,}", 3),
    ("npm", r"\bnpm_[A-Za-z0-9]{36}\b", 4),
    ("groq", r"\bgsk_[A-Za-z0-9]{40,}", 4),
    ("xai", r"\bxai-[A-Za-z0-9]{40,}", 4),
    ("openrouter", r"sk-or-v1-[a-f0-9]{40,}", 9),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex, usize)>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .filter_map(|(kind, pattern, marker)| Regex::new(pattern).ok().map(|regex| (*kind, regex, *marker)))
        .collect()
});

/// One key found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub line: usize,
    pub secret: SecretRef,
}

/// Every key in `text`, once per value, in order.
pub fn scan(text: &str) -> Vec<Match> {
    super::signatures::with(|signatures| scan_with(text, &signatures.keys))
}

fn scan_with(text: &str, extra: &[(&'static str, Regex, usize)]) -> Vec<Match> {
    let mut found: Vec<(usize, usize, Match)> = Vec::new();
    for (kind, regex, marker) in COMPILED.iter().chain(extra) {
        for hit in regex.find_iter(text) {
            if found
                .iter()
                .any(|(start, end, _)| hit.start() < *end && *start < hit.end())
            {
                continue; // a more specific pattern already took it (anthropic before openai)
            }
            let value = hit.as_str();
            found.push((
                hit.start(),
                hit.end(),
                Match {
                    line: super::files::line_at(text, hit.start()),
                    secret: describe(kind, value, *marker),
                },
            ));
        }
    }
    found.sort_by_key(|(start, _, _)| *start);
    let mut seen = Vec::new();
    found
        .into_iter()
        .filter(|(_, _, found)| {
            let new = !seen.contains(&found.secret.sha256_16);
            seen.push(found.secret.sha256_16.clone());
            new
        })
        .map(|(_, _, found)| found)
        .collect()
}

fn describe(kind: &'static str, value: &str, marker: usize) -> SecretRef {
    let shown: String = value.chars().take(marker + 4).collect();
    SecretRef {
        kind,
        prefix: format!("{shown}…"),
        sha256_16: sha256_hex(value.as_bytes())[..16].to_string(),
    }
}

/// `text` with every key replaced by its prefix and `…`, for excerpts.
pub fn redact(text: &str) -> String {
    super::signatures::with(|signatures| {
        let mut out = text.to_string();
        for (kind, regex, marker) in COMPILED.iter().chain(&signatures.keys) {
            out = regex
                .replace_all(&out, |caps: &regex::Captures| describe(kind, &caps[0], *marker).prefix)
                .into_owned();
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fake keys assembled at run time so that no key-shaped literal sits in the source.
    fn fake(prefix: &str, len: usize) -> String {
        format!("{prefix}{}", "Ab1".repeat(len).chars().take(len).collect::<String>())
    }

    #[test]
    fn finds_each_provider_and_shows_only_a_prefix() {
        let anthropic = fake("sk-ant-api03-", 40);
        let aws = format!("AKIA{}", "Q".repeat(16));
        let github = fake("ghp_", 36);
        let text = format!("a = \"{anthropic}\"\nb = {aws}\n\nc: {github}\nd: {anthropic}\n");
        let found = scan(&text);
        let kinds: Vec<_> = found.iter().map(|m| (m.secret.kind, m.line)).collect();
        assert_eq!(kinds, [("anthropic", 1), ("aws-access-key", 2), ("github", 4)]);
        assert_eq!(found[0].secret.prefix, "sk-ant-api0…");
        assert!(!redact(&text).contains(&anthropic));
        assert!(!redact(&text).contains(&github));
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }

    #[test]
    fn ordinary_text_has_no_keys() {
        assert!(scan("sk-short and task-ant-foo and AKIA lowercase akia0000000000000000").is_empty());
        assert!(scan("model = \"gpt-5\"\napproval_policy = \"on-request\"").is_empty());
    }
}
