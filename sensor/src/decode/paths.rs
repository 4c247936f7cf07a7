//! Decoding the path components the kernel writes leaf first.

use sensor_common::event::{STR_MISSING, STR_TRUNCATED};

/// An absolute path rebuilt from kernel components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedPath {
    pub path: String,
    /// The walk stopped before the root (too deep or record full): `path` starts with `…/`.
    pub truncated: bool,
    /// The kernel could not read the path at all.
    pub missing: bool,
}

/// `bytes` as text, invalid UTF-8 replaced by U+FFFD (`String::from_utf8_lossy`), checked by the
/// standard library's faster validation first: kernel strings are almost always valid.
pub fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Appends `bytes` to `out` as [`lossy`] converts them.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Rebuilds `/a/b/c` from `c\0b\0a\0`.
pub fn decode_components(bytes: &[u8], flags: u16) -> DecodedPath {
    let truncated = flags & STR_TRUNCATED != 0;
    let missing = flags & STR_MISSING != 0;
    let mut path = String::with_capacity(bytes.len() + 4);
    if truncated {
        path.push('…');
    }
    // A NUL never continues a UTF-8 sequence, so each part converts as it would in the whole.
    for part in bytes.rsplit(|&b| b == 0).filter(|part| !part.is_empty()) {
        path.push('/');
        push_lossy(&mut path, part);
    }
    if path.is_empty() && !missing {
        path.push('/');
    }
    DecodedPath {
        path,
        truncated,
        missing,
    }
}
