//! Which system call a record comes from, and the record of the calls without one of their own.

use super::{EventHeader, FileIdentity, StrRef};

/// Which system call produced a file, network, process or working-directory event. The same
/// value is used for the 64-bit call, its 32-bit (ia32 compat) counterpart and its io_uring
/// equivalent; the record's flags say which door was used.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// `open`.
    Open = 1,
    /// `openat`.
    Openat = 2,
    /// `openat2`.
    Openat2 = 3,
    /// `creat`.
    Creat = 4,
    /// `unlink`.
    Unlink = 5,
    /// `unlinkat`.
    Unlinkat = 6,
    /// `rmdir`.
    Rmdir = 7,
    /// `connect`.
    Connect = 8,
    /// `chdir`.
    Chdir = 9,
    /// `fchdir`.
    Fchdir = 10,
    /// `rename`.
    Rename = 11,
    /// `renameat`.
    Renameat = 12,
    /// `renameat2`.
    Renameat2 = 13,
    /// `link`.
    Link = 14,
    /// `linkat`.
    Linkat = 15,
    /// `symlink`.
    Symlink = 16,
    /// `symlinkat`.
    Symlinkat = 17,
    /// `truncate`.
    Truncate = 18,
    /// `ftruncate`.
    Ftruncate = 19,
    /// `chmod`.
    Chmod = 20,
    /// `fchmod`.
    Fchmod = 21,
    /// `fchmodat`.
    Fchmodat = 22,
    /// `fchmodat2`.
    Fchmodat2 = 23,
    /// `chown`.
    Chown = 24,
    /// `fchown`.
    Fchown = 25,
    /// `lchown`.
    Lchown = 26,
    /// `fchownat`.
    Fchownat = 27,
    /// `setxattr`.
    Setxattr = 28,
    /// `lsetxattr`.
    Lsetxattr = 29,
    /// `fsetxattr`.
    Fsetxattr = 30,
    /// `mount`.
    Mount = 31,
    /// `move_mount`.
    MoveMount = 32,
    /// `umount2`.
    Umount2 = 33,
    /// `unshare`.
    Unshare = 34,
    /// `setns`.
    Setns = 35,
    /// `memfd_create`.
    MemfdCreate = 36,
    /// `execve`.
    Execve = 37,
    /// `execveat`.
    Execveat = 38,
    /// `bind`.
    Bind = 39,
    /// `listen`.
    Listen = 40,
    /// `ptrace`.
    Ptrace = 41,
    /// `process_vm_writev`.
    ProcessVmWritev = 42,
    /// `io_uring_setup`.
    IoUringSetup = 43,
    /// `mkdir`.
    Mkdir = 44,
    /// `mkdirat`.
    Mkdirat = 45,
}

impl Syscall {
    /// Every call, in value order.
    pub const ALL: [Syscall; 45] = [
        Self::Open,
        Self::Openat,
        Self::Openat2,
        Self::Creat,
        Self::Unlink,
        Self::Unlinkat,
        Self::Rmdir,
        Self::Connect,
        Self::Chdir,
        Self::Fchdir,
        Self::Rename,
        Self::Renameat,
        Self::Renameat2,
        Self::Link,
        Self::Linkat,
        Self::Symlink,
        Self::Symlinkat,
        Self::Truncate,
        Self::Ftruncate,
        Self::Chmod,
        Self::Fchmod,
        Self::Fchmodat,
        Self::Fchmodat2,
        Self::Chown,
        Self::Fchown,
        Self::Lchown,
        Self::Fchownat,
        Self::Setxattr,
        Self::Lsetxattr,
        Self::Fsetxattr,
        Self::Mount,
        Self::MoveMount,
        Self::Umount2,
        Self::Unshare,
        Self::Setns,
        Self::MemfdCreate,
        Self::Execve,
        Self::Execveat,
        Self::Bind,
        Self::Listen,
        Self::Ptrace,
        Self::ProcessVmWritev,
        Self::IoUringSetup,
        Self::Mkdir,
        Self::Mkdirat,
    ];

