//! The syscalls the sensor captures, by number: x86-64's own and the 32-bit (ia32) ones a 64-bit
//! kernel also runs (`int 0x80`, 32-bit programs). Both map to the same `Syscall`, with the
//! positions of its arguments.

use sensor_common::event::Syscall;

/// How a call's arguments are handled at entry and its record written at exit.
#[repr(u16)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// open, openat, openat2, creat: an `OpenEvent` at exit.
    Open,
    /// unlink, unlinkat, rmdir: the path copied and judged at entry, an `UnlinkEvent` at exit.
    Remove,
    /// connect: the address copied at entry, a `ConnectEvent` at exit.
    Connect,
    /// chdir, fchdir: the new working directory at exit.
    Chdir,
    /// Calls with one or two path arguments (rename, link, symlink, truncate, chmod, chown,
    /// setxattr, mount, umount2, mkdir, failed execs): paths copied at entry, a `SyscallEvent`.
    Paths,
    /// Calls on a descriptor (ftruncate, fchmod, fchown, fsetxattr): the file's path and
    /// identity from the descriptor.
    OnFd,
    /// Calls with plain arguments (unshare, setns, ptrace, process_vm_writev, io_uring_setup,
    /// memfd_create, bind, listen).
    Plain,
}

impl Family {
    #[inline(always)]
    pub fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            0 => Self::Open,
            1 => Self::Remove,
            2 => Self::Connect,
            3 => Self::Chdir,
            4 => Self::Paths,
            5 => Self::OnFd,
            6 => Self::Plain,
            _ => return None,
        })
    }
}

/// A captured call: what it is, and how it is handled.
#[derive(Clone, Copy)]
pub struct Call {
    pub syscall: Syscall,
    pub family: Family,
}

const fn call(syscall: Syscall, family: Family) -> Option<Call> {
    Some(Call { syscall, family })
}

/// x86-64 syscall numbers.
#[inline(always)]
pub fn x86_64(nr: u64) -> Option<Call> {
    use Family::*;
    use Syscall as S;
    match nr {
        2 => call(S::Open, Open),
        257 => call(S::Openat, Open),
        437 => call(S::Openat2, Open),
        85 => call(S::Creat, Open),
        87 => call(S::Unlink, Remove),
        263 => call(S::Unlinkat, Remove),
        84 => call(S::Rmdir, Remove),
        42 => call(S::Connect, Connect),
        80 => call(S::Chdir, Chdir),
        81 => call(S::Fchdir, Chdir),
        82 => call(S::Rename, Paths),
        264 => call(S::Renameat, Paths),
        316 => call(S::Renameat2, Paths),
        86 => call(S::Link, Paths),
        265 => call(S::Linkat, Paths),
        88 => call(S::Symlink, Paths),
        266 => call(S::Symlinkat, Paths),
        76 => call(S::Truncate, Paths),
        77 => call(S::Ftruncate, OnFd),
        90 => call(S::Chmod, Paths),
        91 => call(S::Fchmod, OnFd),
        268 => call(S::Fchmodat, Paths),
        452 => call(S::Fchmodat2, Paths),
        92 => call(S::Chown, Paths),
        93 => call(S::Fchown, OnFd),
        94 => call(S::Lchown, Paths),
        260 => call(S::Fchownat, Paths),
        188 => call(S::Setxattr, Paths),
        189 => call(S::Lsetxattr, Paths),
        190 => call(S::Fsetxattr, OnFd),
        165 => call(S::Mount, Paths),
        429 => call(S::MoveMount, Paths),
        166 => call(S::Umount2, Paths),
        83 => call(S::Mkdir, Paths),
        258 => call(S::Mkdirat, Paths),
        59 => call(S::Execve, Paths),
        322 => call(S::Execveat, Paths),
        272 => call(S::Unshare, Plain),
        308 => call(S::Setns, Plain),
        319 => call(S::MemfdCreate, Plain),
        49 => call(S::Bind, Plain),
        50 => call(S::Listen, Plain),
        101 => call(S::Ptrace, Plain),
        311 => call(S::ProcessVmWritev, Plain),
        425 => call(S::IoUringSetup, Plain),
        _ => None,
    }
}

