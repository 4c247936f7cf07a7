//! The kernel policy's decisions that depend on nothing but their arguments, in one place: the
//! kernel programs (`sensor-ebpf/src/policy/`) call them, userspace's replay of the kernel's
//! matching (`sensor/src/enforce/image/mirror.rs`) calls them, and they are tested here on the
//! host. Everything is `#[inline(always)]` so the kernel's call chains and stack frames do not
//! change (6.1 allows 512 bytes of stack for a whole chain).

use crate::abi::O_DIRECTORY;
use crate::policy::{
    AT_ANY_DEPTH, AT_CHILD, BELOW_CHILD, NAME_EDGE, NAME_EXACT, NAME_PREFIX, NAME_SUFFIX, NamePattern, PolicyRule,
    PortRange, RULE_EXISTING, RULE_IN_WORKSPACE, RULE_NOT_DIRECTORY, RULE_OUTSIDE_WORKSPACE, RULE_WRITTEN_BY_SESSION,
    component_hash,
};

/// One path component as the policy compares it: its hash, its length, and its first and last
/// [`NAME_EDGE`] bytes (the last right-aligned) as little-endian words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameView {
    /// `component_hash` of the name.
    pub hash: u64,
    /// Length in bytes.
    pub len: u32,
    /// The first 16 bytes, zero-padded.
    pub head: [u64; 2],
    /// The last 16 bytes, right-aligned and zero-padded on the left.
    pub tail: [u64; 2],
}

impl NameView {
    /// The view of `name` (the kernel builds the same words from the bytes it reads).
    pub fn of(seed: u64, name: &[u8]) -> Self {
        let mut head = [0u8; NAME_EDGE];
        let mut tail = [0u8; NAME_EDGE];
        let n = name.len().min(NAME_EDGE);
        head[..n].copy_from_slice(&name[..n]);
        tail[NAME_EDGE - n..].copy_from_slice(&name[name.len() - n..]);
        Self {
            hash: component_hash(seed, name),
            len: name.len() as u32,
            head: words(head),
            tail: words(tail),
        }
    }
}

impl NamePattern {
    /// A test for the name `name` exactly (by its `component_hash`).
    pub fn exact(seed: u64, name: &[u8]) -> Self {
        Self {
            kind: NAME_EXACT,
            exact: component_hash(seed, name),
            ..Self::default()
        }
    }

    /// A test for names that start with `prefix` and end with `suffix` (`PREFIX*SUFFIX`; either
    /// may be empty, each at most [`NAME_EDGE`] bytes: longer ones are cut to their first and
    /// last [`NAME_EDGE`] bytes, which the caller must have refused).
    pub fn wildcard(prefix: &[u8], suffix: &[u8]) -> Self {
        let mut pattern = Self::default();
        let prefix = &prefix[..prefix.len().min(NAME_EDGE)];
        let suffix = &suffix[suffix.len() - suffix.len().min(NAME_EDGE)..];
        if !prefix.is_empty() {
            let mut bytes = [0u8; NAME_EDGE];
            let mut mask = [0u8; NAME_EDGE];
            bytes[..prefix.len()].copy_from_slice(prefix);
            mask[..prefix.len()].fill(0xff);
            pattern.kind |= NAME_PREFIX;
            pattern.prefix_len = prefix.len() as u16;
            pattern.prefix = words(bytes);
            pattern.prefix_mask = words(mask);
        }
        if !suffix.is_empty() {
            let mut bytes = [0u8; NAME_EDGE];
            let mut mask = [0u8; NAME_EDGE];
            bytes[NAME_EDGE - suffix.len()..].copy_from_slice(suffix);
            mask[NAME_EDGE - suffix.len()..].fill(0xff);
            pattern.kind |= NAME_SUFFIX;
            pattern.suffix_len = suffix.len() as u16;
            pattern.suffix = words(bytes);
            pattern.suffix_mask = words(mask);
        }
        pattern
    }

    /// Whether the name matches (see [`name_matches`]).
    pub fn matches(&self, name: &NameView) -> bool {
        name_matches(self, name.hash, name.len, &name.head, &name.tail)
    }
}

/// 16 bytes as two little-endian words, as the kernel loads them.
fn words(bytes: [u8; NAME_EDGE]) -> [u64; 2] {
    let mut low = [0u8; 8];
    let mut high = [0u8; 8];
    low.copy_from_slice(&bytes[..8]);
    high.copy_from_slice(&bytes[8..]);
    [u64::from_le_bytes(low), u64::from_le_bytes(high)]
}

