//! Finding and loading packs: files and directories given by the user, or the shipped packs.

use std::path::{Path, PathBuf};

use super::{
    compile::{RuleSet, compile},
    diagnostics::{Diagnostic, Diagnostics},
    pack::{PackAst, parse_pack},
    yaml_tree::Pos,
};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));
}

/// Name shown for the shipped packs.
pub const DEFAULT_PACK_ORIGIN: &str = "built-in rules/default";

/// True for files that are packs (not rule tests).
pub fn is_pack_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".tests.")
}

/// The pack files named by `paths`: files as given, directories expanded to their packs in name
/// order.
pub fn pack_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .flatten()
                        .map(|entry| entry.path())
                        .filter(|p| p.is_file() && is_pack_file(p))
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        problems.push(file_problem(path, "the directory holds no rule packs (*.yaml)"));
                    }
                    files.extend(found);
                }
                Err(error) => problems.push(file_problem(path, &format!("cannot read the directory: {error}"))),
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            problems.push(file_problem(path, "no such file or directory"));
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(Diagnostics(problems))
    }
}

fn file_problem(path: &Path, message: &str) -> Diagnostic {
    Diagnostic::new(
        &path.display().to_string(),
        Pos::default(),
        message,
        "give a rule pack file or a directory of them",
    )
}

/// Parses packs from `(origin, text)` pairs and compiles them together.
pub fn compile_sources(sources: &[(String, String)]) -> Result<(RuleSet, Vec<PackAst>), Diagnostics> {
    let mut problems = Vec::new();
    let mut packs = Vec::new();
    for (origin, text) in sources {
        let (pack, found) = parse_pack(origin, text);
        problems.extend(found);
        packs.extend(pack);
    }
    // Compile even when parsing found problems, so the report covers every pack completely.
    match compile(&packs) {
        Ok(set) if problems.is_empty() => Ok((set, packs)),
        Ok(_) => Err(Diagnostics(problems)),
        Err(Diagnostics(more)) => {
            problems.extend(more);
            problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            problems.dedup();
            Err(Diagnostics(problems))
        }
    }
}

/// Loads the packs at `paths`, or the shipped packs when `paths` is empty.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, Diagnostics> {
    compile_sources(&read_sources(paths)?).map(|(set, _)| set)
}

/// The texts of the packs at `paths` (or of the shipped packs), named by their origin.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<(String, String)>, Diagnostics> {
    if paths.is_empty() {
        return Ok(embedded::DEFAULT_PACKS
            .iter()
            .map(|(name, text)| (format!("{DEFAULT_PACK_ORIGIN}/{name}"), text.to_string()))
            .collect());
    }
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for file in pack_files(paths)? {
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push((file.display().to_string(), text)),
            Err(error) => problems.push(file_problem(&file, &format!("cannot read: {error}"))),
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(Diagnostics(problems))
    }
}
