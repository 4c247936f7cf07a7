//! Inventory records: agents and versions from each kind of install, MCP servers from each
//! agent's file shape, skills, instruction files, model servers.

use agent_sensor::inventory::model::{Record, Transport};

use super::fixture::Fixture;

fn agents(fixture: &Fixture) -> Vec<(String, Option<String>, &'static str)> {
    fixture
        .scan()
        .records
        .into_iter()
        .filter_map(|owned| match owned.item {
            Record::Agent(agent) => Some((agent.agent, agent.version, agent.source)),
            _ => None,
        })
        .collect()
}

#[test]
fn versions_from_every_install_kind_and_nothing_run() {
    let mut fixture = Fixture::new();
    let package = |name: &str, version: &str| format!("{{\"name\":\"{name}\",\"version\":\"{version}\"}}");
    fixture.put(
        "/usr/lib/node_modules/@google/gemini-cli/package.json",
        package("@google/gemini-cli", "0.9.0"),
    );
    fixture.put(
        "~/.nvm/versions/node/v22.1.0/lib/node_modules/@qwen-code/qwen-code/package.json",
        package("@qwen-code/qwen-code", "0.0.14"),
    );
    fixture.put(
        "npm/lib/node_modules/@openai/codex/package.json",
        package("@openai/codex", "0.171.0"),
    );
    fixture.prefixes.push(fixture.path("npm"));
    // A native install: one file per version, never executed (this one would fail loudly).
    fixture.put("~/.local/share/claude/versions/2.0.14", "#!/bin/sh\nexit 99\n");
    fixture.put(
        "~/.local/lib/python3.11/site-packages/aider_chat-0.86.1.dist-info/METADATA",
        "Name: aider-chat\n",
    );
    fixture.put("~/.vscode/extensions/saoudrizwan.claude-dev-3.20.1/package.json", "{}");
    fixture.put("~/.config/goose/config.yaml", "GOOSE_PROVIDER: ollama\n");
    let found = agents(&fixture);
    for expected in [
        ("gemini-cli", Some("0.9.0"), "npm"),
        ("qwen-code", Some("0.0.14"), "npm"),
        ("codex", Some("0.171.0"), "npm"),
        ("claude-code", Some("2.0.14"), "native"),
        ("aider", Some("0.86.1"), "python"),
        ("cline", Some("3.20.1"), "editor-extension"),
        ("goose", None, "config"),
    ] {
        let expected = (expected.0.to_string(), expected.1.map(str::to_string), expected.2);
        assert!(found.contains(&expected), "{expected:?} missing from {found:?}");
    }
}

