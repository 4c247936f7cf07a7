//! MCP servers as agents configure them (never started): reading the usual shapes of
//! `mcpServers` maps, and what makes a server over-privileged.

use std::path::Path;

use serde_json::Value;

use super::{
    catalogue,
    files::line_of,
    model::{Finding, McpServer, Transport},
};

/// The servers of a `{name: {command, args, url, …}}` map (Claude, Cursor, Gemini, VS Code…).
pub fn from_map(agent: &str, map: Option<&Value>, file: &Path, text: &str) -> Vec<McpServer> {
    let Some(Value::Object(map)) = map else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, spec)| server(agent, name, spec, file, text))
        .collect()
}

/// The servers of a `[{name, command, …}]` list (Continue).
pub fn from_list(agent: &str, list: Option<&Value>, file: &Path, text: &str) -> Vec<McpServer> {
    let Some(Value::Array(list)) = list else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|spec| {
            let name = spec.get("name").and_then(Value::as_str)?;
            server(agent, name, spec, file, text)
        })
        .collect()
}

/// One server from its entry; `None` when the entry names neither a command nor a URL (or is
/// disabled, or built into the agent).
pub fn server(agent: &str, name: &str, spec: &Value, file: &Path, text: &str) -> Option<McpServer> {
    if spec.get("enabled") == Some(&Value::Bool(false)) || spec.get("disabled") == Some(&Value::Bool(true)) {
        return None;
    }
    let kind = ["type", "transport"]
        .iter()
        .find_map(|key| spec.get(*key).and_then(Value::as_str))
        .unwrap_or("");
    if kind == "builtin" || kind == "platform" {
        return None;
    }
    let mut command = None;
    let mut args: Vec<String> = strings(spec.get("args"));
    match spec.get("command").or_else(|| spec.get("cmd")) {
        Some(Value::String(text)) => command = Some(text.clone()),
        Some(Value::Array(parts)) => {
            let mut parts = strings(Some(&Value::Array(parts.clone())));
            if !parts.is_empty() {
                command = Some(parts.remove(0));
                parts.extend(args);
                args = parts;
            }
        }
        _ => {}
    }
    let url = ["url", "httpUrl", "serverUrl", "uri"]
        .iter()
        .find_map(|key| spec.get(*key).and_then(Value::as_str))
        .map(str::to_string);
    let transport = match (&command, kind) {
        (Some(_), _) => Transport::Stdio,
        (None, "sse") => Transport::Sse,
        (None, _) if url.is_some() => Transport::Http,
        _ => return None,
    };
    let env_keys = match spec
        .get("env")
        .or_else(|| spec.get("environment"))
        .or_else(|| spec.get("envs"))
    {
        Some(Value::Object(env)) => env.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let package = command.as_deref().and_then(|command| launched_package(command, &args));
    // Keys passed on the command line or in a URL are reported by the secret scan of the file;
    // the record never carries them.
    let redact = super::secrets::redact;
    let command = command.map(|command| redact(&command));
    let args = args.iter().map(|arg| redact(arg)).collect();
    let url = url.map(|url| redact(&url));
    Some(McpServer {
        agent: agent.to_string(),
        name: name.to_string(),
        transport,
        command,
        args,
        url,
        env_keys,
        file: file.to_path_buf(),
        line: line_of(text, &format!("\"{name}\"")).or_else(|| line_of(text, name)),
        package,
    })
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn program(command: &str) -> &str {
    command.rsplit('/').next().unwrap_or(command)
}

/// The package a launcher fetches and runs, with its version when the spec pins one.
pub fn launched_package(command: &str, args: &[String]) -> Option<(String, Option<String>)> {
    let program = program(command);
    let rest: Vec<&str> = match program {
        "npx" | "pnpx" | "bunx" | "uvx" => args.iter().map(String::as_str).collect(),
        "pnpm" | "yarn" if args.first().is_some_and(|a| a == "dlx") => args[1..].iter().map(String::as_str).collect(),
        "pipx" | "uv" if args.first().is_some_and(|a| a == "run") => args[1..].iter().map(String::as_str).collect(),
        "uv" if args.first().is_some_and(|a| a == "tool") && args.get(1).is_some_and(|a| a == "run") => {
            args[2..].iter().map(String::as_str).collect()
        }
        _ => return None,
    };
    let python = matches!(program, "uvx" | "pipx" | "uv");
    let mut index = 0;
    let mut spec = None;
    while index < rest.len() {
        let arg = rest[index];
        if arg == "--from" || arg == "--package" || arg == "-p" {
            spec = rest.get(index + 1).copied();
            break;
        }
        if let Some(value) = arg.strip_prefix("--package=").or_else(|| arg.strip_prefix("--from=")) {
            spec = Some(value);
            break;
        }
        if arg.starts_with('-') {
            index += 1;
            continue;
        }
        spec = Some(arg);
        break;
    }
    let spec = spec?;
    Some(if python { split_python(spec) } else { split_npm(spec) })
}

fn split_npm(spec: &str) -> (String, Option<String>) {
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", spec),
    };
    match rest.split_once('@') {
        Some((name, version)) if pinned(version) => (format!("{scope}{name}"), Some(version.to_string())),
        Some((name, _)) => (format!("{scope}{name}"), None),
        None => (spec.to_string(), None),
    }
}

fn split_python(spec: &str) -> (String, Option<String>) {
    for separator in ["==", "@"] {
        if let Some((name, version)) = spec.split_once(separator) {
            return (name.to_string(), pinned(version).then(|| version.to_string()));
        }
    }
    (spec.to_string(), None)
}

/// A version, not a tag or a range (`latest`, `^1`, `>=2`).
fn pinned(version: &str) -> bool {
    version.chars().next().is_some_and(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

/// Findings about one server.
pub fn check(server: &McpServer, home: Option<&Path>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut found = |check, message: String, evidence: String| {
        findings.push(
            Finding::new(check, &server.file, message)
                .line(server.line)
                .agent(&server.agent)
                .evidence(super::secrets::redact(&evidence)),
        );
    };
    let command_line = std::iter::once(server.command.clone().unwrap_or_default())
        .chain(server.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(command) = &server.command {
        let temp = |text: &str| {
            ["/tmp/", "/var/tmp/", "/dev/shm/"]
                .iter()
                .any(|dir| text.starts_with(dir))
        };
        if temp(command) || server.args.first().is_some_and(|arg| temp(arg)) {
            found(
                &catalogue::MCP_TEMP_COMMAND,
                format!("MCP server `{}` runs from a temporary directory", server.name),
                command_line.clone(),
            );
        }
        if encoded(command, &server.args) {
            found(
                &catalogue::MCP_ENCODED_COMMAND,
                format!("MCP server `{}` runs an encoded command", server.name),
                command_line.chars().take(160).collect(),
            );
        }
        if let Some((package, None)) = &server.package {
            found(
                &catalogue::MCP_UNPINNED,
                format!("MCP server `{}` runs `{package}` without a pinned version", server.name),
                command_line.clone(),
            );
        }
        if filesystem_broad(server, home) {
            found(
                &catalogue::MCP_FILESYSTEM_BROAD,
                format!("filesystem MCP server `{}` is rooted at / or the home", server.name),
                command_line.clone(),
            );
        }
        if shell_capable(server) {
            found(
                &catalogue::MCP_SHELL,
                format!("MCP server `{}` can run shell commands", server.name),
                command_line.clone(),
            );
        }
    }
    if let Some(url) = &server.url
        && let Some(host) = url
            .starts_with("http://")
            .then(|| super::hosts::url_host(url))
            .flatten()
        && !super::hosts::is_loopback(&host)
    {
        found(
            &catalogue::MCP_PLAIN_HTTP,
            format!("MCP server `{}` is reached over plain http at {host}", server.name),
            url.clone(),
        );
    }
    findings
}

fn encoded(command: &str, args: &[String]) -> bool {
    let all = format!("{command} {}", args.join(" ")).to_ascii_lowercase();
    let shell = matches!(
        program(command),
        "sh" | "bash" | "zsh" | "dash" | "python" | "python3" | "node" | "perl"
    );
    (shell
        && (all.contains("base64 -d")
            || all.contains("base64 --decode")
            || all.contains("b64decode")
            || all.contains("atob(")
            || all.contains("buffer.from(")))
        || (program(command).starts_with("pwsh") || program(command).starts_with("powershell"))
            && args
                .iter()
                .any(|a| a.eq_ignore_ascii_case("-enc") || a.eq_ignore_ascii_case("-encodedcommand"))
        || args.iter().any(|arg| {
            arg.len() >= 120
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        })
}

fn filesystem_broad(server: &McpServer, home: Option<&Path>) -> bool {
    let line = format!("{} {}", server.command.as_deref().unwrap_or(""), server.args.join(" "));
    if !line.contains("filesystem") {
        return false;
    }
    server.args.iter().any(|arg| {
        let arg = arg.trim_end_matches('/');
        arg.is_empty()
            || matches!(arg, "~" | "$HOME" | "${HOME}" | "/home" | "/root" | "/Users")
            || home.is_some_and(|home| Path::new(arg) == home)
    })
}

fn shell_capable(server: &McpServer) -> bool {
    const NAMES: &[&str] = &[
        "shell",
        "terminal",
        "desktop-commander",
        "server-commands",
        "run-command",
        "command-runner",
        "mcp-server-bash",
        "iterm-mcp",
    ];
    let package = server.package.as_ref().map(|(name, _)| name.as_str()).unwrap_or("");
    let program = server.command.as_deref().map(program).unwrap_or("");
    NAMES
        .iter()
        .any(|name| package.contains(name) || program.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_of(json: &str) -> McpServer {
        let value: Value = serde_json::from_str(json).expect("json");
        server("claude-code", "s", &value, Path::new("/h/.claude.json"), json).expect("a server")
    }

    fn ids(json: &str) -> Vec<&'static str> {
        check(&server_of(json), Some(Path::new("/home/alice")))
            .iter()
            .map(|f| f.check.id)
            .collect()
    }

    #[test]
    fn launchers_and_pins() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            launched_package("npx", &args(&["-y", "@modelcontextprotocol/server-filesystem", "/"])),
            Some(("@modelcontextprotocol/server-filesystem".into(), None))
        );
        assert_eq!(
            launched_package("npx", &args(&["-y", "@scope/pkg@1.2.3"])),
            Some(("@scope/pkg".into(), Some("1.2.3".into())))
        );
        assert_eq!(
            launched_package("npx", &args(&["pkg@latest"])),
            Some(("pkg".into(), None))
        );
        assert_eq!(
            launched_package("uvx", &args(&["mcp-server-git==0.6.2"])),
            Some(("mcp-server-git".into(), Some("0.6.2".into())))
        );
        assert_eq!(
            launched_package("uvx", &args(&["--from", "pkg@2.0", "cmd"])),
            Some(("pkg".into(), Some("2.0".into())))
        );
        assert_eq!(launched_package("/usr/bin/node", &args(&["server.js"])), None);
    }

    #[test]
    fn each_check_both_ways() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "mcp-temp-command",
                r#"{"command":"/tmp/x/server"}"#,
                r#"{"command":"/opt/mcp/server"}"#,
            ),
            (
                "mcp-encoded-command",
                r#"{"command":"bash","args":["-c","echo ZWNobyBoaQ== | base64 -d | sh"]}"#,
                r#"{"command":"bash","args":["-c","exec ./server"]}"#,
            ),
            (
                "mcp-unpinned-launcher",
                r#"{"command":"npx","args":["-y","some-mcp"]}"#,
                r#"{"command":"npx","args":["-y","some-mcp@1.0.4"]}"#,
            ),
            (
                "mcp-filesystem-broad",
                r#"{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem@1.0.0","/home/alice"]}"#,
                r#"{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem@1.0.0","/home/alice/src/app"]}"#,
            ),
            (
                "mcp-shell-capable",
                r#"{"command":"npx","args":["-y","@wonderwhy-er/desktop-commander@0.2.0"]}"#,
                r#"{"command":"npx","args":["-y","@modelcontextprotocol/server-memory@1.0.0"]}"#,
            ),
            (
                "mcp-plain-http",
                r#"{"type":"http","url":"http://mcp.example.com/mcp"}"#,
                r#"{"type":"http","url":"http://127.0.0.1:8931/mcp"}"#,
            ),
        ];
        for (id, bad, good) in cases {
            assert!(ids(bad).contains(id), "{id} missed: {bad}");
            assert!(!ids(good).contains(id), "{id} false positive: {good}");
        }
    }

    #[test]
    fn transports_and_shapes() {
        assert_eq!(
            server_of(r#"{"url":"https://x/sse","type":"sse"}"#).transport,
            Transport::Sse
        );
        assert_eq!(server_of(r#"{"httpUrl":"https://x/mcp"}"#).transport, Transport::Http);
        let opencode = server_of(r#"{"type":"local","command":["npx","-y","pkg@1.0.0"],"environment":{"K":"v"}}"#);
        assert_eq!(opencode.command.as_deref(), Some("npx"));
        assert_eq!(opencode.args, ["-y", "pkg@1.0.0"]);
        assert_eq!(opencode.env_keys, ["K"]);
        let off: Value = serde_json::from_str(r#"{"command":"x","disabled":true}"#).expect("json");
        assert!(server("a", "s", &off, Path::new("/f"), "").is_none());
    }
}
