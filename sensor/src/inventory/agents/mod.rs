//! One module per agent family: where it keeps its settings, MCP servers, skills, instruction
//! files and credentials, and which of its settings are risky.

pub mod claude;
pub mod codex;
pub mod editors;
pub mod gemini;
pub mod openclaw;
pub mod terminal;

use std::path::Path;

use serde_json::Value;

use super::scanner::Scanner;

/// Everything agents keep under one home. `codex_home` is `CODEX_HOME` when scanning the
/// current user.
pub fn scan_home(sc: &mut Scanner, home: &Path, codex_home: Option<&Path>) {
    claude::scan_home(sc, home);
    codex::scan_home(sc, home, codex_home);
    gemini::scan_home(sc, home);
    editors::scan_home(sc, home);
    openclaw::scan_home(sc, home);
    terminal::scan_home(sc, home);
}

/// What agents read from a project (workspace) directory.
pub fn scan_project(sc: &mut Scanner, project: &Path) {
    claude::scan_project(sc, project);
    codex::scan_project(sc, project);
    gemini::scan_project(sc, project);
    editors::scan_project(sc, project);
    terminal::scan_project(sc, project);
}

/// System-wide (managed) settings under `root` (usually `/`).
pub fn scan_system(sc: &mut Scanner, root: &Path) {
    claude::scan_system(sc, root);
    codex::scan_system(sc, root);
    gemini::scan_system(sc, root);
}

/// Commands of a hook entry list (`[{matcher, hooks: [{type: command, command}]}]`), the shape
/// Claude Code and Gemini CLI share.
pub fn hook_commands(entries: &Value) -> Vec<String> {
    let mut commands = Vec::new();
    for entry in entries.as_array().into_iter().flatten() {
        for hook in entry.get("hooks").and_then(Value::as_array).into_iter().flatten() {
            if hook.get("type").and_then(Value::as_str).unwrap_or("command") == "command"
                && let Some(command) = hook.get("command").and_then(Value::as_str)
            {
                commands.push(command.to_string());
            }
        }
    }
    commands
}
