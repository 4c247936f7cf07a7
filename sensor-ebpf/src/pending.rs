//! Syscalls of tracked threads are seen twice: at entry the arguments are saved here, at exit the
//! record is written with the result. Short strings the caller could change while the call runs
//! (the unlink path, the connect address) are copied at entry.

/// Bytes of a path or socket address copied at syscall entry.
pub const INLINE_SIZE: usize = 256;

/// `inline` holds the whole NUL-terminated path.
pub const INLINE_STR_COMPLETE: u16 = 1;
/// `inline` holds a socket address of `inline_len` bytes.
pub const INLINE_SOCKADDR: u16 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingCall {
    pub session_id: u64,
    /// A `sensor_common::event::Syscall` value.
    pub syscall: u16,
    /// `INLINE_*` flags describing `inline`.
    pub inline_flags: u16,
    pub inline_len: u32,
    /// The raw syscall arguments (for openat2, `args[2]` and `args[3]` hold `how.flags`, `how.mode`).
    pub args: [u64; 4],
    pub inline: [u8; INLINE_SIZE],
}
