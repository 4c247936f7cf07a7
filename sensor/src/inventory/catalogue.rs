//! Every finding the inventory can raise: a stable id, a severity, a title and what to do
//! (docs/inventory.md lists the same table).

use crate::rules::Severity;

/// One kind of finding.
#[derive(Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable id (`rule.id`); never reused for another meaning.
    pub id: &'static str,
    pub severity: Severity,
    /// What it means, in one line (`rule.name`).
    pub title: &'static str,
    /// What to do about it (`rule.description` tail, SARIF help).
    pub remedy: &'static str,
    /// `rule.category`.
    pub category: Category,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Configuration,
    Mcp,
    Poisoning,
    Secret,
    Vulnerability,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Mcp => "mcp",
            Self::Poisoning => "poisoning",
            Self::Secret => "secret",
            Self::Vulnerability => "vulnerability",
        }
    }
}

macro_rules! checks {
    ($($name:ident = $id:literal, $severity:ident, $category:ident, $title:literal, $remedy:literal;)*) => {
        $(
            pub const $name: Check = Check {
                id: $id,
                severity: Severity::$severity,
                title: $title,
                remedy: $remedy,
                category: Category::$category,
            };
        )*
        /// Every check, in documentation order.
        pub const ALL: &[&Check] = &[$(&$name),*];
    };
}

