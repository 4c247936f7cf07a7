//! Known vulnerabilities and malicious packages: advisories in OSV format that the user imports
//! (`agent-sensor inventory advisories import FILE`), matched against installed agents and pinned
//! MCP packages. The database is only read; it is never fetched.

use std::{
    cmp::Ordering,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde::Deserialize;

use super::{
    catalogue,
    files::{self, ReadError},
    model::{Finding, Record},
    scanner::Scanner,
};
use crate::rules::Severity;

/// A database older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone, Debug, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Affected {
    pub package: Option<Package>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl Advisory {
    /// Malicious-package records (`MAL-…` ids).
    pub fn malicious(&self) -> bool {
        self.id.starts_with("MAL-")
    }

    fn severity(&self) -> Severity {
        if self.malicious() {
            return Severity::Critical;
        }
        let named = self
            .database_specific
            .as_ref()
            .and_then(|specific| specific.get("severity"))
            .and_then(|severity| severity.as_str())
            .map(str::to_ascii_lowercase);
        match named.as_deref() {
            Some("critical") => Severity::Critical,
            Some("moderate") | Some("medium") => Severity::Medium,
            Some("low") => Severity::Low,
            _ => Severity::High,
        }
    }

    /// Whether `version` of `name` in `ecosystem` is affected.
    pub fn affects(&self, ecosystem: &str, name: &str, version: &str) -> bool {
        self.affected.iter().any(|affected| {
            let Some(package) = &affected.package else {
                return false;
            };
            if !package.ecosystem.eq_ignore_ascii_case(ecosystem) || !same_name(ecosystem, &package.name, name) {
                return false;
            }
            if affected.versions.iter().any(|listed| listed == version) {
                return true;
            }
            affected
                .ranges
                .iter()
                .filter(|range| range.kind != "GIT")
                .any(|range| in_range(range, version))
        })
    }
}

fn same_name(ecosystem: &str, a: &str, b: &str) -> bool {
    if ecosystem.eq_ignore_ascii_case("PyPI") {
        let normal = |name: &str| name.to_ascii_lowercase().replace(['_', '.'], "-");
        normal(a) == normal(b)
    } else {
        a == b
    }
}

/// OSV range events in order: `introduced` opens, `fixed` closes before, `last_affected`
/// closes after.
fn in_range(range: &Range, version: &str) -> bool {
    let mut affected = false;
    for event in &range.events {
        let value = |key: &str| event.get(key).and_then(|v| v.as_str());
        if let Some(introduced) = value("introduced") {
            if introduced == "0" || compare(version, introduced) != Ordering::Less {
                affected = true;
            }
        } else if let Some(fixed) = value("fixed") {
            if compare(version, fixed) != Ordering::Less {
                affected = false;
            }
        } else if let Some(last) = value("last_affected")
            && compare(version, last) == Ordering::Greater
        {
            affected = false;
        }
    }
    affected
}

/// Compares dotted versions numerically, a pre-release (`-beta.1`, `rc1`) before its release.
pub fn compare(a: &str, b: &str) -> Ordering {
    let split = |v: &str| {
        let v = v.trim_start_matches('v');
        let (main, pre) = match v.find(|c: char| c == '-' || c.is_ascii_alphabetic()) {
            Some(at) => (&v[..at], Some(v[at..].trim_start_matches('-').to_string())),
            None => (v, None),
        };
        let numbers: Vec<u64> = main.split('.').map(|part| part.parse().unwrap_or(0)).collect();
        (numbers, pre)
    };
    let (an, ap) = split(a);
    let (bn, bp) = split(b);
    for index in 0..an.len().max(bn.len()) {
        let order = an.get(index).unwrap_or(&0).cmp(bn.get(index).unwrap_or(&0));
        if order != Ordering::Equal {
            return order;
        }
    }
    match (ap, bp) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// Reads advisories from a file (one OSV object, or an array of them) or every `*.json` in a
/// directory; returns them with the newest file's modification time.
pub fn load(path: &Path) -> Result<(Vec<Advisory>, Option<SystemTime>), ReadError> {
    let paths: Vec<PathBuf> = if path.is_dir() {
        files::walk(path, 2, 100_000)
            .into_iter()
            .filter(|file| file.extension().is_some_and(|ext| ext == "json"))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut advisories = Vec::new();
    let mut newest = None;
    for file in paths {
        let text = std::fs::read_to_string(&file).map_err(|source| ReadError::Io {
            path: file.display().to_string(),
            source,
        })?;
        let parse_error = |error: serde_json::Error| ReadError::Parse {
            path: file.display().to_string(),
            message: format!("not OSV JSON: {error}"),
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(parse_error)?;
        let mut found: Vec<Advisory> = match value {
            serde_json::Value::Array(_) => serde_json::from_value(value).map_err(parse_error)?,
            other => vec![serde_json::from_value(other).map_err(parse_error)?],
        };
        advisories.append(&mut found);
        let modified = std::fs::metadata(&file).and_then(|meta| meta.modified()).ok();
        newest = newest.max(modified);
    }
    Ok((advisories, newest))
}

/// Matches the scan's packages against the database, and flags a stale database.
pub fn check(sc: &mut Scanner, database: &Path) {
    let (advisories, newest) = match load(database) {
        Ok(loaded) => loaded,
        Err(error) => {
            sc.problem(error);
            return;
        }
    };
    let age = newest.and_then(|time| SystemTime::now().duration_since(time).ok());
    if age.is_none_or(|age| age > STALE_AFTER) {
        let days = age.map(|age| age.as_secs() / 86400).unwrap_or(0);
        sc.finding(Finding::new(
            &catalogue::ADVISORY_STALE,
            database,
            format!("the advisory database was last imported {days} days ago"),
        ));
    }
    let mut packages = Vec::new();
    for owned in &sc.report.records {
        match &owned.item {
            Record::Agent(agent) => {
                let ecosystem = match agent.source {
                    "npm" => "npm",
                    "python" => "PyPI",
                    _ => continue,
                };
                if let (Some(package), Some(version)) = (&agent.package, &agent.version) {
                    packages.push((
                        ecosystem,
                        package.clone(),
                        version.clone(),
                        agent.path.clone(),
                        agent.agent.clone(),
                        owned.owner.clone(),
                    ));
                }
            }
            Record::McpServer(server) => {
                if let Some((package, Some(version))) = &server.package {
                    let ecosystem = match server.command.as_deref().map(|c| c.rsplit('/').next().unwrap_or(c)) {
                        Some("uvx" | "uv" | "pipx") => "PyPI",
                        _ => "npm",
                    };
                    packages.push((
                        ecosystem,
                        package.clone(),
                        version.clone(),
                        server.file.clone(),
                        server.agent.clone(),
                        owned.owner.clone(),
                    ));
                }
            }
            _ => {}
        }
    }
    for (ecosystem, package, version, file, agent, owner) in packages {
        for advisory in advisories
            .iter()
            .filter(|advisory| advisory.affects(ecosystem, &package, &version))
        {
            let check = if advisory.malicious() {
                &catalogue::ADVISORY_MALICIOUS
            } else {
                &catalogue::ADVISORY_AFFECTED
            };
            let mut finding = Finding::new(
                check,
                &file,
                format!(
                    "{package} {version} ({ecosystem}) is affected by {}{}",
                    advisory.id,
                    advisory
                        .summary
                        .as_deref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
            )
            .agent(&agent);
            finding.severity = advisory.severity();
            finding.advisory = Some(advisory.id.clone());
            finding.evidence = Some(format!("{package}@{version}"));
            finding.owner = owner.clone();
            sc.finding_as_is(finding);
        }
    }
}

/// Copies a validated OSV file into the database directory; returns its path and how many
/// advisories it holds.
pub fn import(file: &Path, database: &Path) -> anyhow::Result<(PathBuf, usize)> {
    let (advisories, _) = load(file)?;
    std::fs::create_dir_all(database)?;
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "advisories.json".into());
    let name = if name.ends_with(".json") {
        name
    } else {
        format!("{name}.json")
    };
    let target = database.join(name);
    std::fs::copy(file, &target)?;
    // The copy's modification time is the import time (staleness counts from it).
    std::fs::File::options()
        .write(true)
        .open(&target)?
        .set_modified(SystemTime::now())?;
    Ok((target, advisories.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare() {
        assert_eq!(compare("1.10.0", "1.9.9"), Ordering::Greater);
        assert_eq!(compare("2.0.0-beta.1", "2.0.0"), Ordering::Less);
        assert_eq!(compare("0.86", "0.86.0"), Ordering::Equal);
    }

    #[test]
    fn ranges() {
        let advisory: Advisory = serde_json::from_str(
            r#"{"id":"GHSA-x","affected":[{"package":{"ecosystem":"npm","name":"@openai/codex"},
                "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.39.0"}]}]}]}"#,
        )
        .expect("osv");
        assert!(advisory.affects("npm", "@openai/codex", "0.38.2"));
        assert!(!advisory.affects("npm", "@openai/codex", "0.39.0"));
        assert!(!advisory.affects("npm", "codex", "0.38.2"));
        assert!(!advisory.affects("PyPI", "@openai/codex", "0.38.2"));
        let last: Advisory = serde_json::from_str(
            r#"{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"Aider-Chat"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0.50"},{"last_affected":"0.60.1"}]}]}]}"#,
        )
        .expect("osv");
        assert!(last.affects("PyPI", "aider_chat", "0.60.1"));
        assert!(!last.affects("PyPI", "aider_chat", "0.60.2"));
        assert!(!last.affects("PyPI", "aider_chat", "0.49"));
    }
}
