//! JSON lines to standard output or to a file with size-based rotation.
//!
//! Lines are gathered in a buffer and written with one `write` per buffer, always ending on a
//! line boundary, so a reader tailing the file (Filebeat, Vector, Fluent Bit) only ever sees whole
//! lines; the buffer is written out at every [`LineSink::flush`] (after each pipeline batch).
//! Rotation happens before a line that would take the file past `max_bytes`: `PATH.N-1` becomes
//! `PATH.N` … `PATH` becomes `PATH.1`, and a new `PATH` is started; `PATH.keep` is the oldest
//! kept. A line is never split across two files.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{config::FileConfig, stats::Counters, throttled};

/// Buffer size: written out when it holds this much.
const BUFFER_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("cannot open {path} for writing: {source}")]
pub struct FileError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

enum Target {
    Stdout,
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
        file: Option<File>,
        /// Bytes in the file now.
        size: u64,
    },
}

pub struct LineSink {
    name: String,
    target: Target,
    buffer: Vec<u8>,
    buffered_lines: u64,
    counters: Arc<Counters>,
    errors: u64,
}

impl LineSink {
    pub fn stdout(name: &str, counters: Arc<Counters>) -> Self {
        Self::new(name, Target::Stdout, counters)
    }

    /// Opens (appending to) the file, creating its directory when needed.
    pub fn file(name: &str, config: &FileConfig, counters: Arc<Counters>) -> Result<Self, FileError> {
        let file = open_append(&config.path).map_err(|source| FileError {
            path: config.path.display().to_string(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let target = Target::File {
            path: config.path.clone(),
            max_bytes: config.max_bytes,
            keep: config.keep,
            file: Some(file),
            size,
        };
        Ok(Self::new(name, target, counters))
    }

    fn new(name: &str, target: Target, counters: Arc<Counters>) -> Self {
        Self {
            name: name.to_string(),
            target,
            buffer: Vec::with_capacity(BUFFER_BYTES),
            buffered_lines: 0,
            counters,
            errors: 0,
        }
    }

    pub fn describe(&self) -> String {
        match &self.target {
            Target::Stdout => "standard output".to_string(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }

    /// Adds one line (`json` and a newline). Returns false when writing failed (the failure is
    /// counted and logged).
    pub fn write(&mut self, json: &[u8]) -> bool {
        let mut ok = true;
        if let Target::File { max_bytes, size, .. } = &self.target {
            let pending = *size + self.buffer.len() as u64;
            if *max_bytes > 0 && pending > 0 && pending + json.len() as u64 + 1 > *max_bytes {
                ok &= self.write_out();
                ok &= self.rotate();
            }
        }
        self.buffer.extend_from_slice(json);
        self.buffer.push(b'\n');
        self.buffered_lines += 1;
        Counters::add(&self.counters.written, 1);
        if self.buffer.len() >= BUFFER_BYTES {
            ok &= self.write_out();
        }
        ok
    }

    /// Writes out what is buffered. Returns false when that failed.
    pub fn flush(&mut self) -> bool {
        let written = self.write_out();
        if let Target::Stdout = self.target {
            let _ = io::stdout().flush();
        }
        written
    }

    /// Writes the buffer (whole lines) with one call; the lines are lost if that fails.
    fn write_out(&mut self) -> bool {
        if self.buffer.is_empty() {
            return true;
        }
        let lines = std::mem::take(&mut self.buffered_lines);
        let result = match &mut self.target {
            Target::Stdout => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(&self.buffer).and_then(|()| stdout.flush())
            }
            Target::File { path, file, size, .. } => {
                if file.is_none() {
                    // A previous failure closed it: try again.
                    *file = open_append(path).ok();
                    *size = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
                }
                match file {
                    Some(open) => {
                        let result = open.write_all(&self.buffer);
                        match &result {
                            Ok(()) => *size += self.buffer.len() as u64,
                            Err(_) => *file = None,
                        }
                        result
                    }
                    None => Err(io::Error::other("the file could not be reopened")),
                }
            }
        };
        self.buffer.clear();
        match result {
            Ok(()) => {
                Counters::add(&self.counters.delivered, lines);
                true
            }
            Err(error) => {
                self.errors += 1;
                Counters::add(&self.counters.failed, 1);
                Counters::add(&self.counters.dropped, lines);
                if throttled(self.errors) {
                    tracing::error!(
                        output = %self.name,
                        target = %self.describe(),
                        lines,
                        %error,
                        "cannot write output; these lines are lost"
                    );
                }
                false
            }
        }
    }

    /// Shifts the rotated files up by one and starts a new file.
    fn rotate(&mut self) -> bool {
        let Target::File {
            path, keep, file, size, ..
        } = &mut self.target
        else {
            return true;
        };
        let shifted = shift(path, *keep);
        if let Err(error) = &shifted {
            self.errors += 1;
            Counters::add(&self.counters.failed, 1);
            if throttled(self.errors) {
                tracing::error!(output = %self.name, path = %path.display(), %error, "cannot rotate the output file; writing on");
            }
            return false;
        }
        match open_append(path) {
            Ok(new) => {
                *file = Some(new);
                *size = 0;
                true
            }
            Err(error) => {
                *file = None;
                *size = 0;
                self.errors += 1;
                Counters::add(&self.counters.failed, 1);
                tracing::error!(output = %self.name, path = %path.display(), %error, "cannot open a new output file after rotation");
                false
            }
        }
    }
}

impl Drop for LineSink {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `PATH.keep-1` → `PATH.keep`, …, `PATH` → `PATH.1` (with `keep` 0: `PATH` is removed).
fn shift(path: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return ignore_missing(std::fs::remove_file(path));
    }
    for n in (1..keep).rev() {
        ignore_missing(std::fs::rename(numbered(path, n), numbered(path, n + 1)))?;
    }
    std::fs::rename(path, numbered(path, 1))
}

/// `PATH.n`.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens for appending (mode 0640 when created), creating the parent directory.
fn open_append(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    fn sink(path: &Path, max_bytes: u64, keep: u32) -> (LineSink, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let config = FileConfig {
            path: path.to_path_buf(),
            max_bytes,
            keep,
        };
        (
            LineSink::file("test", &config, counters.clone()).expect("open"),
            counters,
        )
    }

    fn lines_of(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(text.is_empty() || text.ends_with('\n'), "whole lines only: {text:?}");
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/alerts.jsonl");
        let (mut out, counters) = sink(&path, 100, 2);
        // Each line is 20 bytes with its newline: five fit in 100 bytes.
        for n in 0..23 {
            assert!(out.write(format!("{{\"n\":{n:>13}}}").as_bytes()));
            if n % 3 == 0 {
                assert!(out.flush());
            }
        }
        assert!(out.flush());
        let current = lines_of(&path);
        let one = lines_of(&numbered(&path, 1));
        let two = lines_of(&numbered(&path, 2));
        assert!(!numbered(&path, 3).exists(), "keep: 2");
        assert_eq!(current.len(), 3, "{current:?}");
        assert_eq!(one.len(), 5);
        assert_eq!(two.len(), 5);
        let all: Vec<String> = [two, one, current].concat();
        let expected: Vec<String> = (10..23).map(|n| format!("{{\"n\":{n:>13}}}")).collect();
        assert_eq!(all, expected, "in order, none lost within the kept files");
        for file in [path.clone(), numbered(&path, 1), numbered(&path, 2)] {
            assert!(std::fs::metadata(&file).expect("file").len() <= 100);
        }
        assert_eq!(counters.written.load(Relaxed), 23);
        assert_eq!(counters.delivered.load(Relaxed), 23);
        assert_eq!(counters.dropped.load(Relaxed), 0);
    }

    #[test]
    fn appends_and_counts_the_existing_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"old\":1}\n").expect("seed");
        let (mut out, _) = sink(&path, 25, 1);
        out.write(br#"{"new":2}"#);
        out.flush();
        assert_eq!(lines_of(&path), ["{\"old\":1}", "{\"new\":2}"]);
        out.write(br#"{"new":3}"#);
        out.flush();
        assert_eq!(lines_of(&path), ["{\"new\":3}"], "20 + 10 bytes would pass 25: rotated");
        assert_eq!(lines_of(&numbered(&path, 1)), ["{\"old\":1}", "{\"new\":2}"]);
    }

    #[test]
    fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.jsonl");
        let (mut out, _) = sink(&path, 10, 3);
        out.write(b"\"short\"");
        out.write(b"\"a very long line indeed\"");
        out.write(b"\"x\"");
        out.flush();
        assert_eq!(lines_of(&path), ["\"x\""]);
        assert_eq!(lines_of(&numbered(&path, 1)), ["\"a very long line indeed\""]);
        assert_eq!(lines_of(&numbered(&path, 2)), ["\"short\""]);
    }

    #[test]
    fn no_rotation_with_max_bytes_zero_and_keep_zero_discards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.jsonl");
        let (mut out, _) = sink(&path, 0, 0);
        for _ in 0..100 {
            out.write(b"0123456789");
        }
        out.flush();
        assert_eq!(lines_of(&path).len(), 100);
        let path = dir.path().join("b.jsonl");
        let (mut out, _) = sink(&path, 12, 0);
        out.write(b"0123456789");
        out.write(b"abcdefghij");
        out.flush();
        assert_eq!(lines_of(&path), ["abcdefghij"]);
        assert!(!numbered(&path, 1).exists());
    }

    #[test]
    fn names_the_path_it_cannot_open() {
        let config = FileConfig {
            path: "/proc/version/nope".into(),
            max_bytes: 0,
            keep: 0,
        };
        let error = LineSink::file("x", &config, Arc::default()).err().expect("must fail");
        assert!(error.to_string().contains("/proc/version/nope"), "{error}");
    }
}
