//! Installed agents and their versions, from what installers leave on disk: npm global trees
//! (`lib/node_modules/<package>/package.json`), native installers' version directories, Python
//! `*.dist-info` directories and editor extension directories. Nothing is ever run.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{files, scanner::Scanner};

/// Agents by npm package.
pub const NPM: &[(&str, &str)] = &[
    ("claude-code", "@anthropic-ai/claude-code"),
    ("codex", "@openai/codex"),
    ("gemini-cli", "@google/gemini-cli"),
    ("qwen-code", "@qwen-code/qwen-code"),
    ("opencode", "opencode-ai"),
    ("openclaw", "openclaw"),
    ("copilot-cli", "@github/copilot"),
    ("amp", "@sourcegraph/amp"),
    ("crush", "@charmland/crush"),
    ("cline", "cline"),
    ("continue", "@continuedev/cli"),
    ("cursor-agent", "@cursor/agent"),
];

/// Agents by Python distribution (normalised `dist-info` name).
pub const PYTHON: &[(&str, &str)] = &[
    ("aider", "aider_chat"),
    ("goose", "goose_ai"),
    ("open-interpreter", "open_interpreter"),
];

/// Agents by editor extension id (`publisher.name`).
pub const EXTENSIONS: &[(&str, &str)] = &[
    ("cline", "saoudrizwan.claude-dev"),
    ("continue", "continue.continue"),
    ("claude-code", "anthropic.claude-code"),
    ("codex", "openai.chatgpt"),
    ("roo-code", "rooveterinaryinc.roo-cline"),
    ("kilo-code", "kilocode.kilo-code"),
    ("gemini-cli", "google.gemini-cli-vscode-ide-companion"),
];

/// npm global `node_modules` directories under a home.
fn home_npm_roots(home: &Path) -> Vec<PathBuf> {
    let mut roots = vec![
        home.join(".npm-global/lib/node_modules"),
        home.join(".local/lib/node_modules"),
        home.join(".bun/install/global/node_modules"),
        home.join(".claude/local/node_modules"),
    ];
    for node in files::subdirs(&home.join(".nvm/versions/node")) {
        roots.push(node.join("lib/node_modules"));
    }
    for store in files::subdirs(&home.join(".local/share/pnpm/global")) {
        roots.push(store.join("node_modules"));
    }
    for (_, package) in NPM {
        roots.push(
            home.join(".volta/tools/image/packages")
                .join(package)
                .join("lib/node_modules"),
        );
    }
    roots
}

/// System npm roots under `root` (usually `/`), and `--prefix` directories.
pub fn system_npm_roots(root: &Path, prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = vec![
        root.join("usr/lib/node_modules"),
        root.join("usr/local/lib/node_modules"),
    ];
    for prefix in prefixes {
        if prefix.ends_with("node_modules") {
            roots.push(prefix.clone());
        } else {
            roots.push(prefix.join("lib/node_modules"));
        }
    }
    roots
}

fn python_site_dirs(base: &Path, home: bool) -> Vec<PathBuf> {
    let mut parents = Vec::new();
    if home {
        parents.push(base.join(".local/lib"));
        for venvs in [".local/share/pipx/venvs", ".local/pipx/venvs", ".local/share/uv/tools"] {
            for venv in files::subdirs(&base.join(venvs)) {
                parents.push(venv.join("lib"));
            }
        }
    } else {
        parents.push(base.join("usr/lib"));
        parents.push(base.join("usr/local/lib"));
    }
    let mut sites = Vec::new();
    for parent in parents {
        for python in files::subdirs(&parent) {
            if python
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("python3"))
            {
                sites.push(python.join("site-packages"));
                sites.push(python.join("dist-packages"));
            }
        }
    }
    sites
}

/// Looks for installed agents under one home.
pub fn scan_home(scanner: &mut Scanner, home: &Path) {
    for root in home_npm_roots(home) {
        npm_root(scanner, &root);
    }
    for site in python_site_dirs(home, true) {
        python_site(scanner, &site);
    }
    for dir in [
        ".vscode/extensions",
        ".vscode-server/extensions",
        ".cursor/extensions",
        ".windsurf/extensions",
    ] {
        extensions(scanner, &home.join(dir));
    }
    // Native installers keep one entry per version.
    native_versions(scanner, "claude-code", &home.join(".local/share/claude/versions"));
    native_versions(
        scanner,
        "cursor-agent",
        &home.join(".local/share/cursor-agent/versions"),
    );
}

/// Looks for installed agents system-wide.
pub fn scan_system(scanner: &mut Scanner, root: &Path, prefixes: &[PathBuf]) {
    for npm in system_npm_roots(root, prefixes) {
        npm_root(scanner, &npm);
    }
    for site in python_site_dirs(root, false) {
        python_site(scanner, &site);
    }
}

fn npm_root(scanner: &mut Scanner, root: &Path) {
    for (agent, package) in NPM {
        let manifest = root.join(package).join("package.json");
        let Ok(Some(text)) = files::read_text(&manifest) else {
            continue;
        };
        let version = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|value| value.get("version").and_then(Value::as_str).map(str::to_string));
        scanner.agent(agent, "npm", Some(package), version, &root.join(package));
    }
}

fn python_site(scanner: &mut Scanner, site: &Path) {
    let Ok(entries) = std::fs::read_dir(site) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".dist-info") else {
            continue;
        };
        let Some((distribution, version)) = stem.rsplit_once('-') else {
            continue;
        };
        let normalised = distribution.to_ascii_lowercase().replace(['-', '.'], "_");
        if let Some((agent, _)) = PYTHON.iter().find(|(_, known)| *known == normalised) {
            scanner.agent(
                agent,
                "python",
                Some(distribution),
                Some(version.to_string()),
                &entry.path(),
            );
        }
    }
}

fn extensions(scanner: &mut Scanner, dir: &Path) {
    for extension in files::subdirs(dir) {
        let name = extension
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        for (agent, id) in EXTENSIONS {
            if let Some(rest) = name.strip_prefix(&format!("{id}-")) {
                let version: String = rest
                    .split('-')
                    .next()
                    .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                    .unwrap_or(rest)
                    .to_string();
                scanner.agent(agent, "editor-extension", Some(id), Some(version), &extension);
            }
        }
    }
}

fn native_versions(scanner: &mut Scanner, agent: &str, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut versions: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.path()))
        .filter(|(name, _)| name.starts_with(|c: char| c.is_ascii_digit()) && name.contains('.'))
        .collect();
    versions.sort();
    for (version, path) in versions {
        scanner.agent(agent, "native", None, Some(version), &path);
    }
}
