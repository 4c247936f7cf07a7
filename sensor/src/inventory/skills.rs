//! What a skill declares in its SKILL.md front matter (name, description, allowed tools), and
//! whether its instructions use tools it does not declare.

use std::path::Path;

use serde_json::Value;

use super::{catalogue, files::line_of, model::Finding};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `allowed-tools`, when declared.
    pub allowed_tools: Option<Vec<String>>,
}

/// The YAML front matter between the leading `---` lines.
pub fn front_matter(text: &str) -> Option<&str> {
    let rest = text.trim_start_matches('\u{FEFF}').strip_prefix("---")?;
    let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'))?;
    let end = rest.find("\n---")?;
    Some(&rest[..end])
}

pub fn declared(text: &str, _path: &Path) -> Declared {
    let Some(yaml) = front_matter(text) else {
        return Declared::default();
    };
    let Ok(Value::Object(map)) = serde_saphyr::from_str::<Value>(yaml) else {
        return Declared::default();
    };
    let string = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
    let allowed_tools = map
        .get("allowed-tools")
        .or_else(|| map.get("allowed_tools"))
        .or_else(|| map.get("allowedTools"))
        .map(|tools| match tools {
            Value::String(list) => split_tools(list),
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        });
    Declared {
        name: string("name"),
        description: string("description").map(|d| d.chars().take(300).collect()),
        allowed_tools,
    }
}

/// `Read, Grep, Bash(git:*)` or `Read Grep`: split on commas, or on spaces outside parentheses.
fn split_tools(list: &str) -> Vec<String> {
    let mut tools = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 && (c == ',' || c.is_whitespace()) {
            if !current.trim().is_empty() {
                tools.push(current.trim().to_string());
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        tools.push(current.trim().to_string());
    }
    tools
}

/// Tools whose use the instructions show: (tool, what shows it).
const USES: &[(&str, &[&str])] = &[
    (
        "Bash",
        &[
            "```bash",
            "```sh",
            "```shell",
            "Bash(",
            "run the command",
            "in the terminal",
        ],
    ),
    ("WebFetch", &["WebFetch", "fetch the url", "fetch the page"]),
    ("Write", &["Write(", "write a file", "create the file"]),
    ("Edit", &["Edit(", "edit the file"]),
];

/// A finding when the skill declares `allowed-tools` and its instructions use a tool outside them.
pub fn undeclared_tools(declared: &Declared, text: &str, path: &Path) -> Option<Finding> {
    let allowed = declared.allowed_tools.as_ref()?;
    let body = match front_matter(text) {
        Some(yaml) => &text[text.find(yaml).map(|at| at + yaml.len()).unwrap_or(0)..],
        None => text,
    };
    let lower = body.to_ascii_lowercase();
    for (tool, signs) in USES {
        let declared = allowed
            .iter()
            .any(|entry| entry == tool || entry.starts_with(&format!("{tool}(")) || entry == "*");
        if declared {
            continue;
        }
        if let Some(sign) = signs.iter().find(|sign| lower.contains(&sign.to_ascii_lowercase())) {
            return Some(
                Finding::new(
                    &catalogue::SKILL_UNDECLARED_TOOL,
                    path,
                    format!("uses {tool} but declares allowed-tools: {}", allowed.join(", ")),
                )
                .line(line_of(text, sign).or_else(|| line_of(&text.to_ascii_lowercase(), &sign.to_ascii_lowercase())))
                .evidence(sign.to_string()),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKILL: &str =
        "---\nname: pdf\ndescription: Fill PDF forms\nallowed-tools: Read, Grep, Bash(python:*)\n---\n# PDF\n";

    #[test]
    fn front_matter_fields() {
        let declared = declared(SKILL, Path::new("SKILL.md"));
        assert_eq!(declared.name.as_deref(), Some("pdf"));
        assert_eq!(
            declared.allowed_tools,
            Some(vec!["Read".into(), "Grep".into(), "Bash(python:*)".into()])
        );
        assert_eq!(
            split_tools("Read Grep Bash(git log:*)"),
            ["Read", "Grep", "Bash(git log:*)"]
        );
        assert_eq!(
            super::declared("# no front matter", Path::new("x")),
            Declared::default()
        );
    }

    #[test]
    fn undeclared_tool_both_ways() {
        let read_only = "---\nname: notes\nallowed-tools: Read, Grep\n---\nThen run:\n```bash\nrm -rf build\n```\n";
        let finding = undeclared_tools(&declared(read_only, Path::new("s")), read_only, Path::new("s")).expect("found");
        assert_eq!(finding.check.id, "skill-undeclared-tool");
        assert_eq!(finding.line, Some(6));
        let text = format!("{SKILL}Run:\n```bash\npython fill.py\n```\n");
        assert!(undeclared_tools(&declared(&text, Path::new("s")), &text, Path::new("s")).is_none());
        let undeclared = "---\nname: x\n---\n```bash\nls\n```";
        assert!(undeclared_tools(&declared(undeclared, Path::new("s")), undeclared, Path::new("s")).is_none());
    }
}