checks! {
    APPROVALS_DISABLED = "config-approvals-disabled", High, Configuration,
        "The agent runs tools without asking for approval",
        "Remove the setting (bypassPermissions, approval_policy = \"never\", yolo, GOOSE_MODE auto, yes-always) or keep it to disposable sandboxes.";
    SANDBOX_DISABLED = "config-sandbox-disabled", High, Configuration,
        "The agent's sandbox is switched off",
        "Use a workspace-write or read-only sandbox; keep full access to containers or VMs.";
    BROAD_ALLOW_RULE = "config-broad-allow-rule", Medium, Configuration,
        "An allow rule approves any shell command or any fetch in advance",
        "Scope allow rules to the commands and domains the work needs (Bash(npm test:*), WebFetch(domain:docs.rs)).";
    MCP_AUTO_TRUSTED = "config-mcp-auto-trusted", Medium, Configuration,
        "MCP servers or their tools are trusted without asking",
        "Approve project MCP servers one by one and drop trust/autoApprove flags.";
    HOOK_RUNS_COMMAND = "config-hook-command", Low, Configuration,
        "A hook runs a command on agent events",
        "Check that the command is yours and expected; hooks run with the user's rights on every matching event.";
    ENDPOINT_OVERRIDE = "config-endpoint-override", Medium, Configuration,
        "The model endpoint is redirected to a host outside the allowlist",
        "Confirm the host is an approved gateway (add it with --allow-host) or remove the *_BASE_URL override; prompts, code and keys go there.";
    STATE_FILE_EXPOSED = "config-state-file-exposed", Medium, Configuration,
        "An agent settings or state file is readable by other users or is a symlink out of the home",
        "chmod go-rwx the file and replace the symlink with a regular file inside the home.";
    GATEWAY_NO_AUTH = "config-gateway-no-auth", High, Configuration,
        "An agent gateway accepts connections without authentication",
        "Set a gateway token or password, and bind the gateway to loopback.";
    MCP_TEMP_COMMAND = "mcp-temp-command", High, Mcp,
        "An MCP server is started from a temporary directory",
        "Install the server in a fixed location owned by the user; anything can be dropped in /tmp.";
    MCP_ENCODED_COMMAND = "mcp-encoded-command", High, Mcp,
        "An MCP server's command is encoded or obfuscated",
        "Decode the command, check what it runs, and replace it with a plain command line.";
    MCP_UNPINNED = "mcp-unpinned-launcher", Low, Mcp,
        "An MCP server is fetched by a launcher without a version (npx -y pkg, uvx pkg)",
        "Pin the package version (pkg@1.2.3, pkg==1.2.3) so an upstream release cannot change what runs.";
    MCP_FILESYSTEM_BROAD = "mcp-filesystem-broad", High, Mcp,
        "A filesystem MCP server is rooted at / or the home directory",
        "Root it at the project directory it needs.";
    MCP_SHELL = "mcp-shell-capable", Medium, Mcp,
        "An MCP server can run shell commands",
        "Keep shell access to the agent's own approved tools, or restrict the server's allowed commands.";
    MCP_PLAIN_HTTP = "mcp-plain-http", High, Mcp,
        "A remote MCP server is reached over plain http on a non-loopback host",
        "Use https; tool calls, results and tokens travel in clear otherwise.";
    OVERRIDE = "poison-instruction-override", High, Poisoning,
        "Instructions try to override the agent's or user's instructions",
        "Read the file; remove the skill or instruction file unless the phrase is legitimate.";
    CONCEALMENT = "poison-concealment", High, Poisoning,
        "Instructions tell the agent to hide what it does from the user",
        "Remove the skill or instruction file; legitimate skills have no reason to hide actions.";
    HIDDEN_UNICODE = "poison-hidden-unicode", High, Poisoning,
        "Invisible Unicode (tag characters, zero-width, bidi overrides) hides text from readers",
        "Look at the decoded text in the finding; strip the characters or remove the file.";
    DOWNLOAD_EXEC = "poison-download-exec", Critical, Poisoning,
        "Instructions download and run code (pipe to shell, download then chmod +x)",
        "Remove the skill or vendor the script after review; never pipe downloads to a shell.";
    CREDENTIAL_EXFIL = "poison-credential-exfil", Critical, Poisoning,
        "The same file names credential paths and sends data over the network",
        "Treat as an exfiltration attempt: remove the file, rotate the credentials it names if it ran.";
    ENCODED_BLOB = "poison-encoded-blob", Medium, Poisoning,
        "A large base64 or hex blob hides content from review",
        "Decode and review it; skills should carry readable text.";
    PERSISTENCE = "poison-persistence", High, Poisoning,
        "Instructions change shell start-up files, services, crontabs or SSH keys",
        "Remove the instructions; a skill has no reason to install persistence.";
    SKILL_BINARY = "skill-binary-content", Medium, Poisoning,
        "A skill ships a binary or an archive",
        "Review or remove it; binaries cannot be read by the person approving the skill.";
    SKILL_UNDECLARED_TOOL = "skill-undeclared-tool", Medium, Poisoning,
        "A skill uses tools beyond its declared allowed-tools",
        "Declare the tools the skill needs or remove the instructions that use others.";
    SECRET_PLAINTEXT = "secret-plaintext", High, Secret,
        "A provider API key is stored in plain text outside the agent's credential store",
        "Rotate the key, remove it from the file, and use the agent's login or an environment secret manager.";
    SECRET_COMMITTED = "secret-committed-file", Critical, Secret,
        "A provider API key is in a file that is usually committed to version control",
        "Rotate the key now, remove it from the file and from the repository history.";
    CREDENTIAL_STORE_EXPOSED = "secret-store-exposed", High, Secret,
        "An agent's credential store is not 0600, not owned by its user, or a symlink",
        "chown the file to its user and chmod 600 it; replace a symlink with the file.";
    ADVISORY_AFFECTED = "advisory-affected", High, Vulnerability,
        "An installed agent or pinned package is in an advisory's affected range",
        "Upgrade to a fixed version named in the advisory.";
    ADVISORY_MALICIOUS = "advisory-malicious", Critical, Vulnerability,
        "An installed agent or pinned package is a known malicious package",
        "Remove it, then treat the machine as compromised: rotate the keys it could read.";
    ADVISORY_STALE = "advisory-database-stale", Low, Vulnerability,
        "The imported advisory database is older than 30 days",
        "Import a fresh export (agent-sensor inventory advisories import FILE).";
}

/// The check with this id.
pub fn by_id(id: &str) -> Option<&'static Check> {
    ALL.iter().copied().find(|check| check.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_documented() {
        let docs = include_str!("../../../docs/inventory.md");
        for (index, check) in ALL.iter().enumerate() {
            assert!(
                ALL[index + 1..].iter().all(|other| other.id != check.id),
                "duplicate id {}",
                check.id
            );
            assert!(
                docs.contains(&format!("`{}`", check.id)),
                "{} is not in docs/inventory.md",
                check.id
            );
        }
        assert_eq!(by_id("mcp-plain-http"), Some(&MCP_PLAIN_HTTP));
        assert_eq!(by_id("nope"), None);
    }
}