    /// (A match, not an index into `ALL`: the kernel's verifier must see every access bounded.)
    pub const fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            1 => Self::Open,
            2 => Self::Openat,
            3 => Self::Openat2,
            4 => Self::Creat,
            5 => Self::Unlink,
            6 => Self::Unlinkat,
            7 => Self::Rmdir,
            8 => Self::Connect,
            9 => Self::Chdir,
            10 => Self::Fchdir,
            11 => Self::Rename,
            12 => Self::Renameat,
            13 => Self::Renameat2,
            14 => Self::Link,
            15 => Self::Linkat,
            16 => Self::Symlink,
            17 => Self::Symlinkat,
            18 => Self::Truncate,
            19 => Self::Ftruncate,
            20 => Self::Chmod,
            21 => Self::Fchmod,
            22 => Self::Fchmodat,
            23 => Self::Fchmodat2,
            24 => Self::Chown,
            25 => Self::Fchown,
            26 => Self::Lchown,
            27 => Self::Fchownat,
            28 => Self::Setxattr,
            29 => Self::Lsetxattr,
            30 => Self::Fsetxattr,
            31 => Self::Mount,
            32 => Self::MoveMount,
            33 => Self::Umount2,
            34 => Self::Unshare,
            35 => Self::Setns,
            36 => Self::MemfdCreate,
            37 => Self::Execve,
            38 => Self::Execveat,
            39 => Self::Bind,
            40 => Self::Listen,
            41 => Self::Ptrace,
            42 => Self::ProcessVmWritev,
            43 => Self::IoUringSetup,
            44 => Self::Mkdir,
            45 => Self::Mkdirat,
            _ => return None,
        })
    }

    /// The call's name, as in its man page.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Openat => "openat",
            Self::Openat2 => "openat2",
            Self::Creat => "creat",
            Self::Unlink => "unlink",
            Self::Unlinkat => "unlinkat",
            Self::Rmdir => "rmdir",
            Self::Connect => "connect",
            Self::Chdir => "chdir",
            Self::Fchdir => "fchdir",
            Self::Rename => "rename",
            Self::Renameat => "renameat",
            Self::Renameat2 => "renameat2",
            Self::Link => "link",
            Self::Linkat => "linkat",
            Self::Symlink => "symlink",
            Self::Symlinkat => "symlinkat",
            Self::Truncate => "truncate",
            Self::Ftruncate => "ftruncate",
            Self::Chmod => "chmod",
            Self::Fchmod => "fchmod",
            Self::Fchmodat => "fchmodat",
            Self::Fchmodat2 => "fchmodat2",
            Self::Chown => "chown",
            Self::Fchown => "fchown",
            Self::Lchown => "lchown",
            Self::Fchownat => "fchownat",
            Self::Setxattr => "setxattr",
            Self::Lsetxattr => "lsetxattr",
            Self::Fsetxattr => "fsetxattr",
            Self::Mount => "mount",
            Self::MoveMount => "move_mount",
            Self::Umount2 => "umount2",
            Self::Unshare => "unshare",
            Self::Setns => "setns",
            Self::MemfdCreate => "memfd_create",
            Self::Execve => "execve",
            Self::Execveat => "execveat",
            Self::Bind => "bind",
            Self::Listen => "listen",
            Self::Ptrace => "ptrace",
            Self::ProcessVmWritev => "process_vm_writev",
            Self::IoUringSetup => "io_uring_setup",
            Self::Mkdir => "mkdir",
            Self::Mkdirat => "mkdirat",
        }
    }
}

