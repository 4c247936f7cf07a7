//! Errors in rule packs and rule tests: file, line, column, what is wrong and what to do.

use std::{fmt, sync::Arc};

/// A 1-based line and column in a pack or test file (every YAML node carries one: `yaml_tree`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub advice: String,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Pos, message: impl Into<String>, advice: impl Into<String>) -> Self {
        Self {
            file: Arc::from(file),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            advice: advice.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if !self.advice.is_empty() {
            write!(f, "\n    help: {}", self.advice)?;
        }
        Ok(())
    }
}

/// Every problem found in a set of packs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics for one file.
pub struct Reporter {
    pub file: Arc<str>,
    pub found: Vec<Diagnostic>,
}

impl Reporter {
    pub fn new(file: &str) -> Self {
        Self {
            file: Arc::from(file),
            found: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>, advice: impl Into<String>) {
        self.found.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            advice: advice.into(),
        });
    }
}
