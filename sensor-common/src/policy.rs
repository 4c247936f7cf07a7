//! The enforcement policy the kernel programs judge operations with, as userspace writes it into
//! maps, and the hashes both sides compute paths with.
//!
//! Paths are judged by hash: a path `/c1/c2/…/cn` has one hash per prefix
//! (`P0` for `/`, `Pk = path_child(Pk-1, component_hash(ck))`), so "is this file under that
//! directory" is one map lookup per level, whatever the number of rules. Userspace expands rule
//! globs into directories plus name patterns (see `NamePattern`); the kernel walks the path of the
//! file at hand, computes its prefix hashes and looks each one up. Every hash is keyed with a seed
//! chosen at random when the sensor starts.

/// Policy settings (an array of one [`PolicyConfig`]).
pub const POLICY_CONFIG_MAP: &str = "POLICY_CONFIG";
/// Rules by slot (an array of [`MAX_RULES`] [`PolicyRule`]s).
pub const POLICY_RULES_MAP: &str = "POLICY_RULES";
/// Full path hash (`u64`) to the path sets (`u64` mask) the exact path belongs to.
pub const POLICY_FILES_MAP: &str = "POLICY_FILES";
/// Directory hash (`u64`) to the name patterns ([`DirPatterns`]) below it.
pub const POLICY_DIRS_MAP: &str = "POLICY_DIRS";
/// Program hash (`u64`: of the executable's full path or of its base name) to the exception sets
/// (`u64` mask) that program is excepted in.
pub const POLICY_PROGRAMS_MAP: &str = "POLICY_PROGRAMS";
/// LPM trie of `[u8; CIDR_KEY_BYTES]` keys to `u32` (1): the networks of each address set.
pub const POLICY_CIDRS_MAP: &str = "POLICY_CIDRS";
/// Session id (`u64`) to [`Workspace`].
pub const WORKSPACES_MAP: &str = "WORKSPACES";
/// Sessions whose tree is being killed (`u64` session id to boot-time ns).
pub const KILLED_MAP: &str = "KILLED";
/// Protected files and directories by identity: [`IdentityKey`] to [`Protection`].
pub const PROTECTED_MAP: &str = "PROTECTED";
/// Sessions whose enforcement escalated: session id (`u64`) to [`Escalation`].
pub const ESCALATION_MAP: &str = "ESCALATION";
/// Interpreters whose script argument is judged as the program executed: base-name hash
/// (`component_hash`, `u64`) to 1 (`u32`).
pub const SCRIPT_HOSTS_MAP: &str = "SCRIPT_HOSTS";
/// Most entries of `SCRIPT_HOSTS`.
pub const MAX_SCRIPT_HOSTS: u32 = 256;

/// Most rules the kernel judges (one bit each in `u64` masks).
pub const MAX_RULES: usize = 64;
/// Most path sets (one bit each in `u64` masks).
pub const MAX_PATH_SETS: usize = 64;
/// Most name patterns under one directory.
pub const MAX_DIR_PATTERNS: usize = 16;
/// Most port ranges in one rule's include or exclude list.
pub const MAX_PORT_RANGES: usize = 16;
/// Most events a kernel threshold counts (the count of a kernel threshold rule is at most this).
pub const MAX_THRESHOLD: usize = 8;
/// Deepest path the kernel hashes (deeper paths are judged by their first components only).
pub const MAX_HASH_DEPTH: usize = 64;
/// Bytes of a name's start and end kept for prefix and suffix patterns.
pub const NAME_EDGE: usize = 16;

/// Most entries of `POLICY_FILES`.
pub const MAX_POLICY_FILES: u32 = 65_536;
/// Most entries of `POLICY_DIRS`.
pub const MAX_POLICY_DIRS: u32 = 8_192;
/// Most entries of `POLICY_PROGRAMS`.
pub const MAX_POLICY_PROGRAMS: u32 = 4_096;
/// Networks of every address set together (an LPM trie allocates per entry, not up front: the
/// country sets of a large allowlist take tens of thousands; docs/enforcement.md).
pub const MAX_POLICY_CIDRS: u32 = 524_288;
/// Most entries of `WORKSPACES`.
pub const MAX_WORKSPACES: u32 = 4_096;
/// Most entries of `KILLED`.
pub const MAX_KILLED: u32 = 1_024;
/// Most entries of `PROTECTED`.
pub const MAX_PROTECTED: u32 = 65_536;
/// Most entries of `ESCALATION`.
pub const MAX_ESCALATIONS: u32 = 1_024;

