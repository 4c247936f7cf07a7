//! JSON lines to a file or stdout, buffered, flushed whole lines at a time so a reader tailing
//! the file never sees half an event.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

/// `-` for stdout, or a file path (appended to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

impl OutputTarget {
    pub fn parse(text: &str) -> Self {
        if text == "-" {
            Self::Stdout
        } else {
            Self::File(PathBuf::from(text))
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Stdout => "standard output".to_string(),
            Self::File(path) => path.display().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open {path} for writing: {source}")]
pub struct OpenError {
    path: String,
    source: io::Error,
}

pub struct JsonLines {
    target: OutputTarget,
    writer: BufWriter<Box<dyn Write + Send>>,
    lines: u64,
}

impl JsonLines {
    pub fn open(target: OutputTarget) -> Result<Self, OpenError> {
        let sink: Box<dyn Write + Send> = match &target {
            OutputTarget::Stdout => Box::new(io::stdout()),
            OutputTarget::File(path) => Box::new(open_append(path).map_err(|source| OpenError {
                path: path.display().to_string(),
                source,
            })?),
        };
        Ok(Self {
            target,
            writer: BufWriter::with_capacity(256 * 1024, sink),
            lines: 0,
        })
    }

    /// Writes one line: `json` followed by a newline.
    pub fn write_line(&mut self, json: &[u8]) -> io::Result<()> {
        self.writer.write_all(json)?;
        self.writer.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn target(&self) -> &OutputTarget {
        &self.target
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_complete_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/events.jsonl");
        let mut out = JsonLines::open(OutputTarget::File(path.clone())).expect("open");
        out.write_line(br#"{"a":1}"#).expect("write");
        out.write_line(br#"{"b":2}"#).expect("write");
        out.flush().expect("flush");
        drop(out);
        let mut again = JsonLines::open(OutputTarget::File(path.clone())).expect("reopen");
        again.write_line(br#"{"c":3}"#).expect("write");
        again.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
        assert_eq!(again.lines(), 1);
    }

    #[test]
    fn names_the_path_it_cannot_open() {
        let error = JsonLines::open(OutputTarget::File("/proc/version/nope".into()))
            .err()
            .expect("must fail");
        assert!(error.to_string().contains("/proc/version/nope"), "{error}");
    }

    #[test]
    fn dash_means_stdout() {
        assert_eq!(OutputTarget::parse("-"), OutputTarget::Stdout);
        assert_eq!(OutputTarget::parse("x.jsonl"), OutputTarget::File("x.jsonl".into()));
    }
}
