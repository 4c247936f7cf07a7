//! What a capture program hands to the policy program it tail-calls (per CPU: a tail call runs
//! on the same CPU, right after).

use aya_ebpf::{macros::map, maps::PerCpuArray};
use sensor_common::event::StrRef;

/// An open the policy judges: the path is in the event scratch buffer (its hashes in the per-CPU
/// `PathKey`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenHandoff {
    pub session: u64,
    /// The `struct file`.
    pub file: u64,
    /// `sets_self` of the file when it is protected.
    pub identity_sets: u64,
    pub flags: u32,
    /// A `PolicyOp` value.
    pub op: u32,
    pub path: StrRef,
    /// Non-zero: the open's own record went out (it is not a counted repeat).
    pub reported: u32,
    /// `file.f_mode` (`FMODE_CREATED`: the open created the file).
    pub fmode: u32,
    /// The file's identity.
    pub object: sensor_common::event::FileIdentity,
}

/// Per-CPU hand-off from a capture program to the policy program it tail-calls.
#[map]
pub static HANDOFF: PerCpuArray<OpenHandoff> = PerCpuArray::with_max_entries(1, 0);
