//! Finding and loading packs: files and directories given by the user, or the shipped packs.

use std::path::{Path, PathBuf};

use super::{
    compile::{RuleSet, compile},
    diagnostics::{Diagnostic, Diagnostics},
    pack::{PackAst, parse_pack},
    sigma::{self, Shape},
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
/// order, with the Sigma rules and pipelines of their subdirectories (`tests/` aside).
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
                    nested_sigma(path, &mut found, 0);
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

/// The Sigma files (rules and pipelines) in the subdirectories of `dir`, at any depth.
fn nested_sigma(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.is_dir() && depth < 8 && path.file_name().is_some_and(|name| name != "tests") {
            let mut inner = Vec::new();
            if let Ok(files) = std::fs::read_dir(&path) {
                inner.extend(files.flatten().map(|entry| entry.path()).filter(|p| {
                    p.is_file()
                        && is_pack_file(p)
                        && std::fs::read_to_string(p).is_ok_and(|text| sigma::shape(&text) != Shape::Pack)
                }));
            }
            found.extend(inner);
            nested_sigma(&path, found, depth + 1);
        }
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

/// Parses packs from `(origin, text)` pairs and compiles them together. Sigma rules and
/// pipelines among them are told by their shape and translated (docs/sigma.md).
pub fn compile_sources(sources: &[(String, String)]) -> Result<(RuleSet, Vec<PackAst>), Diagnostics> {
    let mut problems = Vec::new();
    let mut packs = Vec::new();
    let mut sigma_sources = Vec::new();
    let mut pipelines = Vec::new();
    for (index, (origin, text)) in sources.iter().enumerate() {
        match sigma::shape(text) {
            Shape::Sigma => sigma_sources.push(sigma::Source { index, origin, text }),
            Shape::Pipeline => pipelines.push((origin.as_str(), text.as_str())),
            Shape::Pack => {
                let (pack, found) = parse_pack(origin, text);
                problems.extend(found);
                packs.extend(pack.map(|pack| (index, pack)));
            }
        }
    }
    let mut skipped = Vec::new();
    if !sigma_sources.is_empty() || !pipelines.is_empty() {
        let translation = sigma::translate(&sigma_sources, &pipelines);
        problems.extend(translation.errors);
        skipped = translation.skipped;
        packs.extend(translation.packs);
        packs.sort_by_key(|(index, _)| *index);
    }
    let packs: Vec<PackAst> = packs.into_iter().map(|(_, pack)| pack).collect();
    // Compile even when parsing found problems, so the report covers every pack completely.
    match compile(&packs) {
        Ok(mut set) if problems.is_empty() => {
            set.skipped = skipped;
            Ok((set, packs))
        }
        Ok(_) => Err(Diagnostics(problems)),
        Err(Diagnostics(more)) => {
            problems.extend(more);
            problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            problems.dedup();
            Err(Diagnostics(problems))
        }
    }
}

/// Name shown for the shipped Sigma pack.
pub const SIGMA_PACK_ORIGIN: &str = "built-in rules/sigma";

/// Loads the packs at `paths`, or the shipped packs when `paths` is empty.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, Diagnostics> {
    load_with(paths, false)
}

/// Loads the packs at `paths` (or the shipped packs), with the shipped Sigma pack after them
/// when `sigma_pack` is set (docs/sigma.md).
pub fn load_with(paths: &[PathBuf], sigma_pack: bool) -> Result<RuleSet, Diagnostics> {
    load_with_extra(paths, sigma_pack, |_| Vec::new())
}

/// As [`load_with`], then the packs `extra` makes from the sources read, loaded last.
pub fn load_with_extra(
    paths: &[PathBuf],
    sigma_pack: bool,
    extra: impl FnOnce(&[(String, String)]) -> Vec<(String, String)>,
) -> Result<RuleSet, Diagnostics> {
    let mut sources = read_sources(paths)?;
    if sigma_pack {
        sources.extend(
            embedded::SIGMA_PACK
                .iter()
                .map(|(name, text)| (format!("{SIGMA_PACK_ORIGIN}/{name}"), text.to_string())),
        );
    }
    let more = extra(&sources);
    sources.extend(more);
    compile_sources(&sources).map(|(set, _)| set)
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
