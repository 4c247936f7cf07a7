//! OpenClaw: `~/.openclaw/openclaw.json` (gateway authentication and bind, exec approvals,
//! provider endpoints), `exec-approvals.json`, skills, extensions, workspace instruction files,
//! and the per-agent auth profiles (its credential store).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::inventory::{catalogue, files, hosts, mcp, scanner::Scanner};

const AGENT: &str = "openclaw";

/// Files OpenClaw loads from its workspace into every session.
const WORKSPACE_FILES: &[&str] = &[
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
];

pub fn scan_home(sc: &mut Scanner, home: &Path) {
    let dir = home.join(".openclaw");
    if !dir.is_dir() {
        return;
    }
    sc.agent(AGENT, "config", None, None, &dir);
    let config = dir.join("openclaw.json");
    let mut workspace = dir.join("workspace");
    if let Some((text, value)) = sc.config_json(AGENT, &config) {
        gateway(sc, &config, &text, &value);
        exec_policy(sc, &config, &text, value.get("tools").and_then(|t| t.get("exec")));
        sc.env_map(AGENT, &config, &text, value.get("env"));
        if let Some(Value::Object(providers)) = value.get("models").and_then(|m| m.get("providers")) {
            for (name, provider) in providers {
                if let Some(url) = provider.get("baseUrl").and_then(Value::as_str) {
                    sc.endpoint(AGENT, &config, &text, &format!("models.providers.{name}.baseUrl"), url);
                }
            }
        }
        sc.mcp_servers(mcp::from_map(AGENT, value.get("mcpServers"), &config, &text));
        if let Some(path) = value.pointer("/agents/defaults/workspace").and_then(Value::as_str) {
            workspace = expand_home(path, home);
        }
    }
    let approvals = dir.join("exec-approvals.json");
    if let Some((text, value)) = sc.config_json(AGENT, &approvals) {
        exec_policy(sc, &approvals, &text, value.get("defaults"));
    }
    sc.env_file(AGENT, &dir.join(".env"));
    for agent in files::subdirs(&dir.join("agents")) {
        sc.credential_store(AGENT, &agent.join("agent/auth-profiles.json"));
    }
    for credential in files::walk(&dir.join("credentials"), 2, 200) {
        sc.credential_store(AGENT, &credential);
    }
    sc.skills_in(AGENT, &dir.join("skills"));
    sc.skills_in(AGENT, &workspace.join("skills"));
    for extension in files::subdirs(&dir.join("extensions")) {
        let manifest = extension.join("openclaw.plugin.json");
        let defining = if manifest.is_file() {
            manifest
        } else {
            extension.join("package.json")
        };
        if defining.is_file() {
            sc.skill(AGENT, "extension", &extension, &defining);
        }
    }
    for name in WORKSPACE_FILES {
        sc.instructions(AGENT, &workspace.join(name));
    }
}

fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// A gateway that takes connections without a token or password.
fn gateway(sc: &mut Scanner, path: &Path, text: &str, value: &Value) {
    let Some(gateway) = value.get("gateway") else {
        return;
    };
    let auth = gateway.get("auth");
    let mode = auth.and_then(|a| a.get("mode")).and_then(Value::as_str);
    let has_secret = ["token", "password"]
        .iter()
        .any(|key| auth.and_then(|a| a.get(*key)).is_some_and(|v| !v.is_null()));
    let bind = gateway.get("bind").and_then(Value::as_str).unwrap_or("loopback");
    let exposed = !(bind == "loopback" || hosts::is_loopback(bind));
    if mode == Some("none") || (exposed && !has_secret && mode.is_none()) {
        sc.flag(
            &catalogue::GATEWAY_NO_AUTH,
            AGENT,
            path,
            text,
            if mode == Some("none") {
                "\"none\""
            } else {
                "\"gateway\""
            },
            format!("the gateway (bind {bind}) has no authentication"),
        );
    }
}

/// `security: full` with `ask: off` runs every command without asking.
fn exec_policy(sc: &mut Scanner, path: &Path, text: &str, policy: Option<&Value>) {
    let Some(policy) = policy else {
        return;
    };
    let security = policy.get("security").and_then(Value::as_str);
    let ask = policy.get("ask").and_then(Value::as_str);
    if security == Some("full") && ask == Some("off") {
        sc.flag(
            &catalogue::APPROVALS_DISABLED,
            AGENT,
            path,
            text,
            "\"security\"",
            "exec security is full and ask is off".into(),
        );
    }
}
