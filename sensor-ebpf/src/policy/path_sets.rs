//! Which path sets a path is in: its exact hash in `POLICY_FILES`, and the name patterns of each
//! directory above it in `POLICY_DIRS`.

use aya_ebpf::{cty::c_void, helpers::generated::bpf_loop};
use sensor_common::{
    decide::{name_matches, pattern_component, pattern_placed},
    policy::{DirPatterns, MAX_DIR_PATTERNS, MAX_HASH_DEPTH},
};

use super::path_key::PathKey;
use crate::{
    bounds::bounded,
    maps::{POLICY_DIRS, POLICY_FILES},
};

/// The path sets `key` is in (besides the sets every path is in). `depths` has bit `d` set
/// when some directory with patterns is `d` components deep: only those are looked up.
/// Inlined into `judge`: a frame of its own would cost 32 bytes of the chain's 512 on 6.1
/// (its scan state fits in the slack of `judge`'s frame).
#[inline(always)]
pub fn path_sets(key: &mut PathKey, depths: u64) -> u64 {
    key.sets = unsafe { POLICY_FILES.get(&key.full()) }.copied().unwrap_or(0);
    let mut scan = DirScan {
        key: key as *mut PathKey,
        depths,
    };
    unsafe {
        bpf_loop(
            MAX_HASH_DEPTH as u32,
            dir_step as *mut c_void,
            &mut scan as *mut DirScan as *mut c_void,
            0,
        );
    }
    key.sets
}

#[repr(C)]
struct DirScan {
    key: *mut PathKey,
    depths: u64,
}

/// Looks at the directory `depth` components deep (an ancestor of the path).
extern "C" fn dir_step(depth: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut DirScan) };
    let key = unsafe { &mut *scan.key };
    let depth = depth as u32;
    if depth >= key.depth || scan.depths >> depth == 0 {
        return 1;
    }
    if scan.depths & (1 << depth) == 0 {
        return 0;
    }
    if let Some(dir) = unsafe { POLICY_DIRS.get(&key.prefix(depth)) } {
        let mut patterns = PatternScan {
            key: scan.key,
            dir: dir as *const DirPatterns,
            depth,
        };
        unsafe {
            bpf_loop(
                MAX_DIR_PATTERNS as u32,
                pattern_step as *mut c_void,
                &mut patterns as *mut PatternScan as *mut c_void,
                0,
            );
        }
    }
    0
}

#[repr(C)]
struct PatternScan {
    key: *mut PathKey,
    dir: *const DirPatterns,
    depth: u32,
}

/// Tests one name pattern of a directory above the path.
extern "C" fn pattern_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut PatternScan) };
    let dir = unsafe { &*scan.dir };
    if index >= dir.count as u64 {
        return 1;
    }
    let key = unsafe { &mut *scan.key };
    let pattern = &dir.patterns[bounded(index as usize, MAX_DIR_PATTERNS - 1)];
    let kind = pattern.kind;
    if !pattern_placed(kind, scan.depth, key.depth) {
        return 0;
    }
    let name = key.part(pattern_component(kind, scan.depth, key.depth));
    if name_matches(pattern, name.hash, name.len, &name.head, &name.tail) {
        key.sets |= pattern.sets;
    }
    0
}
