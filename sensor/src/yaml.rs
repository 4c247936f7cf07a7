//! Reading YAML files with errors that name the file, line and column.

use std::{fmt, path::Path};

use serde::de::DeserializeOwned;

/// A YAML file that could not be read or did not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub origin: String,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for YamlError {}

/// Reads a file to a string, naming it in the error.
pub fn read(path: &Path) -> Result<String, YamlError> {
    std::fs::read_to_string(path).map_err(|error| YamlError {
        origin: path.display().to_string(),
        position: None,
        message: format!("cannot read: {error}"),
    })
}

/// Deserializes `text`; `origin` (usually the file path) prefixes errors.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(|error| YamlError {
        origin: origin.to_string(),
        position: error
            .location()
            .filter(|location| location.line() > 0)
            .map(|location| (location.line(), location.column())),
        message: first_line(&error.to_string()),
    })
}

/// The rendered error minus the location prefix and source snippet the library adds.
fn first_line(rendered: &str) -> String {
    let line = rendered.lines().next().unwrap_or(rendered).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.find(" at line ") {
        Some(index) => line[..index].to_string(),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        let error = parse::<Doc>("name: x\ncount: many\n", "conf.yaml").expect_err("bad count");
        assert_eq!(error.origin, "conf.yaml");
        assert_eq!(error.position.map(|(line, _)| line), Some(2), "{error}");
        let shown = error.to_string();
        assert!(shown.starts_with("conf.yaml:2:"), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let error = parse::<Doc>("name: x\ncount: 1\ncolour: red\n", "c.yaml").expect_err("unknown");
        assert!(error.message.contains("colour"), "{error}");
        assert_eq!(error.position.map(|(line, _)| line), Some(3), "{error}");
    }
}
