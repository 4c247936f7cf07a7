//! Terminal agents configured by one file each: Goose (`~/.config/goose/config.yaml`), Aider
//! (`.aider.conf.yml`, `.env`) and OpenCode (`opencode.json`).

use std::path::Path;

use serde_json::Value;

use crate::inventory::{catalogue, mcp, scanner::Scanner};

pub fn scan_home(sc: &mut Scanner, home: &Path) {
    let goose = home.join(".config/goose");
    if goose.is_dir() {
        sc.agent("goose", "config", None, None, &goose);
    }
    goose_config(sc, &goose.join("config.yaml"));
    sc.config_text("goose", &goose.join("permission.yaml"));
    sc.credential_store("goose", &goose.join("secrets.yaml"));
    sc.instructions("goose", &goose.join(".goosehints"));

    aider_config(sc, &home.join(".aider.conf.yml"));
    sc.env_file("aider", &home.join(".env"));

    let opencode = home.join(".config/opencode");
    if opencode.is_dir() {
        sc.agent("opencode", "config", None, None, &opencode);
    }
    for name in ["opencode.json", "opencode.jsonc", "config.json"] {
        opencode_config(sc, &opencode.join(name));
    }
    sc.instructions("opencode", &opencode.join("AGENTS.md"));
    sc.credential_store("opencode", &home.join(".local/share/opencode/auth.json"));
}

pub fn scan_project(sc: &mut Scanner, project: &Path) {
    sc.instructions("goose", &project.join(".goosehints"));
    aider_config(sc, &project.join(".aider.conf.yml"));
    sc.env_file("aider", &project.join(".env"));
    for name in ["opencode.json", "opencode.jsonc"] {
        opencode_config(sc, &project.join(name));
    }
}

fn goose_config(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_yaml("goose", path) else {
        return;
    };
    if value.get("GOOSE_MODE").and_then(Value::as_str) == Some("auto") {
        sc.flag(
            &catalogue::APPROVALS_DISABLED,
            "goose",
            path,
            &text,
            "GOOSE_MODE",
            "GOOSE_MODE is auto (tools run without approval)".into(),
        );
    }
    if let Value::Object(settings) = &value {
        for (key, setting) in settings {
            if let Some(url) = setting.as_str().filter(|_| key.ends_with("_HOST")) {
                sc.endpoint_override("goose", path, &text, key, url);
            }
        }
    }
    sc.mcp_servers(mcp::from_map("goose", value.get("extensions"), path, &text));
}

fn aider_config(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_yaml("aider", path) else {
        return;
    };
    if value.get("yes-always") == Some(&Value::Bool(true)) || value.get("yes") == Some(&Value::Bool(true)) {
        sc.flag(
            &catalogue::APPROVALS_DISABLED,
            "aider",
            path,
            &text,
            "yes",
            "yes-always answers every confirmation (including running shell commands)".into(),
        );
    }
    for key in ["openai-api-base", "openai-base-url", "anthropic-base-url"] {
        if let Some(url) = value.get(key).and_then(Value::as_str) {
            sc.endpoint("aider", path, &text, &key.replace('-', "_"), url);
        }
    }
}

fn opencode_config(sc: &mut Scanner, path: &Path) {
    let Some((text, value)) = sc.config_json("opencode", path) else {
        return;
    };
    sc.mcp_servers(mcp::from_map("opencode", value.get("mcp"), path, &text));
    match value.get("permission") {
        Some(Value::String(all)) if all == "allow" => sc.flag(
            &catalogue::APPROVALS_DISABLED,
            "opencode",
            path,
            &text,
            "\"permission\"",
            "permission is \"allow\" for every tool".into(),
        ),
        Some(Value::Object(tools)) => {
            for tool in ["bash", "webfetch"] {
                if tools.get(tool).and_then(Value::as_str) == Some("allow") {
                    sc.flag(
                        &catalogue::BROAD_ALLOW_RULE,
                        "opencode",
                        path,
                        &text,
                        &format!("\"{tool}\""),
                        format!("permission.{tool} is \"allow\" for any command"),
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Object(providers)) = value.get("provider") {
        for (name, provider) in providers {
            if let Some(url) = provider.pointer("/options/baseURL").and_then(Value::as_str) {
                sc.endpoint(
                    "opencode",
                    path,
                    &text,
                    &format!("provider.{name}.options.baseURL"),
                    url,
                );
            }
        }
    }
}