/// `SyscallEvent::flags`: a 32-bit (ia32 compat) syscall of a 64-bit kernel.
pub const SYSCALL_COMPAT: u16 = 1;
/// `SyscallEvent::flags`: an io_uring submission (captured when it was submitted; the operation
/// runs afterwards, so the outcome is unknown).
pub const SYSCALL_IO_URING: u16 = 2;
/// `SyscallEvent::flags`: captured at syscall entry only: `ret` is meaningless.
pub const SYSCALL_AT_ENTRY: u16 = 4;
/// `SyscallEvent::flags`: the kernel killed the process for this call (in enforce mode, an
/// io_uring set-up by a session whose file operations only the tracepoint backend judges: a
/// ring's batched requests cannot be stopped one by one there).
pub const SYSCALL_KILLED: u16 = 8;
/// `SyscallEvent::flags`: a path argument the kernel rules judge at entry could not be read
/// there (a page the process never touched, a bad pointer): the call went unjudged, so in
/// enforce mode the process was killed (fail closed) and its session's new programs are
/// stopped for a while. The path in the record was read at exit.
pub const SYSCALL_UNREADABLE: u16 = 16;

/// A file, process or namespace operation of a tracked process, for the calls without a record
/// of their own. What each field holds depends on the call:
///
/// | call | `path` / `base` | `path2` / `base2` | `text` | `args` | `dirfd`, `dirfd2` |
/// |---|---|---|---|---|---|
/// | rename, renameat, renameat2 | old name | new name | | `[flags]` | old, new dirfd |
/// | link, linkat | existing name | new name | | `[flags]` | old, new dirfd |
/// | symlink, symlinkat | | link path | target (as given) | | -, new dirfd |
/// | truncate | file | | | `[length]` | |
/// | ftruncate, fchmod, fchown, fsetxattr | the file (components) | | xattr name | as below | fd |
/// | chmod, fchmodat, fchmodat2 | file | | | `[mode, flags]` | dirfd |
/// | chown, lchown, fchownat | file | | | `[uid, gid, flags]` | dirfd |
/// | setxattr, lsetxattr | file | | name | `[size, flags]` | |
/// | mount | source | target | filesystem type | `[flags]` | |
/// | move_mount | from | to | | `[flags]` | from, to dirfd |
/// | umount2 | target | | | `[flags]` | |
/// | mkdir, mkdirat | directory | | | `[mode]` | dirfd |
/// | unshare | | | | `[flags]` | |
/// | setns | | | | `[nstype]` | fd |
/// | memfd_create | | | name | `[flags]` | |
/// | execve, execveat (failures only) | filename | | | `[flags]` | dirfd |
/// | bind, listen | | | socket address bytes (`sockaddr_*`) | `[backlog]` for listen | fd |
/// | ptrace | | | | `[request, pid]` | |
/// | process_vm_writev | | | | `[pid]` | |
/// | io_uring_setup | | | | `[entries, flags]` | |
///
/// io_uring submissions use the record of the equivalent call (`openat2` for
/// `IORING_OP_OPENAT2`, …) with `SYSCALL_IO_URING` set and the opcode in `args[3]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// A [`Syscall`] value.
    pub syscall: u16,
    /// `SYSCALL_*` flags.
    pub flags: u16,
    /// The directory descriptor the first path starts from (or the descriptor the call acts on).
    pub dirfd: i32,
    /// The directory descriptor the second path starts from.
    pub dirfd2: i32,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u32,
    /// Return value (a negative errno on failure); see `SYSCALL_AT_ENTRY`.
    pub ret: i64,
    /// The call's integer arguments (see the table above).
    pub args: [u64; 4],
    /// The identity of the file the call acted on, when the kernel knew it.
    pub object: FileIdentity,
    /// The first path as the caller gave it, or the file's path as components.
    pub path: StrRef,
    /// The directory a relative `path` starts from, as components.
    pub base: StrRef,
    /// The second path as the caller gave it.
    pub path2: StrRef,
    /// The directory a relative `path2` starts from, as components.
    pub base2: StrRef,
    /// A name or bytes the call carries (symlink target, xattr name, filesystem type, socket address).
    pub text: StrRef,
}
