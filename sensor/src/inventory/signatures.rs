//! Signature packs: YAML files that add poisoning phrases and key patterns to the built-in ones
//! (docs/inventory.md). Every problem names its file, line and column; `agent-sensor inventory
//! signatures check FILE…` checks packs without scanning.

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::catalogue::{self, Category, Check};
use crate::yaml::{self, YamlError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    version: Spanned<u32>,
    #[serde(default)]
    phrases: Vec<Spanned<PhraseSpec>>,
    #[serde(default)]
    keys: Vec<Spanned<KeySpec>>,
}

/// A phrase: a case-insensitive regular expression reported as a poisoning check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhraseSpec {
    /// A `poison-*` id (docs/inventory.md).
    check: String,
    pattern: String,
}

/// A key pattern: what matches is a key of `kind`; findings show its first `marker` + 4 characters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    kind: String,
    pattern: String,
    #[serde(default = "default_marker")]
    marker: usize,
}

fn default_marker() -> usize {
    4
}

/// Compiled additions from signature packs.
#[derive(Clone, Debug, Default)]
pub struct Signatures {
    pub phrases: Vec<(&'static Check, Regex)>,
    /// (kind, pattern, marker length).
    pub keys: Vec<(&'static str, Regex, usize)>,
    pub files: Vec<PathBuf>,
}

/// Reads packs; every problem of every file, or the compiled signatures.
pub fn load(paths: &[PathBuf]) -> Result<Signatures, Vec<YamlError>> {
    let mut signatures = Signatures::default();
    let mut problems = Vec::new();
    for path in paths {
        match load_file(path, &mut signatures) {
            Ok(()) => signatures.files.push(path.clone()),
            Err(mut errors) => problems.append(&mut errors),
        }
    }
    if problems.is_empty() {
        Ok(signatures)
    } else {
        Err(problems)
    }
}

fn load_file(path: &Path, signatures: &mut Signatures) -> Result<(), Vec<YamlError>> {
    let origin = path.display().to_string();
    let text = yaml::read(path).map_err(|error| vec![error])?;
    let file: PackFile = yaml::parse(&text, &origin).map_err(|error| vec![error])?;
    let mut problems = Vec::new();
    let error = |at: &serde_saphyr::Location, message: String| YamlError {
        origin: origin.clone(),
        position: (at.line() > 0).then(|| (at.line(), at.column())),
        message,
    };
    if file.version.value != 1 {
        problems.push(error(
            &file.version.referenced,
            format!("unknown version {} (expected 1)", file.version.value),
        ));
    }
    for phrase in &file.phrases {
        let check = catalogue::by_id(&phrase.value.check).filter(|check| check.category == Category::Poisoning);
        let Some(check) = check else {
            problems.push(error(
                &phrase.referenced,
                format!(
                    "`{}` is not a poisoning check id (poison-*, skill-*)",
                    phrase.value.check
                ),
            ));
            continue;
        };
        match RegexBuilder::new(&phrase.value.pattern).case_insensitive(true).build() {
            Ok(regex) => signatures.phrases.push((check, regex)),
            Err(problem) => problems.push(error(&phrase.referenced, format!("bad pattern: {problem}"))),
        }
    }
    for key in &file.keys {
        let kind = key.value.kind.trim();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            problems.push(error(
                &key.referenced,
                format!("kind `{kind}`: use letters, digits and `-`"),
            ));
            continue;
        }
        match Regex::new(&key.value.pattern) {
            Ok(regex) if regex.is_match("") => {
                problems.push(error(&key.referenced, "the pattern matches empty text".into()));
            }
            Ok(regex) => signatures.keys.push((leak(kind), regex, key.value.marker)),
            Err(problem) => problems.push(error(&key.referenced, format!("bad pattern: {problem}"))),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Kinds live as long as the process (a handful of short strings per pack).
fn leak(kind: &str) -> &'static str {
    Box::leak(kind.to_string().into_boxed_str())
}

/// The signatures in effect beside the built-in ones, for every scan of this process: key
/// patterns must be known to every redaction, wherever it happens.
static INSTALLED: RwLock<Option<Signatures>> = RwLock::new(None);

/// Adds packs' signatures to those in effect (a pack installed twice counts once).
pub fn install(signatures: Signatures) {
    let mut installed = INSTALLED.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = installed.get_or_insert_with(Signatures::default);
    if !signatures.files.is_empty() && signatures.files.iter().all(|file| current.files.contains(file)) {
        return;
    }
    for file in signatures.files {
        if !current.files.contains(&file) {
            current.files.push(file);
        }
    }
    current.phrases.extend(signatures.phrases);
    current.keys.extend(signatures.keys);
}

/// Runs `f` with the installed signatures (empty when none).
pub fn with<T>(f: impl FnOnce(&Signatures) -> T) -> T {
    let installed = INSTALLED.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    match installed.as_ref() {
        Some(signatures) => f(signatures),
        None => f(&Signatures::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pack.yaml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn a_good_pack_compiles() {
        let (_dir, path) = pack(
            "version: 1\nphrases:\n  - check: poison-concealment\n    pattern: 'between you and me'\nkeys:\n  - kind: acme\n    pattern: 'acme_[a-z0-9]{24}'\n    marker: 5\n",
        );
        let signatures = load(&[path]).expect("loads");
        assert_eq!(signatures.phrases.len(), 1);
        assert_eq!(signatures.phrases[0].0.id, "poison-concealment");
        assert!(signatures.phrases[0].1.is_match("Between You and Me"));
        assert_eq!((signatures.keys[0].0, signatures.keys[0].2), ("acme", 5));
    }

    #[test]
    fn problems_name_file_and_line() {
        let (_dir, path) = pack(
            "version: 1\nphrases:\n  - check: mcp-plain-http\n    pattern: x\n  - check: poison-concealment\n    pattern: '('\nkeys:\n  - kind: any\n    pattern: '.*'\n",
        );
        let problems = load(std::slice::from_ref(&path)).expect_err("three problems");
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with(&format!("{}:3:", path.display())), "{shown:?}");
        assert!(shown[0].contains("not a poisoning check"));
        assert!(
            shown[1].contains(":5:") && shown[1].contains("bad pattern"),
            "{shown:?}"
        );
        assert!(shown[2].contains(":8:") && shown[2].contains("empty"), "{shown:?}");
        let (_dir, unknown) = pack("version: 1\nphrase: []\n");
        assert!(load(&[unknown]).is_err());
    }
}