/// The operations the policy judges. Their bit in masks is `1 << op as u32`.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyOp {
    /// Opening a file without write access.
    OpenRead = 0,
    /// Opening a file with write access, `O_CREAT` or `O_TRUNC`.
    OpenWrite = 1,
    /// Removing a file: unlink(2), unlinkat(2).
    Unlink = 2,
    /// Removing a directory: rmdir(2), unlinkat(2) with `AT_REMOVEDIR`.
    Rmdir = 3,
    /// Executing a program.
    Exec = 4,
    /// Connecting to an address.
    Connect = 5,
    /// A rename, judged on the new name (what is created or replaced there).
    Rename = 6,
    /// A rename, judged on the old name (what is taken away from there).
    RenameFrom = 7,
    /// A hard link, judged on the new name.
    Link = 8,
    /// A symbolic link, judged on the link's path.
    Symlink = 9,
    /// Shortening a file: truncate(2), ftruncate(2).
    Truncate = 10,
    /// Connecting to the unix socket of a server that runs commands for its clients (tmux,
    /// screen, the systemd user manager's private socket) whose listener is outside the session.
    HandoffConnect = 11,
    /// Attach access (`PTRACE_MODE_ATTACH`) to a process outside the session: ptrace attach,
    /// process_vm_readv/writev, opening /proc/PID/mem (one LSM hook: `ptrace_access_check`).
    HandoffAttach = 12,
}

/// How many operations there are.
pub const OP_COUNT: usize = 13;
/// Slots of the per-operation arrays of [`PolicyConfig`] (a power of two above `OP_COUNT`).
pub const OP_SLOTS: usize = 16;

impl PolicyOp {
    /// Every operation, in value order.
    pub const ALL: [PolicyOp; OP_COUNT] = [
        PolicyOp::OpenRead,
        PolicyOp::OpenWrite,
        PolicyOp::Unlink,
        PolicyOp::Rmdir,
        PolicyOp::Exec,
        PolicyOp::Connect,
        PolicyOp::Rename,
        PolicyOp::RenameFrom,
        PolicyOp::Link,
        PolicyOp::Symlink,
        PolicyOp::Truncate,
        PolicyOp::HandoffConnect,
        PolicyOp::HandoffAttach,
    ];

    /// The operation's bit in `PolicyRule::ops` and other masks.
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// (A match, not an index into `ALL`: the kernel's verifier must see every access bounded.)
    pub const fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            0 => Self::OpenRead,
            1 => Self::OpenWrite,
            2 => Self::Unlink,
            3 => Self::Rmdir,
            4 => Self::Exec,
            5 => Self::Connect,
            6 => Self::Rename,
            7 => Self::RenameFrom,
            8 => Self::Link,
            9 => Self::Symlink,
            10 => Self::Truncate,
            11 => Self::HandoffConnect,
            12 => Self::HandoffAttach,
            _ => return None,
        })
    }

    /// The operation's name, as in rules and alerts.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OpenRead => "open-read",
            Self::OpenWrite => "open-write",
            Self::Unlink => "unlink",
            Self::Rmdir => "rmdir",
            Self::Exec => "exec",
            Self::Connect => "connect",
            Self::Rename => "rename",
            Self::RenameFrom => "rename-from",
            Self::Link => "link",
            Self::Symlink => "symlink",
            Self::Truncate => "truncate",
            Self::HandoffConnect => "handoff-connect",
            Self::HandoffAttach => "handoff-attach",
        }
    }

    /// Operations that take a name away from its place or destroy content (judged with the
    /// protected directories above the path, by identity).
    pub const fn is_destructive(self) -> bool {
        matches!(self, Self::Unlink | Self::Rmdir | Self::RenameFrom | Self::Truncate)
    }

    /// Operations that hand work to a process outside the session (judged by who is at the other
    /// end, not by a path or an address).
    pub const fn is_handoff(self) -> bool {
        matches!(self, Self::HandoffConnect | Self::HandoffAttach)
    }
}

/// What a rule does when it fires, weakest first (a stronger action includes the weaker ones:
/// killing a process also stops the operation).
pub const ACTION_DENY: u32 = 1;
/// Rule action: kill the process.
pub const ACTION_KILL: u32 = 2;
/// Rule action: kill every process of the session.
pub const ACTION_KILL_TREE: u32 = 3;

