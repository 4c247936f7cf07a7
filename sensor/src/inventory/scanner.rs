//! The state of one scan: whose files are being read, what was found so far, and the shared
//! steps every agent parser uses (read a settings file, record an MCP server, read a skill…).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{
    ScanOptions,
    catalogue::{self, Check},
    content,
    files::{self, ReadError},
    hosts, mcp,
    model::{AgentRecord, Finding, InstructionFile, McpServer, Owned, Owner, Record, Report, SkillRecord},
    secrets, skills,
};

/// Files under a project that are usually committed: keys there are worse.
const COMMITTED: &[&str] = &[
    ".mcp.json",
    ".vscode/mcp.json",
    ".vscode/settings.json",
    ".cursor/mcp.json",
    ".claude/settings.json",
    ".gemini/settings.json",
    ".qwen/settings.json",
    "opencode.json",
    "opencode.jsonc",
    ".aider.conf.yml",
    "CLAUDE.md",
    "AGENTS.md",
    "GEMINI.md",
    ".continue/config.yaml",
];

pub struct Scanner<'a> {
    pub options: &'a ScanOptions,
    pub report: Report,
    owner: Owner,
    /// The home or project directory being scanned.
    base: PathBuf,
    seen: HashSet<PathBuf>,
}

impl<'a> Scanner<'a> {
    pub fn new(options: &'a ScanOptions) -> Self {
        Self {
            options,
            report: Report::default(),
            owner: Owner::default(),
            base: PathBuf::from("/"),
            seen: HashSet::new(),
        }
    }