#[test]
fn mcp_servers_from_each_shape() {
    let fixture = Fixture::new();
    fixture.put(
        "~/.claude.json",
        r#"{"mcpServers": {"user-one": {"command": "npx", "args": ["-y", "pkg-a@1.0.0"]}},
            "projects": {"/src/app": {"mcpServers": {"local-one": {"type": "sse", "url": "https://a.example/sse"}}}}}"#,
    );
    fixture.put(
        "~/.codex/config.toml",
        "[mcp_servers.docs]\ncommand = \"docs-mcp\"\nargs = [\"--stdio\"]\nenv = { TOKEN_FILE = \"x\" }\n",
    );
    fixture.put(
        "~/.gemini/settings.json",
        r#"{"mcpServers": {"remote": {"httpUrl": "https://g.example/mcp"}}}"#,
    );
    fixture.put(
        "~/.cursor/mcp.json",
        r#"{"mcpServers": {"cur": {"command": "cur-mcp"}}}"#,
    );
    fixture.put(
        "p/.vscode/mcp.json",
        "{\n // comment\n \"servers\": {\"vs\": {\"type\": \"stdio\", \"command\": \"vs-mcp\"},},\n}",
    );
    fixture.put(
        "~/.codeium/windsurf/mcp_config.json",
        r#"{"mcpServers": {"wind": {"serverUrl": "https://w.example/mcp"}}}"#,
    );
    fixture.put(
        "~/.config/Claude/claude_desktop_config.json",
        r#"{"mcpServers": {"desk": {"command": "desk-mcp"}}}"#,
    );
    fixture.put(
        "~/.continue/config.yaml",
        "mcpServers:\n  - name: cont\n    command: cont-mcp\n",
    );
    fixture.put("~/.config/goose/config.yaml", "extensions:\n  dev:\n    type: builtin\n    enabled: true\n  fetch:\n    type: stdio\n    cmd: uvx\n    args: [mcp-server-fetch==1.0.0]\n    enabled: true\n");
    fixture.put(
        "~/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        r#"{"mcpServers": {"cl": {"command": "cl-mcp", "autoApprove": []}}}"#,
    );
    fixture.put(
        "~/.qwen/settings.json",
        r#"{"mcpServers": {"qw": {"command": "qw-mcp"}}}"#,
    );
    fixture.put(
        "~/.config/opencode/opencode.json",
        r#"{"mcp": {"oc": {"type": "local", "command": ["oc-mcp", "--x"]}}}"#,
    );
    let report = fixture.scan();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let servers: Vec<_> = report
        .records
        .iter()
        .filter_map(|owned| match &owned.item {
            Record::McpServer(server) => Some((server.agent.as_str(), server.name.as_str(), server.transport)),
            _ => None,
        })
        .collect();
    for expected in [
        ("claude-code", "user-one", Transport::Stdio),
        ("claude-code", "local-one", Transport::Sse),
        ("codex", "docs", Transport::Stdio),
        ("gemini-cli", "remote", Transport::Http),
        ("cursor", "cur", Transport::Stdio),
        ("vscode", "vs", Transport::Stdio),
        ("windsurf", "wind", Transport::Http),
        ("claude-desktop", "desk", Transport::Stdio),
        ("continue", "cont", Transport::Stdio),
        ("goose", "fetch", Transport::Stdio),
        ("opencode", "oc", Transport::Stdio),
        ("cline", "cl", Transport::Stdio),
        ("qwen-code", "qw", Transport::Stdio),
    ] {
        assert!(servers.contains(&expected), "{expected:?} missing from {servers:?}");
    }
    assert!(
        !servers.iter().any(|(_, name, _)| *name == "dev"),
        "builtin extensions are not MCP servers"
    );
}

#[test]
fn skills_instructions_and_model_servers() {
    let fixture = Fixture::new();
    let skill = "---\nname: pdf-forms\ndescription: Fill PDF forms\nallowed-tools: Read, Bash(python:*)\n---\n# PDF\n";
    fixture.put("~/.claude/skills/pdf/SKILL.md", skill);
    fixture.put(
        "~/.gemini/extensions/ext/gemini-extension.json",
        r#"{"name": "ext", "mcpServers": {}}"#,
    );
    fixture.put(
        "~/.claude/plugins/marketplaces/m/plugins/lint/.claude-plugin/plugin.json",
        r#"{"name": "lint"}"#,
    );
    fixture.put("p/AGENTS.md", "# Build with cargo\n");
    fixture.put("~/.openclaw/workspace/SOUL.md", "Be concise.\n");
    fixture.put(
        "/proc/net/tcp",
        "  sl  local_address rem_address   st\n   0: 0100007F:2CAA 00000000:0000 0A 0 0 0\n",
    );
    let report = fixture.scan();
    let mut kinds = Vec::new();
    for owned in &report.records {
        match &owned.item {
            Record::Skill(record) => {
                kinds.push(record.kind);
                if record.kind == "skill" {
                    assert_eq!(record.name.as_deref(), Some("pdf-forms"));
                    assert_eq!(
                        record.allowed_tools,
                        Some(vec!["Read".to_string(), "Bash(python:*)".to_string()])
                    );
                    assert_eq!(record.sha256.as_ref().map(String::len), Some(64));
                    assert_eq!(owned.owner.scope, "user");
                }
            }
            Record::Instructions(file) => kinds.push(if file.path.ends_with("AGENTS.md") {
                "agents-md"
            } else {
                "soul"
            }),
            Record::ModelServer(server) => {
                assert_eq!((server.server, server.port, server.loopback), ("ollama", 11434, true));
                kinds.push("model");
            }
            _ => {}
        }
    }
    kinds.sort_unstable();
    assert_eq!(kinds, ["agents-md", "extension", "model", "plugin", "skill", "soul"]);
}
