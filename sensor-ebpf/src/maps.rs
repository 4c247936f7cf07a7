//! The maps the kernel programs share with userspace.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
};
use sensor_common::{
    event::SCRATCH_SIZE,
    maps::{COUNTER_COUNT, ExecMatch, MAX_EXEC_NAMES, MAX_SPAWNERS, MAX_TRACKED, TrackedProcess},
    policy::{
        CIDR_KEY_BYTES, DirPatterns, Escalation, IdentityKey, MAX_ESCALATIONS, MAX_KILLED, MAX_POLICY_CIDRS,
        MAX_POLICY_DIRS, MAX_POLICY_FILES, MAX_POLICY_PROGRAMS, MAX_PROTECTED, MAX_RULES, MAX_SCRIPT_HOSTS,
        MAX_WORKSPACES, PolicyConfig, PolicyRule, Protection, Workspace,
    },
};

use crate::{
    pending::{PendingCall, PendingPaths},
    policy::{
        check::FileOperation,
        handoff::{ExecHandoff, OpenHandoff},
        judge::{Subject, Verdict},
        path_key::PathKey,
        threshold::{CountKey, CountWindow},
        written::WrittenKey,
    },
    repeat::RepeatSlot,
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

/// Syscalls of tracked threads between entry and exit, by pid_tgid.
#[map]
pub static PENDING: LruHashMap<u64, PendingCall> = LruHashMap::with_max_entries(8_192, 0);

/// Path arguments copied at syscall entry (calls judged or reported from what the caller passed,
/// which another thread could rewrite while the call runs), by pid_tgid.
#[map]
pub static PENDING_PATHS: LruHashMap<u64, PendingPaths> = LruHashMap::with_max_entries(1_024, 0);

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

/// Boot-time ns of the last wake-up of the event ring's reader (one slot).
#[map]
pub static LAST_WAKE: Array<u64> = Array::with_max_entries(1, 0);

/// The last open of each tracked thread and how often it was repeated since it was reported.
#[map]
pub static REPEATS: LruHashMap<u64, RepeatSlot> = LruHashMap::with_max_entries(16_384, 0);

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

/// Per-CPU buffer in which a pending syscall is assembled before it is stored in `PENDING`.
#[map]
pub static PENDING_SCRATCH: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU buffer in which the paths of a pending syscall are assembled.
#[map]
pub static PENDING_PATHS_SCRATCH: PerCpuArray<PendingPaths> = PerCpuArray::with_max_entries(1, 0);

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

/// Per-CPU hand-off between the exec programs.
#[map]
pub static EXEC_HANDOFF: PerCpuArray<ExecHandoff> = PerCpuArray::with_max_entries(1, 0);

/// Sessions whose enforcement escalated.
#[map]
pub static ESCALATION: LruHashMap<u64, Escalation> = LruHashMap::with_max_entries(MAX_ESCALATIONS, 0);

// Enforcement state (kernel only)

/// Files each session opened for writing.
#[map]
pub static WRITTEN: LruHashMap<WrittenKey, u64> = LruHashMap::with_max_entries(65_536, 0);

/// Kernel threshold windows, per session and rule.
#[map]
pub static COUNTS: LruHashMap<CountKey, CountWindow> = LruHashMap::with_max_entries(8_192, 0);

/// Per-CPU state of the scan of a number in a magic path prefix (see `capture::magic`).
#[map]
pub static MAGIC_SCAN: PerCpuArray<crate::capture::magic::NumberScan> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU layout of the generic record being written (see `capture::ops`).
#[map]
pub static LAYOUT: PerCpuArray<crate::capture::ops::Layout> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU file operation being judged, as its program describes it.
#[map]
pub static OPERATION: PerCpuArray<FileOperation> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU operation being judged.
#[map]
pub static SUBJECT: PerCpuArray<Subject> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU verdict being built by the rule scan.
#[map]
pub static JUDGEMENT: PerCpuArray<Verdict> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU io_uring request between its report and its judgement (see `capture::io_uring`).
#[map]
pub static URING_REQUEST: PerCpuArray<crate::capture::io_uring::Request> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU description of the file an open just opened (see `capture::open`).
#[map]
pub static OPENED: PerCpuArray<crate::capture::open::Opened> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU hand-off from a capture program to the policy program it tail-calls.
#[map]
pub static HANDOFF: PerCpuArray<OpenHandoff> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU path hashes of the operation being judged.
#[map]
pub static PATH_KEY: PerCpuArray<PathKey> = PerCpuArray::with_max_entries(1, 0);