    /// From now on, files belong to this owner and sit under `base`.
    pub fn enter(&mut self, owner: Owner, base: &Path) {
        self.owner = owner;
        self.base = base.to_path_buf();
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn is_project(&self) -> bool {
        self.owner.scope == "project"
    }

    pub fn record(&mut self, record: Record) {
        let owned = Owned {
            owner: self.owner.clone(),
            item: record,
        };
        if !self.report.records.contains(&owned) {
            self.report.records.push(owned);
        }
    }

    pub fn finding(&mut self, mut finding: Finding) {
        finding.owner = self.owner.clone();
        self.finding_as_is(finding);
    }

    /// A finding whose owner is already set (advisories found after the walk). Messages and
    /// evidence are redacted here, whatever produced them.
    pub fn finding_as_is(&mut self, mut finding: Finding) {
        finding.message = secrets::redact(&finding.message);
        finding.evidence = finding.evidence.map(|evidence| secrets::redact(&evidence));
        if !self.report.findings.contains(&finding) {
            self.report.findings.push(finding);
        }
    }

    pub fn problem(&mut self, error: ReadError) {
        self.report.problems.push(error.to_string());
    }

    pub fn agent(
        &mut self,
        agent: &str,
        source: &'static str,
        package: Option<&str>,
        version: Option<String>,
        path: &Path,
    ) {
        self.record(Record::Agent(AgentRecord {
            agent: agent.to_string(),
            package: package.map(str::to_string),
            version,
            source,
            path: path.to_path_buf(),
        }));
    }

    /// Reads a settings or configuration file once: checks where it lies and who can read it,
    /// scans it for keys, and returns its text (`None` when absent or unreadable).
    pub fn config_text(&mut self, agent: &str, path: &Path) -> Option<String> {
        if !self.seen.insert(path.to_path_buf()) {
            return files::read_text(path).ok().flatten();
        }
        let text = match files::read_text(path) {
            Ok(text) => text?,
            Err(error) => {
                self.problem(error);
                return None;
            }
        };
        if self.owner.scope == "user" {
            // Project files are meant to be shared, system settings to be read by everyone.
            self.exposure(agent, path, &catalogue::STATE_FILE_EXPOSED, false);
        }
        self.secrets(agent, path, &text);
        Some(text)
    }

    /// [`Self::config_text`] parsed as JSON (comments allowed).
    pub fn config_json(&mut self, agent: &str, path: &Path) -> Option<(String, Value)> {
        let text = self.config_text(agent, path)?;
        match files::parse_json(&text, path) {
            Ok(value) => Some((text, value)),
            Err(error) => {
                self.problem(error);
                None
            }
        }
    }

    /// [`Self::config_text`] parsed as YAML into a JSON value.
    pub fn config_yaml(&mut self, agent: &str, path: &Path) -> Option<(String, Value)> {
        let text = self.config_text(agent, path)?;
        match serde_saphyr::from_str::<Value>(&text) {
            Ok(value) => Some((text, value)),
            Err(error) => {
                self.problem(ReadError::Parse {
                    path: path.display().to_string(),
                    message: error.to_string().lines().next().unwrap_or("bad YAML").to_string(),
                });
                None
            }
        }
    }

    /// [`Self::config_text`] parsed as TOML into a JSON value.
    pub fn config_toml(&mut self, agent: &str, path: &Path) -> Option<(String, Value)> {
        let text = self.config_text(agent, path)?;
        match toml::from_str::<toml::Table>(&text) {
            Ok(table) => Some((text, serde_json::to_value(table).unwrap_or(Value::Null))),
            Err(error) => {
                self.problem(ReadError::Parse {
                    path: path.display().to_string(),
                    message: error.message().to_string(),
                });
                None
            }
        }
    }

    /// A designated credential store (auth.json, .credentials.json…): not scanned for keys, but
    /// it must be 0600, owned by its user, and not a symlink.
    pub fn credential_store(&mut self, agent: &str, path: &Path) {
        self.exposure(agent, path, &catalogue::CREDENTIAL_STORE_EXPOSED, true);
    }

    fn exposure(&mut self, agent: &str, path: &Path, check: &'static Check, strict: bool) {
        let uid = if self.is_project() { None } else { self.owner.uid };
        let problems = files::exposure(path, &self.base.clone(), uid, strict);
        if !problems.is_empty() {
            let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
            self.finding(Finding::new(check, path, format!("{name}: {}", problems.join(", "))).agent(agent));
        }
    }

    fn secrets(&mut self, agent: &str, path: &Path, text: &str) {
        let committed = self.is_project()
            && path
                .strip_prefix(&self.base)
                .is_ok_and(|relative| COMMITTED.iter().any(|name| relative == Path::new(name)));
        let check = if committed {
            &catalogue::SECRET_COMMITTED
        } else {
            &catalogue::SECRET_PLAINTEXT
        };
        for found in secrets::scan(text) {
            let mut finding = Finding::new(
                check,
                path,
                format!(
                    "{} key {} in {}",
                    found.secret.kind,
                    found.secret.prefix,
                    path.display()
                ),
            )
            .line(Some(found.line))
            .agent(agent);
            finding.secret = Some(found.secret);
            self.finding(finding);
        }
    }

    /// Records MCP servers and their findings.
    pub fn mcp_servers(&mut self, servers: Vec<McpServer>) {
        let home = (!self.is_project()).then(|| self.base.clone());
        for server in servers {
            for finding in mcp::check(&server, home.as_deref()) {
                self.finding(finding);
            }
            self.record(Record::McpServer(server));
        }
    }

    /// An instruction file the agent loads (CLAUDE.md, AGENTS.md…): recorded, scanned for keys
    /// and for poisoning.
    pub fn instructions(&mut self, agent: &str, path: &Path) {
        let Some(text) = self.config_text(agent, path) else {
            return;
        };
        self.record(Record::Instructions(InstructionFile {
            agent: agent.to_string(),
            path: path.to_path_buf(),
            sha256: Some(files::sha256_hex(text.as_bytes())),
            bytes: text.len() as u64,
        }));
        self.poisoning(agent, path, &text);
    }

    /// Poisoning hits in a text, as findings.
    pub fn poisoning(&mut self, agent: &str, path: &Path, text: &str) {
        for hit in content::scan(text) {
            self.finding(
                Finding::new(hit.check, path, format!("{}: {}", hit.check.title, path.display()))
                    .line(Some(hit.line))
                    .agent(agent)
                    .evidence(hit.evidence),
            );
        }
    }

    /// Every skill directory under `dir` (`dir/*/SKILL.md`).
    pub fn skills_in(&mut self, agent: &str, dir: &Path) {
        for skill in files::subdirs(dir) {
            let defining = skill.join("SKILL.md");
            if defining.is_file() {
                self.skill(agent, "skill", &skill, &defining);
            }
        }
    }

    /// One skill, plugin or extension: recorded with its declared name and tools, and every
    /// file in it read for poisoning, keys and binaries.
    pub fn skill(&mut self, agent: &str, kind: &'static str, dir: &Path, defining: &Path) {
        if !self.seen.insert(dir.to_path_buf()) {
            return;
        }
        let text = match files::read_text(defining) {
            Ok(text) => text.unwrap_or_default(),
            Err(error) => {
                self.problem(error);
                String::new()
            }
        };
        let declared = skills::declared(&text, defining);
        self.record(Record::Skill(SkillRecord {
            agent: agent.to_string(),
            kind,
            path: defining.to_path_buf(),
            sha256: files::sha256_file(defining),
            name: declared.name.clone(),
            description: declared.description.clone(),
            allowed_tools: declared.allowed_tools.clone(),
        }));
        if let Some(finding) = skills::undeclared_tools(&declared, &text, defining) {
            self.finding(finding.agent(agent));
        }
        for file in files::walk(dir, 4, 200) {
            // The head tells binaries (of any size) from text; text is read whole up to the cap.
            let Some(head) = files::read_head(&file, 8192) else {
                continue;
            };
            if let Some(kind) = content::binary_kind(&head) {
                self.finding(
                    Finding::new(
                        &catalogue::SKILL_BINARY,
                        &file,
                        format!("{kind} inside {}", dir.display()),
                    )
                    .agent(agent),
                );
                continue;
            }
            let text = match files::read_text(&file) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(error) => {
                    self.problem(error);
                    continue;
                }
            };
            self.seen.insert(file.clone());
            self.secrets(agent, &file, &text);
            self.poisoning(agent, &file, &text);
        }
    }

