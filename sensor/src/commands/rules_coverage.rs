//! `agent-sensor rules coverage`: the ATT&CK coverage map of rule packs (docs/coverage.md), as
//! Markdown or JSON, or written into a document's generated section.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{
    cli::CoverageFormat,
    rules::{
        coverage::{CoverageMap, markdown},
        loader,
    },
};

/// Prints the map of the packs at `paths` (the shipped packs when empty), or rewrites the
/// generated section of `write`; returns the exit code.
pub fn coverage(paths: &[PathBuf], format: CoverageFormat, write: Option<&Path>) -> Result<i32> {
    let set = match loader::load(paths) {
        Ok(set) => set,
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!("the packs have problems; fix them first (`agent-sensor rules check`)");
            return Ok(1);
        }
    };
    let map = CoverageMap::of(&set);
    if let Some(path) = write {
        let document = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let updated = markdown::replace_section(&document, &markdown::render(&map))
            .with_context(|| path.display().to_string())?;
        if updated == document {
            println!("{}: the generated section is current", path.display());
        } else {
            std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}: generated section rewritten", path.display());
        }
        return Ok(0);
    }
    let text = match format {
        CoverageFormat::Markdown => markdown::render(&map),
        CoverageFormat::Json => serde_json::to_string_pretty(&map)? + "\n",
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // `| head` closing the pipe early is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(0),
    }
}