/// How an operation is judged.
pub const BACKEND_NONE: u32 = 0;
/// A BPF LSM hook: the operation fails with EPERM before it happens.
pub const BACKEND_LSM: u32 = 1;
/// A tracepoint: the process is killed with SIGKILL (at syscall entry or exit, see docs).
pub const BACKEND_TRACEPOINT: u32 = 2;
/// A cgroup socket-address program: connect() and sendmsg() fail with EPERM.
pub const BACKEND_CGROUP: u32 = 3;

/// Rule flag: only files this session opened for writing (exec rules).
pub const RULE_WRITTEN_BY_SESSION: u32 = 1;
/// Rule flag: only paths inside the session's working directory.
pub const RULE_IN_WORKSPACE: u32 = 2;
/// Rule flag: only paths outside the session's working directory.
pub const RULE_OUTSIDE_WORKSPACE: u32 = 4;
/// Rule flag: opens of directories (`O_DIRECTORY`) never match.
pub const RULE_NOT_DIRECTORY: u32 = 8;
/// Rule flag: the threshold counts distinct paths, not events.
pub const RULE_DISTINCT: u32 = 16;
/// Rule flags: only IPv4 (or only IPv6) destinations; neither means both.
pub const RULE_IPV4_ONLY: u32 = 32;
/// See `RULE_IPV4_ONLY`.
pub const RULE_IPV6_ONLY: u32 = 64;
/// Rule flag: only files that existed before the operation (opens that did not create the file).
pub const RULE_EXISTING: u32 = 128;

/// An inclusive port range. Unused entries are [`PortRange::EMPTY`], which no port is in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortRange {
    /// First port of the range.
    pub low: u16,
    /// Last port of the range (inclusive).
    pub high: u16,
}

impl PortRange {
    /// The range no port is in.
    pub const EMPTY: PortRange = PortRange { low: 1, high: 0 };
}

/// One rule, by slot. A rule judges an operation when the operation's bit is in `ops` and:
/// the path is in one of `include_sets` and in none of `exclude_sets`, the program is not
/// excepted (see `except_sets`), the flags hold, and the destination passes the address and port
/// tests. With a threshold, it fires on the `threshold`th such operation within `window_ns`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// `PolicyOp` bits.
    pub ops: u32,
    /// `ACTION_*`; 0 for an empty slot.
    pub action: u32,
    /// `RULE_*` flags.
    pub flags: u32,
    /// 0: every match fires; otherwise the count (at most [`MAX_THRESHOLD`]).
    pub threshold: u32,
    /// The threshold's window (ns).
    pub window_ns: u64,
    /// Path sets the path must be in (one of them). File rules always have one; connect rules none.
    pub include_sets: u64,
    /// Path sets that exclude the path.
    pub exclude_sets: u64,
    /// Exception sets: the rule does not apply when the path is in one of them *and* the program
    /// is excepted in it (`POLICY_PROGRAMS`).
    pub except_sets: u64,
    /// Address set the destination must be in (set id + 1; 0: any).
    pub ip_include: u32,
    /// Address set that excludes the destination (set id + 1; 0: none).
    pub ip_exclude: u32,
    /// Entries of `port_include` in use.
    pub port_include_count: u32,
    /// Entries of `port_exclude` in use.
    pub port_exclude_count: u32,
    /// The destination port must be in one of these ranges (when any).
    pub port_include: [PortRange; MAX_PORT_RANGES],
    /// The destination port must be in none of these ranges.
    pub port_exclude: [PortRange; MAX_PORT_RANGES],
    /// Escalation in enforce mode (see [`Escalation`]): how long after a denial the session
    /// stays escalated (0: the rule does not escalate), how many denials within that window
    /// escalate further, and what that does (`ESCALATE_FREEZE` or `ESCALATE_KILL_TREE`).
    pub escalate_window_ns: u64,
    /// See `escalate_window_ns`.
    pub escalate_after: u32,
    /// See `escalate_window_ns`.
    pub escalate_then: u32,
}

