//! What a scan finds: inventory records (what is there) and findings (what is risky about it).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalogue::Check;
use crate::rules::Severity;

/// Whose configuration a record or finding comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The account name, when known.
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// `user`, `project` or `system`.
    pub scope: &'static str,
}

/// An installed agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Agent family (`claude-code`, `codex`, …).
    pub agent: String,
    /// Package name where it came from (`@anthropic-ai/claude-code`, `aider-chat`).
    pub package: Option<String>,
    pub version: Option<String>,
    /// `npm`, `native`, `python`, `vscode-extension`, or `config` when only its settings were found.
    pub source: &'static str,
    pub path: PathBuf,
}

/// How an MCP server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Stdio,
    Http,
    Sse,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Http => "http",
            Self::Sse => "sse",
        }
    }
}

/// A configured MCP server (never started).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct McpServer {
    pub agent: String,
    pub name: String,
    pub transport: Transport,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub url: Option<String>,
    /// Names of the environment variables it is given (never their values).
    pub env_keys: Vec<String>,
    /// The file that defines it.
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The package a launcher fetches (`npx -y pkg@1.2.3`), with its version when pinned.
    pub package: Option<(String, Option<String>)>,
}

/// A skill, plugin or extension directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkillRecord {
    pub agent: String,
    /// `skill`, `plugin` or `extension`.
    pub kind: &'static str,
    /// The defining file (SKILL.md, plugin.json, gemini-extension.json…).
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub allowed_tools: Option<Vec<String>>,
}

/// An instruction file the agent loads into its context (CLAUDE.md, AGENTS.md…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstructionFile {
    pub agent: String,
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub bytes: u64,
}

/// A TCP port listening on this machine where local model servers usually listen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelServer {
    /// The usual server on that port (`ollama`, `lm-studio`…).
    pub server: &'static str,
    pub address: String,
    pub port: u16,
    /// Whether it listens on loopback only.
    pub loopback: bool,
}

/// One inventory record (`event.kind: state`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Agent(AgentRecord),
    McpServer(McpServer),
    Skill(SkillRecord),
    Instructions(InstructionFile),
    ModelServer(ModelServer),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Agent(_) => "agent",
            Self::McpServer(_) => "mcp_server",
            Self::Skill(_) => "skill",
            Self::Instructions(_) => "instructions",
            Self::ModelServer(_) => "model_server",
        }
    }
}

/// A record with whose it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owned<T> {
    #[serde(flatten)]
    pub owner: Owner,
    #[serde(flatten)]
    pub item: T,
}

/// A secret, as findings show it: never the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    /// Which pattern matched (`openai`, `aws-access-key`…).
    pub kind: &'static str,
    /// The first characters (the provider's marker and at most four more).
    pub prefix: String,
    /// The first 16 hex digits of the value's SHA-256, to match it across files.
    pub sha256_16: String,
}

/// One finding (`event.kind: alert`, `rule.id` = the check's id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(serialize_with = "check_id")]
    pub check: &'static Check,
    #[serde(serialize_with = "severity_name")]
    pub severity: Severity,
    pub agent: Option<String>,
    pub file: PathBuf,
    pub line: Option<usize>,
    /// What exactly was found, readable, without secrets.
    pub message: String,
    /// A short excerpt or decoded text (secrets redacted).
    pub evidence: Option<String>,
    pub secret: Option<SecretRef>,
    /// Advisory id for vulnerability findings.
    pub advisory: Option<String>,
    #[serde(flatten)]
    pub owner: Owner,
}

fn check_id<S: serde::Serializer>(check: &&'static Check, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(check.id)
}

fn severity_name<S: serde::Serializer>(severity: &Severity, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(severity.as_str())
}

impl Finding {
    pub fn new(check: &'static Check, file: &Path, message: impl Into<String>) -> Self {
        Self {
            check,
            severity: check.severity,
            agent: None,
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
            evidence: None,
            secret: None,
            advisory: None,
            owner: Owner::default(),
        }
    }

    pub fn line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = Some(evidence.into());
        self
    }

    pub fn agent(mut self, agent: &str) -> Self {
        self.agent = Some(agent.to_string());
        self
    }
}

/// Everything one scan found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub records: Vec<Owned<Record>>,
    pub findings: Vec<Finding>,
    /// Files that could not be read or parsed (path and why), for the log.
    pub problems: Vec<String>,
}

impl Report {
    /// The highest severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|finding| finding.severity).max()
    }

    pub fn ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<_> = self.findings.iter().map(|finding| finding.check.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}