/// ia32 syscall numbers (32-bit programs and `int 0x80`). `socketcall` (102) multiplexes the
/// socket calls; its sub-calls are decoded by the caller.
#[inline(always)]
pub fn ia32(nr: u64) -> Option<Call> {
    use Family::*;
    use Syscall as S;
    match nr {
        5 => call(S::Open, Open),
        295 => call(S::Openat, Open),
        437 => call(S::Openat2, Open),
        8 => call(S::Creat, Open),
        10 => call(S::Unlink, Remove),
        301 => call(S::Unlinkat, Remove),
        40 => call(S::Rmdir, Remove),
        362 => call(S::Connect, Connect),
        12 => call(S::Chdir, Chdir),
        133 => call(S::Fchdir, Chdir),
        38 => call(S::Rename, Paths),
        302 => call(S::Renameat, Paths),
        353 => call(S::Renameat2, Paths),
        9 => call(S::Link, Paths),
        303 => call(S::Linkat, Paths),
        83 => call(S::Symlink, Paths),
        304 => call(S::Symlinkat, Paths),
        92 | 193 => call(S::Truncate, Paths),
        93 | 194 => call(S::Ftruncate, OnFd),
        15 => call(S::Chmod, Paths),
        94 => call(S::Fchmod, OnFd),
        306 => call(S::Fchmodat, Paths),
        452 => call(S::Fchmodat2, Paths),
        182 | 212 => call(S::Chown, Paths),
        95 | 207 => call(S::Fchown, OnFd),
        16 | 198 => call(S::Lchown, Paths),
        298 => call(S::Fchownat, Paths),
        226 => call(S::Setxattr, Paths),
        227 => call(S::Lsetxattr, Paths),
        228 => call(S::Fsetxattr, OnFd),
        21 => call(S::Mount, Paths),
        429 => call(S::MoveMount, Paths),
        52 => call(S::Umount2, Paths),
        39 => call(S::Mkdir, Paths),
        296 => call(S::Mkdirat, Paths),
        11 => call(S::Execve, Paths),
        358 => call(S::Execveat, Paths),
        310 => call(S::Unshare, Plain),
        346 => call(S::Setns, Plain),
        356 => call(S::MemfdCreate, Plain),
        361 => call(S::Bind, Plain),
        363 => call(S::Listen, Plain),
        102 => call(S::Connect, Connect),
        26 => call(S::Ptrace, Plain),
        348 => call(S::ProcessVmWritev, Plain),
        425 => call(S::IoUringSetup, Plain),
        _ => None,
    }
}

/// The signal-sending calls: `(target process or thread, signal)` from their arguments
/// (kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo in either table).
#[inline(always)]
pub fn signal(nr: u64, compat: bool, args: &[u64; 6]) -> Option<(u32, u32)> {
    let (kill, tkill, tgkill, queue, tgqueue) = if compat {
        (37, 238, 270, 178, 335)
    } else {
        (62, 200, 234, 129, 297)
    };
    if nr == kill || nr == tkill || nr == queue {
        Some((args[0] as u32, args[1] as u32))
    } else if nr == tgkill || nr == tgqueue {
        Some((args[0] as u32, args[2] as u32))
    } else {
        None
    }
}

/// bpf(2): reported as tampering (x86-64 and ia32 numbers).
pub const BPF_X86_64: u64 = 321;
pub const BPF_IA32: u64 = 357;

/// ia32 `socketcall` (102) sub-calls the sensor captures.
pub const SOCKETCALL: u64 = 102;
pub const SYS_BIND: u64 = 2;
pub const SYS_CONNECT: u64 = 3;
pub const SYS_LISTEN: u64 = 4;

/// Numbers (of either table) worth a closer look: a 512-bit map, so every other syscall leaves
/// after one load. Built at compile time from the two tables.
pub static INTERESTING: [u64; 8] = interesting();

const fn interesting() -> [u64; 8] {
    const X86_64: &[u64] = &[
        2, 257, 437, 85, 87, 263, 84, 42, 80, 81, 82, 264, 316, 86, 265, 88, 266, 76, 77, 90, 91, 268, 452, 92, 93, 94,
        260, 188, 189, 190, 165, 429, 166, 83, 258, 59, 322, 272, 308, 319, 49, 50, 101, 311, 425, 321, 62, 200, 234,
        129, 297,
    ];
    const IA32: &[u64] = &[
        5, 295, 437, 8, 10, 301, 40, 362, 12, 133, 38, 302, 353, 9, 303, 83, 304, 92, 193, 93, 194, 15, 94, 306, 452,
        182, 212, 95, 207, 16, 198, 298, 226, 227, 228, 21, 429, 52, 39, 296, 11, 358, 310, 346, 356, 361, 363, 102,
        26, 348, 425, 357, 37, 238, 270, 178, 335,
    ];
    let mut bits = [0u64; 8];
    let mut i = 0;
    while i < X86_64.len() {
        let nr = X86_64[i];
        bits[(nr / 64) as usize] |= 1 << (nr % 64);
        i += 1;
    }
    let mut i = 0;
    while i < IA32.len() {
        let nr = IA32[i];
        bits[(nr / 64) as usize] |= 1 << (nr % 64);
        i += 1;
    }
    bits
}

/// True when `nr` is in one of the tables.
#[inline(always)]
pub fn maybe_interesting(nr: u64) -> bool {
    if nr >= 512 {
        return false;
    }
    let word = unsafe { core::ptr::read_volatile(&INTERESTING[crate::bounds::bounded((nr >> 6) as usize, 7)]) };
    word & (1 << (nr & 63)) != 0
}
