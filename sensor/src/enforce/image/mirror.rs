//! What the kernel computes for a path, computed in userspace from the same image: which path
//! sets a path is in (`POLICY_FILES` and the name patterns of the directories above it, as
//! `sensor-ebpf/src/policy/path_sets.rs` does). Identity seeding asks it which sets a protected
//! file's canonical path is in; the tests check the image against it.

use sensor_common::policy::{
    AT_ANY_DEPTH, AT_CHILD, BELOW_CHILD, NAME_EDGE, NAME_EXACT, NAME_PREFIX, NAME_SUFFIX, NamePattern, component_hash,
    path_child, path_root,
};

use super::PolicyImage;

/// The kernel's view of one name: hash, length, first and last 16 bytes as little-endian words.
pub fn edges(seed: u64, name: &str) -> (u64, usize, [u64; 2], [u64; 2]) {
    let bytes = name.as_bytes();
    let mut head = [0u8; NAME_EDGE];
    let mut tail = [0u8; NAME_EDGE];
    let n = bytes.len().min(NAME_EDGE);
    head[..n].copy_from_slice(&bytes[..n]);
    tail[NAME_EDGE - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    let words = |b: [u8; NAME_EDGE]| {
        let mut low = [0u8; 8];
        let mut high = [0u8; 8];
        low.copy_from_slice(&b[..8]);
        high.copy_from_slice(&b[8..]);
        [u64::from_le_bytes(low), u64::from_le_bytes(high)]
    };
    (component_hash(seed, bytes), bytes.len(), words(head), words(tail))
}

/// Whether `name` matches a directory's name pattern.
pub fn name_matches(seed: u64, pattern: &NamePattern, name: &str) -> bool {
    let (hash, len, head, tail) = edges(seed, name);
    if pattern.kind & NAME_EXACT != 0 {
        return hash == pattern.exact;
    }
    let prefix = pattern.kind & NAME_PREFIX != 0;
    let suffix = pattern.kind & NAME_SUFFIX != 0;
    let needed =
        if prefix { pattern.prefix_len as usize } else { 0 } + if suffix { pattern.suffix_len as usize } else { 0 };
    len >= needed
        && (!prefix || (0..2).all(|i| head[i] & pattern.prefix_mask[i] == pattern.prefix[i]))
        && (!suffix || (0..2).all(|i| tail[i] & pattern.suffix_mask[i] == pattern.suffix[i]))
}

/// What the kernel's `path_sets` computes for the absolute `path` (with the sets every path is
/// in).
pub fn path_sets(image: &PolicyImage, path: &str) -> u64 {
    let seed = image.config.seed;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut prefixes = vec![path_root(seed)];
    for part in &parts {
        let last = prefixes.last().copied().unwrap_or_default();
        prefixes.push(path_child(last, component_hash(seed, part.as_bytes())));
    }
    let depth = parts.len();
    let mut sets = image.files.get(&prefixes[depth]).copied().unwrap_or(0);
    for (d, prefix) in prefixes.iter().enumerate().take(depth) {
        let Some(dir) = image.dirs.get(prefix) else {
            continue;
        };
        let child_is_leaf = d + 1 == depth;
        for pattern in &dir.patterns[..dir.count as usize] {
            let any_depth = pattern.kind & AT_ANY_DEPTH != 0;
            let placed = any_depth
                || (pattern.kind & AT_CHILD != 0 && child_is_leaf)
                || (pattern.kind & BELOW_CHILD != 0 && !child_is_leaf);
            let name = if any_depth { parts[depth - 1] } else { parts[d] };
            if placed && name_matches(seed, pattern, name) {
                sets |= pattern.sets;
            }
        }
    }
    sets | image.config.always_sets
}

/// The sets every path below the directory `dir` is in, whatever its name and depth (the
/// `DIR/**` globs at or above it): what a protected directory carries by identity.
pub fn sets_below(image: &PolicyImage, dir: &str) -> u64 {
    // Two levels of names no glob of a workstation policy tests for.
    let probe = format!("{}/\u{1}below\u{1}/\u{1}below\u{1}", dir.trim_end_matches('/'));
    path_sets(image, &probe) & !image.config.always_sets
}
