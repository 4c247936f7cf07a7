//! The maps the kernel programs share with userspace.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
};
use sensor_common::{
    event::SCRATCH_SIZE,
    maps::{COUNTER_COUNT, ExecMatch, MAX_EXEC_NAMES, MAX_TRACKED, TrackedProcess},
    policy::{
        CIDR_KEY_BYTES, DirPatterns, MAX_KILLED, MAX_POLICY_CIDRS, MAX_POLICY_DIRS, MAX_POLICY_FILES,
        MAX_POLICY_PROGRAMS, MAX_RULES, MAX_WORKSPACES, PolicyConfig, PolicyRule, Workspace,
    },
};

use crate::{
    pending::PendingCall,
    policy::{
        judge::{Subject, Verdict},
        path_key::PathKey,
        threshold::{CountKey, CountWindow},
        written::WrittenKey,
    },
};

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

/// Per-CPU buffers in which records are assembled before they are copied to the ring buffer: one
/// for events, one for policy records (see `record::EVENT_SCRATCH`, `record::POLICY_SCRATCH`).
#[map]
pub static SCRATCH: PerCpuArray<[u8; SCRATCH_SIZE]> = PerCpuArray::with_max_entries(2, 0);

/// Per-CPU write offsets into `SCRATCH` (kept in map memory on purpose, see `record`).
#[map]
pub static CURSOR: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Programs tail-called by the others (see `sensor_common::maps::TAILS_MAP`).
#[map]
pub static TAILS: ProgramArray = ProgramArray::with_max_entries(4, 0);

/// Per-CPU buffer in which a pending syscall is assembled before it is stored in `PENDING`.
#[map]
pub static PENDING_SCRATCH: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);

// ---------------------------------------------------------------------------------------------
// Enforcement policy (written by userspace, see `sensor_common::policy`)

#[map]
pub static POLICY_CONFIG: Array<PolicyConfig> = Array::with_max_entries(1, 0);

#[map]
pub static POLICY_RULES: Array<PolicyRule> = Array::with_max_entries(MAX_RULES as u32, 0);

#[map]
pub static POLICY_FILES: HashMap<u64, u64> = HashMap::with_max_entries(MAX_POLICY_FILES, 0);

#[map]
pub static POLICY_DIRS: HashMap<u64, DirPatterns> = HashMap::with_max_entries(MAX_POLICY_DIRS, 0);

#[map]
pub static POLICY_PROGRAMS: HashMap<u64, u64> = HashMap::with_max_entries(MAX_POLICY_PROGRAMS, 0);

#[map]
pub static POLICY_CIDRS: LpmTrie<[u8; CIDR_KEY_BYTES], u32> = LpmTrie::with_max_entries(MAX_POLICY_CIDRS, 0);

#[map]
pub static WORKSPACES: HashMap<u64, Workspace> = HashMap::with_max_entries(MAX_WORKSPACES, 0);

#[map]
pub static KILLED: HashMap<u64, u64> = HashMap::with_max_entries(MAX_KILLED, 0);

// Enforcement state (kernel only)

/// Files each session opened for writing.
#[map]
pub static WRITTEN: LruHashMap<WrittenKey, u64> = LruHashMap::with_max_entries(65_536, 0);

/// Kernel threshold windows, per session and rule.
#[map]
pub static COUNTS: LruHashMap<CountKey, CountWindow> = LruHashMap::with_max_entries(8_192, 0);

/// Per-CPU operation being judged.
#[map]
pub static SUBJECT: PerCpuArray<Subject> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU verdict being built by the rule scan.
#[map]
pub static JUDGEMENT: PerCpuArray<Verdict> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU path hashes of the operation being judged.
#[map]
pub static PATH_KEY: PerCpuArray<PathKey> = PerCpuArray::with_max_entries(1, 0);
