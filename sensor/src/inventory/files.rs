//! Reading what agents leave on disk: bounded reads, JSON with comments, hashes, line numbers,
//! and directory walks that never follow symlinks.

use std::{
    fs,
    io::Read,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Files larger than this are not read as text (`~/.claude.json` keeps history and grows to a
/// few MB).
pub const MAX_TEXT_BYTES: u64 = 32 << 20;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: larger than {MAX_TEXT_BYTES} bytes, not read")]
    TooLarge { path: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// A file's text, `Ok(None)` when it does not exist (or is not a regular file).
pub fn read_text(path: &Path) -> Result<Option<String>, ReadError> {
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    if meta.len() > MAX_TEXT_BYTES {
        return Err(ReadError::TooLarge {
            path: path.display().to_string(),
        });
    }
    let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn io_error(path: &Path, source: std::io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The first `limit` bytes of a file.
pub fn read_head(path: &Path, limit: usize) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(limit);
    fs::File::open(path)
        .ok()?
        .take(limit as u64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// Parses JSON that may carry comments and trailing commas (JSONC: VS Code, OpenCode, Gemini).
pub fn parse_json(text: &str, path: &Path) -> Result<Value, ReadError> {
    // Plain JSON (most files, and the large ones) needs no copy.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    serde_json::from_str(&strip_jsonc(text)).map_err(|error| ReadError::Parse {
        path: path.display().to_string(),
        message: format!("line {}: {error}", error.line()),
    })
}

/// Removes `//` and `/* */` comments and trailing commas outside strings, keeping newlines so
/// that line numbers stay right.
pub fn strip_jsonc(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let mut in_string = false;
    while index < chars.len() {
        let c = chars[index];
        if in_string {
            out.push(c);
            if c == '\\' && index + 1 < chars.len() {
                out.push(chars[index + 1]);
                index += 1;
            } else if c == '"' {
                in_string = false;
            }
            index += 1;
            continue;
        }
        match (c, chars.get(index + 1)) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                index += 2;
                while index < chars.len() && !(chars[index] == '*' && chars.get(index + 1) == Some(&'/')) {
                    if chars[index] == '\n' {
                        out.push('\n');
                    }
                    index += 1;
                }
                index += 2;
                continue;
            }
            (',', _) => {
                let next = chars[index + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(next, Some('}') | Some(']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        index += 1;
    }
    out
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Hex SHA-256 of a file's content (streamed), `None` when unreadable.
pub fn sha256_file(path: &Path) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Some(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

/// The 1-based line of the first occurrence of `needle`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.find(needle).map(|offset| line_at(text, offset))
}

/// The 1-based line of a byte offset.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Files under `dir` (regular files only, symlinks not followed), at most `max_depth` levels
/// down and `max_files` in all, sorted.
pub fn walk(dir: &Path, max_depth: usize, max_files: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), 0)];
    while let Some((current, depth)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && depth < max_depth {
                if entry.file_name() != "node_modules" && entry.file_name() != ".git" {
                    pending.push((entry.path(), depth + 1));
                }
            } else if kind.is_file() {
                if files.len() >= max_files {
                    return files;
                }
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// Subdirectories of `dir` (not following symlinks), sorted.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    dirs
}

/// What is risky about a file's placement: world-readable, owned by someone else, a symlink out
/// of `home`. Empty when none (or when it does not exist).
pub fn exposure(path: &Path, home: &Path, owner: Option<u32>, strict: bool) -> Vec<String> {
    let Ok(link) = fs::symlink_metadata(path) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if link.file_type().is_symlink() {
        let target = fs::canonicalize(path).unwrap_or_else(|_| fs::read_link(path).unwrap_or_default());
        let home = fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
        if strict || !target.starts_with(&home) {
            problems.push(format!("is a symlink to {}", target.display()));
        }
    }
    let Ok(meta) = fs::metadata(path) else {
        return problems;
    };
    let mode = meta.mode() & 0o777;
    if strict && mode & 0o077 != 0 {
        problems.push(format!("mode {mode:04o} (expected 0600)"));
    } else if !strict && mode & 0o004 != 0 && reachable_by_others(path, home) {
        problems.push(format!("mode {mode:04o} is readable by every user"));
    }
    if let Some(uid) = owner.filter(|uid| *uid != meta.uid()) {
        problems.push(format!("owned by uid {} instead of {uid}", meta.uid()));
    }
    problems
}

/// Whether other users can walk from `home` down to `path` (every directory on the way has o+x).
fn reachable_by_others(path: &Path, home: &Path) -> bool {
    let mut dir = path.parent();
    while let Some(current) = dir {
        match fs::metadata(current) {
            Ok(meta) if meta.mode() & 0o001 != 0 => {}
            _ => return false,
        }
        if current == home || !current.starts_with(home) {
            break;
        }
        dir = current.parent();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_comments_and_trailing_commas_go_lines_stay() {
        let text = "{\n // note\n \"a\": \"x//y\", /* c\n d */ \"b\": [1,2,],\n}";
        let value: Value = serde_json::from_str(&strip_jsonc(text)).expect("parse");
        assert_eq!(value["a"], "x//y");
        assert_eq!(value["b"][1], 2);
        assert_eq!(strip_jsonc(text).lines().count(), text.lines().count());
    }

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", "c"), Some(3));
        assert_eq!(line_of("a", "z"), None);
    }

    #[test]
    fn walk_skips_symlinks_and_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("a/b")).expect("mkdir");
        fs::write(dir.path().join("a/b/f"), "x").expect("write");
        fs::write(dir.path().join("g"), "x").expect("write");
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).expect("symlink");
        assert_eq!(walk(dir.path(), 5, 10).len(), 2);
        assert_eq!(walk(dir.path(), 0, 10).len(), 1);
        assert_eq!(walk(dir.path(), 5, 1).len(), 1);
    }
}
