//! Pre-event discovery (docs/inventory.md): which AI agents are installed, with which versions,
//! skills, plugins, MCP servers, instruction files and settings, and findings about what is risky
//! in them (poisoned skills, over-privileged MCP servers, approvals or sandboxes switched off,
//! plaintext keys, advisories).
//!
//! Offline by construction: files are read, never executed; no MCP server is started; nothing
//! is sent anywhere but the caller's outputs. Local model servers are seen in /proc/net only.
//!
//! - [`homes`]: whose homes to read; [`versions`]: installed agents and versions;
//! - [`agents`]: one module per agent family; [`mcp`], [`skills`], [`content`], [`secrets`],
//!   [`hosts`]: what each finding looks at; [`signatures`]: packs that add phrases and key patterns; [`listeners`]: model servers on this machine;
//! - [`advisories`]: OSV advisories the user imports; [`report`]: ECS, JSON, SARIF and table forms.

pub mod advisories;
pub mod agents;
pub mod catalogue;
pub mod content;
pub mod daemon;
pub mod files;
pub mod homes;
pub mod hosts;
pub mod listeners;
pub mod mcp;
pub mod model;
pub mod report;
pub mod scanner;
pub mod secrets;
pub mod signatures;
pub mod skills;
pub mod versions;

use std::path::PathBuf;

pub use self::{
    homes::Home,
    model::{Finding, Record, Report},
};
use self::{
    model::{Owner, Record as R},
    scanner::Scanner,
};

/// What one scan reads.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Homes to read (the current user's, `--user`, `--all-users`, `--home`).
    pub homes: Vec<Home>,
    /// Project (workspace) directories.
    pub projects: Vec<PathBuf>,
    /// Where system files are (`/`; a fixture tree in tests): /etc, /usr/lib, /proc/net.
    pub system_root: PathBuf,
    /// Extra npm global prefixes (`--prefix`).
    pub npm_prefixes: Vec<PathBuf>,
    /// Model endpoint hosts that are not findings beyond the providers' own.
    pub allow_hosts: Vec<String>,
    /// `CODEX_HOME` of the current user: (their home, the directory).
    pub codex_home: Option<(PathBuf, PathBuf)>,
    /// The advisory database (OSV JSON files), when imported.
    pub advisories: Option<PathBuf>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            homes: Vec::new(),
            projects: Vec::new(),
            system_root: PathBuf::from("/"),
            npm_prefixes: Vec::new(),
            allow_hosts: Vec::new(),
            codex_home: None,
            advisories: None,
        }
    }
}

/// Runs one scan. `progress` is told each place as it is read (for a progress line).
pub fn scan(options: &ScanOptions, progress: &mut dyn FnMut(&str)) -> Report {
    let mut sc = Scanner::new(options);
    let root = options.system_root.clone();
    progress("system");
    sc.enter(
        Owner {
            user: None,
            uid: None,
            scope: "system",
        },
        &root,
    );
    versions::scan_system(&mut sc, &root, &options.npm_prefixes);
    agents::scan_system(&mut sc, &root);
    for server in listeners::scan(&root) {
        sc.record(R::ModelServer(server));
    }
    for home in &options.homes {
        progress(&home.path.display().to_string());
        sc.enter(
            Owner {
                user: home.user.clone(),
                uid: home.uid,
                scope: "user",
            },
            &home.path,
        );
        versions::scan_home(&mut sc, &home.path);
        let codex_home = options
            .codex_home
            .as_ref()
            .filter(|(owner, _)| *owner == home.path)
            .map(|(_, dir)| dir.as_path());
        agents::scan_home(&mut sc, &home.path, codex_home);
    }
    for project in &options.projects {
        progress(&project.display().to_string());
        let owner = homes::of_dir(project).ok();
        sc.enter(
            Owner {
                user: owner.as_ref().and_then(|home| home.user.clone()),
                uid: owner.and_then(|home| home.uid),
                scope: "project",
            },
            project,
        );
        agents::scan_project(&mut sc, project);
    }
    if let Some(database) = &options.advisories {
        progress("advisories");
        advisories::check(&mut sc, database);
    }
    let mut report = sc.report;
    drop_config_only_agents(&mut report);
    report.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    report
}

/// An agent found by its settings only is dropped when an install of it was found too.
fn drop_config_only_agents(report: &mut Report) {
    let installed: Vec<String> = report
        .records
        .iter()
        .filter_map(|owned| match &owned.item {
            R::Agent(agent) if agent.source != "config" => Some(agent.agent.clone()),
            _ => None,
        })
        .collect();
    report.records.retain(|owned| match &owned.item {
        R::Agent(agent) => agent.source != "config" || !installed.contains(&agent.agent),
        _ => true,
    });
}
