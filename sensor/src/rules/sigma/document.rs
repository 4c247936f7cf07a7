//! Reading Sigma files: documents (a file may hold several, separated by `---`), their metadata,
//! and what kind of document each is.

use super::{Unsupported, pipeline::LogSource};
use crate::rules::yaml_tree::{self, Node, Pos, Value};

/// What a document holds.
#[derive(Clone, Debug)]
pub enum Body {
    Detection {
        logsource: LogSource,
        logsource_pos: Pos,
        detection: Node,
    },
    Correlation(Node),
}

/// One Sigma rule or correlation, as written.
#[derive(Clone, Debug)]
pub struct Document {
    pub pos: Pos,
    pub title: String,
    pub id: Option<String>,
    /// `name`, by which correlations may refer to the rule.
    pub name: Option<String>,
    pub status: Option<String>,
    pub description: String,
    pub level: Option<(String, Pos)>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub body: Body,
}

/// The kind of a YAML file, told by its top-level keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A native rule pack.
    Pack,
    /// Sigma rules: `logsource` and `detection`, or `correlation`.
    Sigma,
    /// A Sigma processing pipeline: `transformations`.
    Pipeline,
}

/// Tells a file's kind from the keys at the start of its lines (no YAML parse).
pub fn shape(text: &str) -> Shape {
    let mut keys = Vec::new();
    for line in text.lines() {
        let starts_key = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if let (true, Some((key, _))) = (starts_key, line.split_once(':')) {
            keys.push(key.trim());
        }
    }
    let has = |name: &str| keys.contains(&name);
    if (has("logsource") && has("detection")) || has("correlation") {
        Shape::Sigma
    } else if has("transformations") && !has("rules") {
        Shape::Pipeline
    } else {
        Shape::Pack
    }
}

/// Splits a file into its YAML documents, each with the file's line numbers (the lines of the
/// other documents are left empty).
pub fn split(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut documents = Vec::new();
    let mut start = 0;
    let mut push = |from: usize, to: usize| {
        let body = &lines[from..to];
        let meaningful = body.iter().any(|line| {
            let trimmed = line.trim();
            !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "..."
        });
        if meaningful {
            let mut doc = "\n".repeat(from);
            for line in body {
                doc.push_str(line);
                doc.push('\n');
            }
            documents.push(doc);
        }
    };
    for (index, line) in lines.iter().enumerate() {
        if line.trim_end() == "---" {
            push(start, index);
            start = index + 1;
        }
    }
    push(start, lines.len());
    documents
}

/// Reads one document; `Err` says why it cannot be a rule.
pub fn read(file: &str, text: &str) -> Result<Document, Unsupported> {
    let root = yaml_tree::parse(text, file).map_err(|d| {
        Unsupported::new(
            Pos {
                line: d.line,
                column: d.column,
            },
            d.message,
        )
    })?;
    let Some(entries) = root.as_map() else {
        return Err(Unsupported::new(root.pos, "a Sigma rule must be a mapping"));
    };
    let get = |name: &str| entries.iter().find(|(key, _)| key.name == name).map(|(_, value)| value);
    let string = |name: &str| get(name).and_then(scalar_text);
    if let Some(action) = get("action") {
        return Err(Unsupported::new(
            action.pos,
            "rule collections (`action: global`, `reset`, `repeat`) are not supported: write each rule whole",
        ));
    }
    if get("filter").is_some() && get("detection").is_none() {
        return Err(Unsupported::new(
            root.pos,
            "Sigma filters are not supported: add the exception to the rule",
        ));
    }
    let body = if let Some(correlation) = get("correlation") {
        Body::Correlation(correlation.clone())
    } else {
        let (Some(logsource), Some(detection)) = (get("logsource"), get("detection")) else {
            return Err(Unsupported::new(
                root.pos,
                "a Sigma rule needs `logsource` and `detection`",
            ));
        };
        let Some(fields) = logsource.as_map() else {
            return Err(Unsupported::new(logsource.pos, "`logsource` must be a mapping"));
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key.name == name)
                .and_then(|(_, v)| scalar_text(v))
        };
        Body::Detection {
            logsource: LogSource {
                category: field("category"),
                product: field("product"),
                service: field("service"),
            },
            logsource_pos: logsource.pos,
            detection: detection.clone(),
        }
    };
    let title = string("title").ok_or_else(|| Unsupported::new(root.pos, "a Sigma rule needs a `title`"))?;
    Ok(Document {
        pos: entries.first().map_or(root.pos, |(key, _)| key.pos),
        title,
        id: string("id"),
        name: string("name"),
        status: string("status"),
        description: string("description").unwrap_or_default(),
        level: get("level").and_then(|n| scalar_text(n).map(|level| (level, n.pos))),
        tags: get("tags").map(strings).unwrap_or_default(),
        falsepositives: get("falsepositives").map(strings).unwrap_or_default(),
        body,
    })
}

/// A scalar as text (numbers and booleans as written).
pub fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(node: &Node) -> Vec<String> {
    match &node.value {
        Value::Seq(items) => items.iter().filter_map(scalar_text).collect(),
        _ => scalar_text(node).into_iter().collect(),
    }
}

/// `attack.t1059.004` → `T1059.004`.
pub fn technique(tag: &str) -> Option<String> {
    let id = tag.strip_prefix("attack.t")?;
    let (main, sub) = match id.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (id, None),
    };
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    if !digits(main, 4) || sub.is_some_and(|sub| !digits(sub, 3)) {
        return None;
    }
    Some(match sub {
        Some(sub) => format!("T{main}.{sub}"),
        None => format!("T{main}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            shape("title: x\nlogsource:\n  product: linux\ndetection:\n  a: 1\n"),
            Shape::Sigma
        );
        assert_eq!(shape("title: x\ncorrelation:\n  type: event_count\n"), Shape::Sigma);
        assert_eq!(
            shape("name: p\ntransformations:\n  - type: add_condition\n"),
            Shape::Pipeline
        );
        assert_eq!(shape("ruleset: x\nrules:\n  - id: a\n"), Shape::Pack);
        assert_eq!(
            shape("rules:\n  - id: a\n    detection: x\n    logsource: y\n"),
            Shape::Pack
        );
    }

    #[test]
    fn documents_keep_their_line_numbers() {
        let docs = split("# head\na: 1\n---\nb: 2\n---\n# nothing\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1], "\n\n\nb: 2\n");
    }

    #[test]
    fn techniques() {
        assert_eq!(technique("attack.t1059.004").as_deref(), Some("T1059.004"));
        assert_eq!(technique("attack.t1059").as_deref(), Some("T1059"));
        assert_eq!(technique("attack.execution"), None);
        assert_eq!(technique("attack.g0001"), None);
    }
}
