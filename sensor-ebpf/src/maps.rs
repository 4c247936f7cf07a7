//! The maps the kernel programs share with userspace.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sensor_common::{
    event::SCRATCH_SIZE,
    maps::{COUNTER_COUNT, ExecMatch, MAX_EXEC_NAMES, MAX_TRACKED, TrackedProcess},
};

use crate::pending::PendingCall;

/// Tracked processes: tgid to session. Everything else leaves after one lookup here.
#[map]
pub static TRACKED: HashMap<u32, TrackedProcess> = HashMap::with_max_entries(MAX_TRACKED, 0);

/// Agent program names (FNV-1a of the base name) to the profile they start.
#[map]
pub static EXEC_NAMES: HashMap<u64, ExecMatch> = HashMap::with_max_entries(MAX_EXEC_NAMES, 0);

/// Syscalls of tracked threads between entry and exit, by pid_tgid.
#[map]
pub static PENDING: LruHashMap<u64, PendingCall> = LruHashMap::with_max_entries(8_192, 0);

/// Events to userspace. Userspace sets the size at load time.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Per-CPU counters (drops, tracking failures, emitted events).
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// Per-CPU buffer in which a record is assembled before it is copied to the ring buffer.
#[map]
pub static SCRATCH: PerCpuArray<[u8; SCRATCH_SIZE]> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU write offset into `SCRATCH` (kept in map memory on purpose, see `record`).
#[map]
pub static CURSOR: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU buffer in which a pending syscall is assembled before it is stored in `PENDING`.
#[map]
pub static PENDING_SCRATCH: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);
