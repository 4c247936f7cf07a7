//! What the kernel computes for a path, computed in userspace from the same image: which path
//! sets a path is in (`POLICY_FILES` and the name patterns of the directories above it, as
//! `sensor-ebpf/src/policy/path_sets.rs` does). Identity seeding asks it which sets a protected
//! file's canonical path is in; the tests check the image against it.

use sensor_common::{
    decide::{NameView, pattern_component, pattern_placed},
    policy::{component_hash, path_child, path_root},
};

use super::PolicyImage;

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
        for pattern in &dir.patterns[..dir.count as usize] {
            let (dir_depth, path_depth) = (d as u32, depth as u32);
            if !pattern_placed(pattern.kind, dir_depth, path_depth) {
                continue;
            }
            let name = parts[pattern_component(pattern.kind, dir_depth, path_depth) as usize - 1];
            if pattern.matches(&NameView::of(seed, name.as_bytes())) {
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