/// Policy settings.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Non-zero: enforce (deny, kill); zero: monitor (judge and report only).
    pub enforce: u32,
    /// Non-zero: remember which files each session opened for writing.
    pub track_written: u32,
    /// Seed of every policy hash.
    pub seed: u64,
    /// Path sets every path is in (rules and exceptions that apply to any path).
    pub always_sets: u64,
    /// Per operation (`PolicyOp as usize`): the rules that judge it.
    pub op_rules: [u64; OP_SLOTS],
    /// Per operation: the path sets its rules include (a file protected by identity in none of
    /// them is not protected for that operation: its record needs no priority).
    pub op_sets: [u64; OP_SLOTS],
    /// Per operation: which `BACKEND_*` judges it (the others leave it alone).
    pub backends: [u32; OP_SLOTS],
    /// Per operation: non-zero when some rule for it counts operations (a threshold without
    /// `distinct`), so a repeated operation must be judged every time.
    pub counting: [u32; OP_SLOTS],
    /// Bit `d` set: some directory pattern (`POLICY_DIRS`) is `d` components deep; other depths
    /// are not looked up.
    pub dir_depths: u64,
    /// Generation of the policy: bumped on every load, so cached judgements expire.
    pub generation: u64,
    /// Path hashes of the system's binary directories (`/usr/bin`, `/usr/sbin`, `/usr/lib`,
    /// `/usr/libexec`, `/bin`, `/sbin`, …; 0: unused): an executable below one of them that the
    /// session did not write is the system's own (program exceptions by name apply to it).
    pub trusted_dirs: [u64; MAX_TRUSTED_DIRS],
    /// The depths of those directories (components), by index.
    pub trusted_depths: [u32; MAX_TRUSTED_DIRS],
    /// Non-zero when the BPF LSM hooks that guard the sensor (`ptrace_access_check`, `bpf`)
    /// are attached: they report those attempts, so the syscall entry does not as well.
    pub lsm_guards_sensor: u32,
    /// Bit `op` set: some rule for the operation includes every path (no path sets), so a path
    /// in none of `op_sets` may still make it fire (see `decide::may_fire`).
    pub unscoped_ops: u32,
}

/// Most system binary directories in [`PolicyConfig::trusted_dirs`].
pub const MAX_TRUSTED_DIRS: usize = 8;

/// Name tests of a [`NamePattern`] (none: any name).
pub const NAME_EXACT: u32 = 1;
/// Name test: the name starts with the prefix.
pub const NAME_PREFIX: u32 = 2;
/// Name test: the name ends with the suffix.
pub const NAME_SUFFIX: u32 = 4;
/// Where the name is, relative to the pattern's directory `D`: `D/name` (the path is the child).
pub const AT_CHILD: u32 = 8;
/// `D/name/**`: the path lies below a child of `D` with that name.
pub const BELOW_CHILD: u32 = 16;
/// `D/**/name`: the path's last component has that name, anywhere below `D` (`D/**` with any name).
pub const AT_ANY_DEPTH: u32 = 32;

/// A pattern on a path below one directory: a test of one component's name (the directory's
/// child on the path, or the path's last component), and where that component is.
///
/// The kernel keeps the first and the last [`NAME_EDGE`] bytes of a name as two little-endian
/// `u64`s each (the last bytes right-aligned); a prefix or suffix pattern is a masked compare of
/// those words, precomputed here by userspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamePattern {
    /// Path sets a matching path is in.
    pub sets: u64,
    /// `NAME_*` and placement (`AT_CHILD`, `BELOW_CHILD`, `AT_ANY_DEPTH`) bits.
    pub kind: u32,
    /// Length of the prefix and of the suffix in bytes (at most [`NAME_EDGE`] each).
    pub prefix_len: u16,
    /// See `prefix_len`.
    pub suffix_len: u16,
    /// The name's `component_hash` (for `NAME_EXACT`).
    pub exact: u64,
    /// The prefix bytes, and which bytes of the name's first 16 they are compared with.
    pub prefix: [u64; 2],
    /// See `prefix`.
    pub prefix_mask: [u64; 2],
    /// The suffix bytes (right-aligned), and which bytes of the name's last 16 they are compared with.
    pub suffix: [u64; 2],
    /// See `suffix`.
    pub suffix_mask: [u64; 2],
}

/// The name patterns under one directory (`POLICY_DIRS` value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirPatterns {
    /// Entries of `patterns` in use.
    pub count: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
    /// The patterns; the first `count` are used.
    pub patterns: [NamePattern; MAX_DIR_PATTERNS],
}

/// Bytes of a `POLICY_CIDRS` key after its prefix length: the set id (big-endian), then the
/// address as IPv6 (IPv4 as `::ffff:a.b.c.d`). The prefix length counts 32 bits of set id plus
/// the network's prefix.
pub const CIDR_KEY_BYTES: usize = 20;

/// Offsets of `msg_name` (a pointer) and `msg_namelen` (an int) in `struct msghdr`, as the
/// `socket_sendmsg` hook reads them: the same on every 64-bit kernel since 2.6; the sensor checks
/// them in the running kernel's BTF and leaves the hook off where they differ.
pub const MSGHDR_MSG_NAME: u32 = 0;
/// See `MSGHDR_MSG_NAME`.
pub const MSGHDR_MSG_NAMELEN: u32 = 8;