/// Whether a name matches a directory's name pattern: the exact hash, or the masked prefix
/// and suffix words with enough bytes for both.
#[inline(always)]
pub fn name_matches(pattern: &NamePattern, hash: u64, len: u32, head: &[u64; 2], tail: &[u64; 2]) -> bool {
    let kind = pattern.kind;
    if kind & NAME_EXACT != 0 {
        return hash == pattern.exact;
    }
    let prefix = kind & NAME_PREFIX != 0;
    let suffix = kind & NAME_SUFFIX != 0;
    let needed =
        if prefix { pattern.prefix_len as u32 } else { 0 } + if suffix { pattern.suffix_len as u32 } else { 0 };
    if len < needed {
        return false;
    }
    if prefix
        && ((head[0] & pattern.prefix_mask[0]) != pattern.prefix[0]
            || (head[1] & pattern.prefix_mask[1]) != pattern.prefix[1])
    {
        return false;
    }
    !(suffix
        && ((tail[0] & pattern.suffix_mask[0]) != pattern.suffix[0]
            || (tail[1] & pattern.suffix_mask[1]) != pattern.suffix[1]))
}

/// Whether a name pattern of the directory `dir_depth` components deep is tested for a path
/// `path_depth` components deep: `AT_CHILD` for the directory's own entries, `BELOW_CHILD` for
/// paths further down, `AT_ANY_DEPTH` for every path below it.
#[inline(always)]
pub fn pattern_placed(kind: u32, dir_depth: u32, path_depth: u32) -> bool {
    let child_is_leaf = dir_depth + 1 == path_depth;
    kind & AT_ANY_DEPTH != 0 || (kind & AT_CHILD != 0 && child_is_leaf) || (kind & BELOW_CHILD != 0 && !child_is_leaf)
}

/// Which component of the path a placed pattern tests (1-based, as `PathKey::part` counts):
/// the last for `AT_ANY_DEPTH` (`**/NAME`), else the directory's child on the way to the path.
#[inline(always)]
pub fn pattern_component(kind: u32, dir_depth: u32, path_depth: u32) -> u32 {
    if kind & AT_ANY_DEPTH != 0 {
        path_depth
    } else {
        dir_depth + 1
    }
}

/// What a rule's scope is tested against.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The path's sets.
    pub sets: u64,
    /// The sets the file carries by identity (a protected file or directory, whatever it is
    /// called now): they outweigh path exclusions.
    pub identity: u64,
    /// The sets where the program is excepted.
    pub exempt: u64,
}

/// Whether any rule for an operation can fire on a path in `sets` (with the sets found by
/// identity): a rule fires only on a path in one of its included sets, unless it includes every
/// path (`unscoped`). The kernel asks this before the costlier tests of each rule (workspace,
/// program exceptions, flags, thresholds).
#[inline(always)]
pub fn may_fire(op_sets: u64, unscoped: bool, sets: u64) -> bool {
    unscoped || op_sets & sets != 0
}

/// The tests every rule has: its paths, its path exclusions, its program exceptions. (By
/// reference: the kernel reads each field only when it is needed, which keeps the connect
/// rule step's frame within 6.1's budget.)
#[inline(always)]
pub fn in_scope(rule: &PolicyRule, scope: &Scope) -> bool {
    if rule.include_sets != 0 && scope.sets & rule.include_sets == 0 {
        return false;
    }
    let by_identity = scope.identity & rule.include_sets != 0;
    let excluded = scope.sets & rule.exclude_sets != 0 && !by_identity;
    !excluded && scope.sets & rule.except_sets & scope.exempt == 0
}

/// Whether the rule's `RULE_*` flags admit a file operation: `open_flags` of an open (0
/// otherwise), whether the session wrote the file before, whether it existed before the
/// operation, whether the path is in the session's workspace.
#[inline(always)]
pub fn file_flags_admit(flags: u32, open_flags: u32, written: bool, existing: bool, in_workspace: bool) -> bool {
    if flags & RULE_NOT_DIRECTORY != 0 && open_flags & O_DIRECTORY != 0 {
        return false;
    }
    if flags & RULE_WRITTEN_BY_SESSION != 0 && !written {
        return false;
    }
    if flags & RULE_EXISTING != 0 && !existing {
        return false;
    }
    if flags & RULE_IN_WORKSPACE != 0 && !in_workspace {
        return false;
    }
    !(flags & RULE_OUTSIDE_WORKSPACE != 0 && in_workspace)
}

/// Whether `port` is in one of the ranges. Unused ranges are empty (`low > high`), so every
/// entry is tested: a loop bounded by a count from the map confuses older verifiers.
#[inline(always)]
pub fn in_ports<const N: usize>(ranges: &[PortRange; N], port: u16) -> bool {
    let mut found = false;
    for range in ranges {
        found |= port >= range.low && port <= range.high;
    }
    found
}

#[cfg(test)]
mod tests;
