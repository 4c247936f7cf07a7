//! Claude Code: `~/.claude.json` (user and per-project MCP servers), `~/.claude/settings*.json`
//! (permissions, hooks, env), skills, plugins, instruction files, project `.mcp.json` and
//! `.claude/`, and managed settings under /etc/claude-code.

use std::path::Path;

use serde_json::Value;

use super::hook_commands;
use crate::inventory::{catalogue, files, mcp, scanner::Scanner};

const AGENT: &str = "claude-code";

pub fn scan_home(sc: &mut Scanner, home: &Path) {
    if home.join(".claude").is_dir() || home.join(".claude.json").is_file() {
        sc.agent(AGENT, "config", None, None, &home.join(".claude"));
    }
    let state = home.join(".claude.json");
    if let Some((text, value)) = sc.config_json(AGENT, &state) {
        sc.mcp_servers(mcp::from_map(AGENT, value.get("mcpServers"), &state, &text));
        if let Some(Value::Object(projects)) = value.get("projects") {
            for project in projects.values() {
                sc.mcp_servers(mcp::from_map(AGENT, project.get("mcpServers"), &state, &text));
            }
        }
    }
    let dir = home.join(".claude");
    for name in ["settings.json", "settings.local.json"] {
        settings(sc, &dir.join(name));
    }
    sc.credential_store(AGENT, &dir.join(".credentials.json"));
    sc.instructions(AGENT, &dir.join("CLAUDE.md"));
    markdown_dir(sc, &dir.join("agents"));
    markdown_dir(sc, &dir.join("commands"));
    sc.skills_in(AGENT, &dir.join("skills"));
    plugins(sc, &dir.join("plugins"));
}

pub fn scan_project(sc: &mut Scanner, project: &Path) {
    let servers = project.join(".mcp.json");
    if let Some((text, value)) = sc.config_json(AGENT, &servers) {
        sc.mcp_servers(mcp::from_map(AGENT, value.get("mcpServers"), &servers, &text));
    }
    let dir = project.join(".claude");
    for name in ["settings.json", "settings.local.json"] {
        settings(sc, &dir.join(name));
    }
    sc.instructions(AGENT, &project.join("CLAUDE.md"));
    sc.instructions(AGENT, &project.join("CLAUDE.local.md"));
    markdown_dir(sc, &dir.join("agents"));
    markdown_dir(sc, &dir.join("commands"));
    sc.skills_in(AGENT, &dir.join("skills"));
}

pub fn scan_system(sc: &mut Scanner, root: &Path) {
    let dir = root.join("etc/claude-code");
    settings(sc, &dir.join("managed-settings.json"));
    let managed = dir.join("managed-mcp.json");
    if let Some((text, value)) = sc.config_json(AGENT, &managed) {
        sc.mcp_servers(mcp::from_map(AGENT, value.get("mcpServers"), &managed, &text));
    }
}

/// Subagent and command definitions: instructions like any other.
fn markdown_dir(sc: &mut Scanner, dir: &Path) {
    for file in files::walk(dir, 2, 200) {
        if file.extension().is_some_and(|ext| ext == "md") {
            sc.instructions(AGENT, &file);
        }
    }
}

/// Plugins: every directory with a `.claude-plugin/plugin.json`, its MCP servers and files.
fn plugins(sc: &mut Scanner, dir: &Path) {
    for file in files::walk(dir, 7, 5000) {
        if !file.ends_with(".claude-plugin/plugin.json") {
            continue;
        }
        let Some(plugin) = file.parent().and_then(Path::parent) else {
            continue;
        };
        sc.skill(AGENT, "plugin", plugin, &file);
        let servers = plugin.join(".mcp.json");
        if let Some((text, value)) = sc.config_json(AGENT, &servers) {
            let map = value.get("mcpServers").or(Some(&value));
            sc.mcp_servers(mcp::from_map(AGENT, map, &servers, &text));
        }
    }
}

/// One settings file: permission mode, allow rules, MCP trust, hooks, env overrides.
pub fn settings(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_json(AGENT, path) else {
        return;
    };
    let permissions = value.get("permissions");
    if permissions.and_then(|p| p.get("defaultMode")).and_then(Value::as_str) == Some("bypassPermissions") {
        sc.flag(
            &catalogue::APPROVALS_DISABLED,
            AGENT,
            path,
            &text,
            "bypassPermissions",
            "permissions.defaultMode is bypassPermissions".into(),
        );
    }
    if let Some(Value::Array(allow)) = permissions.and_then(|p| p.get("allow")) {
        for rule in allow.iter().filter_map(Value::as_str) {
            if broad_rule(rule) {
                sc.flag(
                    &catalogue::BROAD_ALLOW_RULE,
                    AGENT,
                    path,
                    &text,
                    &format!("\"{rule}\""),
                    format!("allow rule `{rule}` approves any use in advance"),
                );
            }
        }
    }
    if value.get("enableAllProjectMcpServers") == Some(&Value::Bool(true)) {
        sc.flag(
            &catalogue::MCP_AUTO_TRUSTED,
            AGENT,
            path,
            &text,
            "enableAllProjectMcpServers",
            "enableAllProjectMcpServers approves every project's .mcp.json servers".into(),
        );
    }
    if let Some(Value::Object(hooks)) = value.get("hooks") {
        for (event, entries) in hooks {
            for command in hook_commands(entries) {
                sc.flag(
                    &catalogue::HOOK_RUNS_COMMAND,
                    AGENT,
                    path,
                    &text,
                    &command,
                    format!("{event} hook runs `{}`", command.chars().take(80).collect::<String>()),
                );
            }
        }
    }
    sc.env_map(AGENT, path, &text, value.get("env"));
}

/// Allow rules that approve any shell command or any fetch.
pub fn broad_rule(rule: &str) -> bool {
    let rule = rule.replace(' ', "");
    matches!(
        rule.as_str(),
        "Bash" | "Bash(*)" | "Bash(:*)" | "Bash(**)" | "WebFetch" | "WebFetch(*)" | "WebFetch(domain:*)" | "*"
    ) || rule.starts_with("Bash(sudo") && rule.ends_with("*)")
}

#[cfg(test)]
mod tests {
    #[test]
    fn broad_rules() {
        for rule in ["Bash", "Bash(*)", "WebFetch", "Bash(sudo:*)"] {
            assert!(super::broad_rule(rule), "{rule}");
        }
        for rule in ["Bash(npm test:*)", "WebFetch(domain:docs.rs)", "Read"] {
            assert!(!super::broad_rule(rule), "{rule}");
        }
    }
}
