//! Syscalls of tracked threads are seen twice: at entry the arguments are saved here, at exit the
//! record is written with the result. Paths the kernel judges or reports as the caller passed
//! them (unlink, rename, link, …) are copied at entry, so a thread rewriting the buffer while the
//! call runs cannot hide them; the socket address of a connect is copied too.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray},
};

/// Bytes of a path or socket address copied at syscall entry.
pub const INLINE_SIZE: usize = 256;

/// `PendingPaths::flags`: `first` holds the whole NUL-terminated first path.
pub const FIRST_COMPLETE: u16 = 1;
/// `PendingPaths::flags`: `second` holds the whole NUL-terminated second path.
pub const SECOND_COMPLETE: u16 = 2;
/// `PendingPaths::flags`: `first` holds a socket address of `first_len` bytes.
pub const FIRST_SOCKADDR: u16 = 4;

/// `PendingCall::flags`: paths were copied into `PENDING_PATHS`.
pub const PENDING_HAS_PATHS: u16 = 1;
/// `PendingCall::flags`: a 32-bit (ia32) call, reported at entry.
pub const PENDING_COMPAT: u16 = 2;
/// `PendingCall::flags`: the process was killed at entry for this call.
pub const PENDING_KILLED: u16 = 4;
/// `PendingCall::flags`: a path argument the entry policy needed could not be read.
pub const PENDING_UNREADABLE: u16 = 8;

/// A syscall of a tracked thread between entry and exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingCall {
    pub session_id: u64,
    /// A `sensor_common::event::Syscall` value.
    pub syscall: u16,
    /// `PENDING_*` flags.
    pub flags: u16,
    /// A `calls::Family` value.
    pub family: u16,
    pub reserved: u16,
    /// The raw syscall arguments (for openat2, `args[2]` and `args[3]` hold `how.flags`,
    /// `how.mode`).
    pub args: [u64; 6],
}

/// The path arguments of a pending call, copied at entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingPaths {
    pub flags: u16,
    pub reserved: u16,
    pub first_len: u32,
    pub second_len: u32,
    pub reserved2: u32,
    pub first: [u8; INLINE_SIZE],
    pub second: [u8; INLINE_SIZE],
}

/// Syscalls of tracked threads between entry and exit, by pid_tgid. A plain hash map, not an
/// LRU one: an entry lives for one syscall (the exit removes it, and a thread's exit removes what
/// a call that never returns left), so nothing is ever evicted, and an LRU map's insert and
/// delete cost a tracked call about twice as much.
#[map]
pub static PENDING: HashMap<u64, PendingCall> = HashMap::with_max_entries(8_192, 0);

/// Path arguments copied at syscall entry (calls judged or reported from what the caller passed,
/// which another thread could rewrite while the call runs), by pid_tgid; removed with the
/// call's `PENDING` entry.
#[map]
pub static PENDING_PATHS: HashMap<u64, PendingPaths> = HashMap::with_max_entries(1_024, 0);

/// Per-CPU buffer in which a pending syscall is assembled before it is stored in `PENDING`.
#[map]
pub static PENDING_SCRATCH: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU buffer in which the paths of a pending syscall are assembled.
#[map]
pub static PENDING_PATHS_SCRATCH: PerCpuArray<PendingPaths> = PerCpuArray::with_max_entries(1, 0);
