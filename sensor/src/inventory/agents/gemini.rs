//! Gemini CLI and Qwen Code (a fork with the same layout): `settings.json` (MCP servers and their
//! trust, approval mode, allowed tools, hooks), `.env`, OAuth stores, extensions, skills, and
//! GEMINI.md / QWEN.md.

use std::path::Path;

use serde_json::Value;

use super::hook_commands;
use crate::inventory::{catalogue, files, mcp, scanner::Scanner};

/// (agent, directory name, instruction file, extension manifest, system settings directory).
const FLAVOURS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "gemini-cli",
        ".gemini",
        "GEMINI.md",
        "gemini-extension.json",
        "etc/gemini-cli",
    ),
    ("qwen-code", ".qwen", "QWEN.md", "qwen-extension.json", "etc/qwen-code"),
];

pub fn scan_home(sc: &mut Scanner, home: &Path) {
    for (agent, dir_name, instructions, manifest, _) in FLAVOURS {
        let dir = home.join(dir_name);
        if !dir.is_dir() {
            continue;
        }
        sc.agent(agent, "config", None, None, &dir);
        settings(sc, agent, &dir.join("settings.json"));
        sc.env_file(agent, &dir.join(".env"));
        sc.config_text(agent, &dir.join("trustedFolders.json"));
        for store in ["oauth_creds.json", "google_accounts.json", "mcp-oauth-tokens.json"] {
            sc.credential_store(agent, &dir.join(store));
        }
        sc.instructions(agent, &dir.join(instructions));
        sc.skills_in(agent, &dir.join("skills"));
        extensions(sc, agent, &dir.join("extensions"), manifest);
    }
}

pub fn scan_project(sc: &mut Scanner, project: &Path) {
    for (agent, dir_name, instructions, manifest, _) in FLAVOURS {
        let dir = project.join(dir_name);
        settings(sc, agent, &dir.join("settings.json"));
        sc.env_file(agent, &dir.join(".env"));
        sc.instructions(agent, &project.join(instructions));
        sc.skills_in(agent, &dir.join("skills"));
        extensions(sc, agent, &dir.join("extensions"), manifest);
    }
}

pub fn scan_system(sc: &mut Scanner, root: &Path) {
    for (agent, _, _, _, system) in FLAVOURS {
        settings(sc, agent, &root.join(system).join("settings.json"));
    }
}

fn extensions(sc: &mut Scanner, agent: &str, dir: &Path, manifest: &str) {
    for extension in files::subdirs(dir) {
        let defining = extension.join(manifest);
        if !defining.is_file() {
            continue;
        }
        sc.skill(agent, "extension", &extension, &defining);
        if let Some((text, value)) = sc.config_json(agent, &defining) {
            sc.mcp_servers(mcp::from_map(agent, value.get("mcpServers"), &defining, &text));
        }
    }
}

fn settings(sc: &mut Scanner, agent: &str, path: &Path) {
    let Some((text, value)) = sc.config_json(agent, path) else {
        return;
    };
    let servers = mcp::from_map(agent, value.get("mcpServers"), path, &text);
    if let Some(Value::Object(specs)) = value.get("mcpServers") {
        for (name, spec) in specs {
            if spec.get("trust") == Some(&Value::Bool(true)) {
                sc.flag(
                    &catalogue::MCP_AUTO_TRUSTED,
                    agent,
                    path,
                    &text,
                    &format!("\"{name}\""),
                    format!("MCP server `{name}` has trust: true (its tool calls skip confirmation)"),
                );
            }
        }
    }
    sc.mcp_servers(servers);
    let sections = [
        Some(&value),
        value.get("general"),
        value.get("tools"),
        value.get("security"),
    ];
    for section in sections.into_iter().flatten() {
        for key in ["approvalMode", "defaultApprovalMode", "approval_mode"] {
            if section
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|mode| mode.eq_ignore_ascii_case("yolo"))
            {
                sc.flag(
                    &catalogue::APPROVALS_DISABLED,
                    agent,
                    path,
                    &text,
                    key,
                    format!("{key} is yolo"),
                );
            }
        }
        for key in ["allowed", "allowedTools", "coreTools"] {
            let Some(Value::Array(tools)) = section.get(key) else {
                continue;
            };
            for tool in tools.iter().filter_map(Value::as_str) {
                if matches!(tool, "run_shell_command" | "ShellTool" | "run_shell_command(*)" | "*")
                    && key != "coreTools"
                {
                    sc.flag(
                        &catalogue::BROAD_ALLOW_RULE,
                        agent,
                        path,
                        &text,
                        &format!("\"{tool}\""),
                        format!("{key} allows `{tool}` without confirmation"),
                    );
                }
            }
        }
    }
    if let Some(Value::Object(hooks)) = value.get("hooks") {
        for (event, entries) in hooks {
            for command in hook_commands(entries) {
                sc.flag(
                    &catalogue::HOOK_RUNS_COMMAND,
                    agent,
                    path,
                    &text,
                    &command,
                    format!("{event} hook runs `{}`", command.chars().take(80).collect::<String>()),
                );
            }
        }
    }
}
