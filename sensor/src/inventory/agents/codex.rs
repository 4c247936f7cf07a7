//! Codex: `$CODEX_HOME` or `~/.codex` (`config.toml` with approval and sandbox settings,
//! `[mcp_servers.*]`, model providers, `notify`), `auth.json`, skills, rules, `AGENTS.md`.

use std::path::Path;

use serde_json::Value;

use crate::inventory::{catalogue, files, mcp, scanner::Scanner};

const AGENT: &str = "codex";

/// `codex_home` is `CODEX_HOME` for the current user's home, else `~/.codex`.
pub fn scan_home(sc: &mut Scanner, home: &Path, codex_home: Option<&Path>) {
    let owned = home.join(".codex");
    let dir = codex_home.unwrap_or(&owned);
    if dir.is_dir() {
        sc.agent(AGENT, "config", None, None, dir);
    }
    config(sc, &dir.join("config.toml"));
    sc.credential_store(AGENT, &dir.join("auth.json"));
    sc.instructions(AGENT, &dir.join("AGENTS.md"));
    sc.instructions(AGENT, &dir.join("AGENTS.override.md"));
    sc.skills_in(AGENT, &dir.join("skills"));
    sc.skills_in(AGENT, &home.join(".agents/skills"));
    for rules in files::walk(&dir.join("rules"), 2, 200) {
        sc.config_text(AGENT, &rules);
    }
}

pub fn scan_project(sc: &mut Scanner, project: &Path) {
    config(sc, &project.join(".codex/config.toml"));
    sc.instructions(AGENT, &project.join("AGENTS.md"));
    sc.instructions(AGENT, &project.join("AGENTS.override.md"));
    sc.skills_in(AGENT, &project.join(".codex/skills"));
    sc.skills_in(AGENT, &project.join(".agents/skills"));
}

pub fn scan_system(sc: &mut Scanner, root: &Path) {
    for name in ["config.toml", "managed_config.toml"] {
        config(sc, &root.join("etc/codex").join(name));
    }
}

fn config(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_toml(AGENT, path) else {
        return;
    };
    policy(sc, path, &text, &value, "");
    if let Some(Value::Object(profiles)) = value.get("profiles") {
        for (name, profile) in profiles {
            policy(sc, path, &text, profile, &format!("profile `{name}`: "));
        }
    }
    sc.mcp_servers(mcp::from_map(AGENT, value.get("mcp_servers"), path, &text));
    if let Some(Value::Array(notify)) = value.get("notify") {
        let command: Vec<_> = notify.iter().filter_map(Value::as_str).collect();
        if !command.is_empty() {
            sc.flag(
                &catalogue::HOOK_RUNS_COMMAND,
                AGENT,
                path,
                &text,
                "notify",
                format!("notify runs `{}` after each turn", command.join(" ")),
            );
        }
    }
    if let Some(Value::Object(providers)) = value.get("model_providers") {
        for (name, provider) in providers {
            if let Some(url) = provider.get("base_url").and_then(Value::as_str) {
                sc.endpoint(AGENT, path, &text, &format!("model_providers.{name}.base_url"), url);
            }
        }
    }
    if let Some(url) = value.get("openai_base_url").and_then(Value::as_str) {
        sc.endpoint(AGENT, path, &text, "openai_base_url", url);
    }
}

/// `approval_policy = "never"` and `sandbox_mode = "danger-full-access"`.
fn policy(sc: &mut Scanner, path: &Path, text: &str, table: &Value, prefix: &str) {
    if table.get("approval_policy").and_then(Value::as_str) == Some("never") {
        sc.flag(
            &catalogue::APPROVALS_DISABLED,
            AGENT,
            path,
            text,
            "approval_policy",
            format!("{prefix}approval_policy is \"never\""),
        );
    }
    if table.get("sandbox_mode").and_then(Value::as_str) == Some("danger-full-access") {
        sc.flag(
            &catalogue::SANDBOX_DISABLED,
            AGENT,
            path,
            text,
            "danger-full-access",
            format!("{prefix}sandbox_mode is \"danger-full-access\""),
        );
    }
}
