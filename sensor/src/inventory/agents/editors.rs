//! Editor agents and desktop apps: Cursor, VS Code (and Insiders, VSCodium), Windsurf, Claude
//! Desktop, Continue and Cline: their MCP files, auto-approval settings and rule files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::inventory::{catalogue, files, mcp, scanner::Scanner};

/// VS Code-like editors' user settings directories under `~/.config`.
const CODE_DIRS: &[(&str, &str)] = &[
    ("vscode", "Code"),
    ("vscode", "Code - Insiders"),
    ("vscode", "VSCodium"),
    ("cursor", "Cursor"),
    ("windsurf", "Windsurf"),
];

pub fn scan_home(sc: &mut Scanner, home: &Path) {
    // Cursor
    if home.join(".cursor").is_dir() {
        sc.agent("cursor", "config", None, None, &home.join(".cursor"));
    }
    mcp_file(sc, "cursor", &home.join(".cursor/mcp.json"), "mcpServers");
    for name in ["cli-config.json", "cli.json"] {
        cursor_cli(sc, &home.join(".cursor").join(name));
    }
    // VS Code-like editors: settings.json `mcp.servers`, mcp.json `servers`, Cline's settings.
    for (agent, dir) in CODE_DIRS {
        let user = home.join(".config").join(dir).join("User");
        code_settings(sc, agent, &user.join("settings.json"));
        mcp_file(sc, agent, &user.join("mcp.json"), "servers");
        let cline = user.join("globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json");
        cline_settings(sc, &cline);
    }
    cline_settings(sc, &home.join(".cline/data/settings/cline_mcp_settings.json"));
    // Windsurf
    mcp_file(
        sc,
        "windsurf",
        &home.join(".codeium/windsurf/mcp_config.json"),
        "mcpServers",
    );
    sc.instructions("windsurf", &home.join(".codeium/windsurf/memories/global_rules.md"));
    // Claude Desktop
    mcp_file(
        sc,
        "claude-desktop",
        &home.join(".config/Claude/claude_desktop_config.json"),
        "mcpServers",
    );
    // Continue
    continue_dir(sc, &home.join(".continue"));
}

pub fn scan_project(sc: &mut Scanner, project: &Path) {
    mcp_file(sc, "cursor", &project.join(".cursor/mcp.json"), "mcpServers");
    sc.instructions("cursor", &project.join(".cursorrules"));
    for rule in files::walk(&project.join(".cursor/rules"), 2, 200) {
        sc.instructions("cursor", &rule);
    }
    mcp_file(sc, "vscode", &project.join(".vscode/mcp.json"), "servers");
    code_settings(sc, "vscode", &project.join(".vscode/settings.json"));
    sc.instructions("windsurf", &project.join(".windsurfrules"));
    for rule in rule_files(&project.join(".clinerules")) {
        sc.instructions("cline", &rule);
    }
    sc.instructions("vscode", &project.join(".github/copilot-instructions.md"));
    continue_dir(sc, &project.join(".continue"));
}

/// `.clinerules` is a file or a directory of files.
fn rule_files(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        files::walk(path, 2, 200)
    } else {
        vec![path.to_path_buf()]
    }
}

fn mcp_file(sc: &mut Scanner, agent: &str, path: &Path, key: &str) {
    if let Some((text, value)) = sc.config_json(agent, path) {
        sc.mcp_servers(mcp::from_map(agent, value.get(key), path, &text));
    }
}

/// VS Code settings: `mcp.servers`, and global tool auto-approval.
fn code_settings(sc: &mut Scanner, agent: &str, path: &Path) {
    let Some((text, value)) = sc.config_json(agent, path) else {
        return;
    };
    let servers = value.get("mcp").and_then(|mcp| mcp.get("servers"));
    sc.mcp_servers(mcp::from_map(agent, servers, path, &text));
    for key in ["chat.tools.autoApprove", "chat.tools.global.autoApprove"] {
        if value.get(key) == Some(&Value::Bool(true)) {
            sc.flag(
                &catalogue::APPROVALS_DISABLED,
                agent,
                path,
                &text,
                key,
                format!("{key} runs every tool without confirmation"),
            );
        }
    }
}

/// Cursor's CLI permissions: `Shell(*)` allows every command.
fn cursor_cli(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_json("cursor", path) else {
        return;
    };
    let allow = value
        .get("permissions")
        .and_then(|p| p.get("allow"))
        .and_then(Value::as_array);
    for rule in allow.into_iter().flatten().filter_map(Value::as_str) {
        if matches!(rule.replace(' ', "").as_str(), "Shell(*)" | "Shell(**)" | "*") {
            sc.flag(
                &catalogue::BROAD_ALLOW_RULE,
                "cursor",
                path,
                &text,
                rule,
                format!("allow rule `{rule}` approves any shell command"),
            );
        }
    }
}

/// Cline's MCP settings: servers, and tools approved in advance.
fn cline_settings(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_json("cline", path) else {
        return;
    };
    if let Some(Value::Object(specs)) = value.get("mcpServers") {
        for (name, spec) in specs {
            let approved = ["autoApprove", "alwaysAllow"].iter().any(|key| {
                spec.get(*key)
                    .and_then(Value::as_array)
                    .is_some_and(|list| !list.is_empty())
            });
            if approved {
                sc.flag(
                    &catalogue::MCP_AUTO_TRUSTED,
                    "cline",
                    path,
                    &text,
                    &format!("\"{name}\""),
                    format!("MCP server `{name}` has tools approved in advance"),
                );
            }
        }
    }
    sc.mcp_servers(mcp::from_map("cline", value.get("mcpServers"), path, &text));
}

/// Continue: `config.yaml` and `mcpServers/*.yaml` list their servers.
fn continue_dir(sc: &mut Scanner, dir: &Path) {
    let mut yamls = vec![dir.join("config.yaml")];
    yamls.extend(files::walk(&dir.join("mcpServers"), 1, 100));
    for path in yamls {
        let is_yaml = path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml");
        if !is_yaml {
            continue;
        }
        if let Some((text, value)) = sc.config_yaml("continue", &path) {
            sc.mcp_servers(mcp::from_list("continue", value.get("mcpServers"), &path, &text));
        }
    }
}
