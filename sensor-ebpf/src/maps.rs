//! The maps the kernel programs share with userspace.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
};
use sensor_common::{
    event::SCRATCH_SIZE,
    maps::{COUNTER_COUNT, ExecMatch, MAX_EXEC_NAMES, MAX_SPAWNERS, MAX_TRACKED, TrackedProcess, WAKE_SLOTS},
    policy::{
        CIDR_KEY_BYTES, DirPatterns, Escalation, IdentityKey, MAX_ESCALATIONS, MAX_KILLED, MAX_POLICY_CIDRS,
        MAX_POLICY_DIRS, MAX_POLICY_FILES, MAX_POLICY_PROGRAMS, MAX_PROTECTED, MAX_RULES, MAX_SCRIPT_HOSTS,
        MAX_WORKSPACES, PolicyConfig, PolicyRule, Protection, Workspace,
    },
};

/// Tracked processes: tgid to session. Everything else leaves after one lookup here.
#[map]
pub static TRACKED: HashMap<u32, TrackedProcess> = HashMap::with_max_entries(MAX_TRACKED, 0);

/// Agent program names (FNV-1a of the base name) to the profile they start.
#[map]
pub static EXEC_NAMES: HashMap<u64, ExecMatch> = HashMap::with_max_entries(MAX_EXEC_NAMES, 0);

/// Spawner programs (FNV-1a of the executable's base name, `hash::name_words_hash`) to their
/// `SPAWNER_*` flags: `handoff.spawner_programs` and the systemd user manager.
#[map]
pub static SPAWNERS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_SPAWNERS, 0);

/// Threads whose 32-bit connect was reported at its entry, by pid_tgid, with the boot-time ns of
/// the report: the cgroup connect programs that run inside that call do not report it again.
#[map]
pub static ROUTE_REPORTED: LruHashMap<u64, u64> = LruHashMap::with_max_entries(1_024, 0);

/// Events to userspace. Userspace sets the size at load time.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);

/// Records that hit a kernel rule or a protected file: a ring of their own, so ordinary events
/// cannot crowd them out.
#[map]
pub static PRIORITY: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// Records lost per session (session id to count).
#[map]
pub static SESSION_LOSS: LruHashMap<u64, u64> = LruHashMap::with_max_entries(1_024, 0);

/// The event ring reader's clock (`sensor_common::maps::WAKE_*` slots): boot-time ns of the
/// last wake-up the programs asked for, and the time until which the reader said it will look
/// again without one (written by userspace).
#[map]
pub static WAKE: Array<u64> = Array::with_max_entries(WAKE_SLOTS, 0);

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

/// Tracepoint programs tail-called by the others (see `sensor_common::maps::TAILS_MAP`).
#[map]
pub static TAILS: ProgramArray = ProgramArray::with_max_entries(8, 0);

/// Raw tracepoint programs tail-called by `sys_enter` (see `sensor_common::maps::RAW_TAILS_MAP`).
#[map]
pub static RAW_TAILS: ProgramArray = ProgramArray::with_max_entries(8, 0);

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

/// Protected files and directories by identity (seeded and kept current by userspace).
#[map]
pub static PROTECTED: HashMap<IdentityKey, Protection> = HashMap::with_max_entries(MAX_PROTECTED, 0);

/// Interpreters whose script argument counts as the program executed (base-name hashes).
#[map]
pub static SCRIPT_HOSTS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_SCRIPT_HOSTS, 0);

/// Sessions whose enforcement escalated.
#[map]
pub static ESCALATION: LruHashMap<u64, Escalation> = LruHashMap::with_max_entries(MAX_ESCALATIONS, 0);