/// The working directory a session started in, as its path prefix hash and depth.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workspace {
    /// The hash of the directory's path prefix.
    pub hash: u64,
    /// The directory's depth (components).
    pub depth: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
}

/// What the kernel did about a judged operation (`PolicyEvent::applied` bits).
pub const APPLIED_DENIED: u32 = 1;
/// The process was killed.
pub const APPLIED_KILLED: u32 = 2;
/// The session's processes were killed.
pub const APPLIED_KILLED_TREE: u32 = 4;
/// Monitor mode: nothing was done; the other bits say what would have been.
pub const APPLIED_MONITOR: u32 = 8;
/// Sending the signal failed.
pub const APPLIED_SIGNAL_FAILED: u32 = 16;

/// `PolicyEvent::escalation`: the session is escalated (the window is open): with the
/// tracepoint backend, new programs of the session are killed before they run until it closes.
pub const ESCALATE_WINDOW: u32 = 1;
/// `PolicyEvent::escalation` and `PolicyRule::escalate_then`: freeze the session's cgroup.
pub const ESCALATE_FREEZE: u32 = 2;
/// `PolicyEvent::escalation` and `PolicyRule::escalate_then`: kill every process of the session.
pub const ESCALATE_KILL_TREE: u32 = 4;
/// `PolicyEvent::escalation`: a new program of an escalated session was killed at exec.
pub const ESCALATE_EXEC_STOPPED: u32 = 8;

/// A session whose enforcement escalated (enforce mode only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Escalation {
    /// Boot-time ns until which the window stays open.
    pub until_ns: u64,
    /// Denials within the window.
    pub denials: u32,
    /// Non-zero when the window stops new programs (some escalating rule is judged by the
    /// tracepoint backend, which cannot make an operation fail).
    pub stop_execs: u32,
}

/// A file's identity as the policy keys it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey {
    /// The file's device (`super_block.s_dev`).
    pub dev: u32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
    /// The file's inode number.
    pub ino: u64,
}

/// What a protected file or directory means to the policy, whatever name it is reached by.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    /// Path sets the file itself is in.
    pub sets_self: u64,
    /// Path sets every path below this directory is in (for destructive operations, whose
    /// parent directories are looked up by identity).
    pub sets_below: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Starts the hash of one path component.
#[inline(always)]
pub const fn component_start(seed: u64) -> u64 {
    seed ^ FNV_OFFSET
}

/// Feeds one 8-byte little-endian word of a component (the last word zero-padded).
#[inline(always)]
pub const fn component_step(hash: u64, word: u64) -> u64 {
    let mixed = (hash ^ word).wrapping_mul(MIX);
    mixed ^ (mixed >> 31)
}

/// Finishes the hash of a component of `len` bytes.
#[inline(always)]
pub const fn component_finish(hash: u64, len: u32) -> u64 {
    let mixed = (hash ^ len as u64).wrapping_mul(FNV_PRIME);
    mixed ^ (mixed >> 29)
}

/// The hash of one path component (a file or directory name): its bytes eight at a time as
/// little-endian words (the last one zero-padded), then its length.
pub const fn component_hash(seed: u64, name: &[u8]) -> u64 {
    let mut hash = component_start(seed);
    let mut i = 0;
    while i < name.len() {
        let mut word = 0u64;
        let mut j = 0;
        while j < 8 && i + j < name.len() {
            word |= (name[i + j] as u64) << (8 * j);
            j += 1;
        }
        hash = component_step(hash, word);
        i += 8;
    }
    component_finish(hash, name.len() as u32)
}

/// The hash of `/`.
#[inline(always)]
pub const fn path_root(seed: u64) -> u64 {
    path_child(seed.rotate_left(7), FNV_OFFSET)
}

/// The hash of a path one component below `parent`.
#[inline(always)]
pub const fn path_child(parent: u64, component: u64) -> u64 {
    let mixed = (parent.rotate_left(23) ^ component).wrapping_mul(MIX);
    mixed ^ (mixed >> 29)
}

/// The hash of an absolute path (empty components, as in `//` or a trailing `/`, are skipped;
/// `.` and `..` are taken literally: pass normalised paths).
pub fn path_hash(seed: u64, path: &[u8]) -> u64 {
    let mut hash = path_root(seed);
    for component in path.split(|byte| *byte == b'/') {
        if !component.is_empty() {
            hash = path_child(hash, component_hash(seed, component));
        }
    }
    hash
}
