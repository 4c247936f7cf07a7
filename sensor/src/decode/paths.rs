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

/// Rebuilds `/a/b/c` from `c\0b\0a\0`.
pub fn decode_components(bytes: &[u8], flags: u16) -> DecodedPath {
    let truncated = flags & STR_TRUNCATED != 0;
    let missing = flags & STR_MISSING != 0;
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == 0).filter(|part| !part.is_empty()).collect();
    parts.reverse();
    let mut path = String::with_capacity(bytes.len() + 2);
    if truncated {
        path.push('…');
    }
    for part in &parts {
        path.push('/');
        path.push_str(&String::from_utf8_lossy(part));
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
