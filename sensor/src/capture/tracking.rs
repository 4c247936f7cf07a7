//! Marking processes as part of an agent session in the kernel's `TRACKED` map.

use aya::maps::{HashMap, MapData, MapError};
use sensor_common::maps::{NO_PROFILE, TrackedProcess};

use crate::process::Procfs;

/// Rounds of /proc scanning when adopting a running tree: each round catches children forked
/// while the previous one was being inserted.
const ADOPT_ROUNDS: usize = 4;

/// Inserts `pid` into the session; its future children inherit the session in the kernel.
pub fn track(
    map: &mut HashMap<MapData, u32, TrackedProcess>,
    pid: u32,
    session_id: u64,
    profile_id: Option<u32>,
) -> Result<(), MapError> {
    let entry = TrackedProcess {
        session_id,
        profile_id: profile_id.unwrap_or(NO_PROFILE),
        flags: 0,
        exe_hash: 0,
        name_hash: 0,
    };
    map.insert(pid, entry, 0)
}

/// Records the hashes of the executable of tracked `pid` (the kernel computes them itself at each
/// exec; processes adopted while running need them set from /proc).
pub fn set_program(map: &mut HashMap<MapData, u32, TrackedProcess>, pid: u32, exe_hash: u64, name_hash: u64) {
    if let Ok(mut entry) = map.get(&pid, 0) {
        entry.exe_hash = exe_hash;
        entry.name_hash = name_hash;
        let _ = map.insert(pid, entry, 0);
    }
}

/// Removes `pid` from tracking (its children keep their own entries).
pub fn untrack(map: &mut HashMap<MapData, u32, TrackedProcess>, pid: u32) {
    let _ = map.remove(&pid);
}

/// Tracks a process that is already running, with all its descendants as /proc shows them.
///
/// The root goes in first, so children it forks from then on inherit the session in the kernel;
/// descendants are then rescanned until a round finds nothing new (a child forked by a
/// not-yet-tracked descendant during a round is caught by the next one). Returns the pids tracked.
pub fn adopt_tree(
    map: &mut HashMap<MapData, u32, TrackedProcess>,
    procfs: &Procfs,
    root: u32,
    session_id: u64,
    profile_id: Option<u32>,
) -> Result<Vec<u32>, MapError> {
    track(map, root, session_id, profile_id)?;
    let mut tracked = vec![root];
    for _ in 0..ADOPT_ROUNDS {
        let mut added = false;
        for pid in procfs.descendants(root) {
            if !tracked.contains(&pid) {
                track(map, pid, session_id, profile_id)?;
                tracked.push(pid);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    Ok(tracked)
}