    /// A `.env` file: keys, and endpoint overrides.
    pub fn env_file(&mut self, agent: &str, path: &Path) {
        let Some(text) = self.config_text(agent, path) else {
            return;
        };
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ").trim();
            if let Some((key, value)) = line.split_once('=') {
                let value = value.trim().trim_matches(['"', '\'']);
                self.endpoint(agent, path, &text, key.trim(), value);
            }
        }
    }

    /// An endpoint override (`*_BASE_URL`, `base_url`, `baseURL`) to a host outside the allowlist.
    pub fn endpoint(&mut self, agent: &str, path: &Path, text: &str, key: &str, url: &str) {
        let lower = key.to_ascii_lowercase();
        if lower.ends_with("base_url") || lower.ends_with("baseurl") || lower.ends_with("_api_base") {
            self.endpoint_override(agent, path, text, key, url);
        }
    }

    /// A model endpoint `key` set to `url`: a finding unless its host is allowed.
    pub fn endpoint_override(&mut self, agent: &str, path: &Path, text: &str, key: &str, url: &str) {
        let Some(host) = hosts::url_host(url) else {
            return;
        };
        if hosts::allowed(&host, &self.options.allow_hosts) {
            return;
        }
        self.finding(
            Finding::new(
                &catalogue::ENDPOINT_OVERRIDE,
                path,
                format!("{key} sends model traffic to {host}"),
            )
            .line(files::line_of(text, key))
            .agent(agent)
            .evidence(secrets::redact(url)),
        );
    }

    /// Endpoint overrides among the string values of an `env` map.
    pub fn env_map(&mut self, agent: &str, path: &Path, text: &str, env: Option<&Value>) {
        if let Some(Value::Object(env)) = env {
            for (key, value) in env {
                if let Some(value) = value.as_str() {
                    self.endpoint(agent, path, text, key, value);
                }
            }
        }
    }

    /// A finding for `check` at the first line of `needle` in `text`.
    pub fn flag(&mut self, check: &'static Check, agent: &str, path: &Path, text: &str, needle: &str, message: String) {
        let evidence: String = text
            .lines()
            .nth(files::line_of(text, needle).unwrap_or(1).saturating_sub(1))
            .unwrap_or("")
            .trim()
            .chars()
            .take(160)
            .collect();
        self.finding(
            Finding::new(check, path, message)
                .line(files::line_of(text, needle))
                .agent(agent)
                .evidence(secrets::redact(&evidence)),
        );
    }
}
