//! File records: opens and unlinks.

use super::{EventHeader, FileIdentity, StrRef};

/// `OpenEvent::resolved` holds nothing.
pub const RESOLVED_NONE: u16 = 0;
/// `OpenEvent::resolved` is the path of the file the call opened (from the new descriptor).
pub const RESOLVED_FILE: u16 = 1;
/// `resolved` is the directory a relative path starts from (`dirfd` or the working directory).
pub const RESOLVED_BASE: u16 = 2;

/// An open, openat, openat2 or creat call (`EVENT_OPEN`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// A [`Syscall`](super::Syscall) value.
    pub syscall: u16,
    /// One of the `RESOLVED_*` constants.
    pub resolved_kind: u16,
    /// The directory descriptor a relative path starts from (`AT_FDCWD` for the working directory).
    pub dirfd: i32,
    /// Open flags as given (`O_*`).
    pub flags: u32,
    /// Mode of a file the call creates.
    pub mode: u32,
    /// Return value: the new descriptor, or a negative errno.
    pub ret: i64,
    /// The path as the caller gave it.
    pub path: StrRef,
    /// See `resolved_kind`.
    pub resolved: StrRef,
    /// The opened file's identity (successful opens).
    pub object: FileIdentity,
    /// `file.f_mode` bits of the opened file (`FMODE_CREATED`: the open created it).
    pub fmode: u32,
    /// How many identical opens of this process this record stands for (1, or more when the
    /// kernel counted repeats: see `HEADER_REPEAT`).
    pub repeat: u32,
}

/// `OpenEvent::fmode`: the open created the file.
pub const FMODE_CREATED: u32 = 0x0010_0000;

/// An unlink, unlinkat or rmdir call (`EVENT_UNLINK`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UnlinkEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// A [`Syscall`](super::Syscall) value.
    pub syscall: u16,
    /// `RESOLVED_BASE` when `base` holds the starting directory of a relative path.
    pub resolved_kind: u16,
    /// The directory descriptor a relative path starts from (`AT_FDCWD` for the working directory).
    pub dirfd: i32,
    /// `unlinkat` flags (`AT_REMOVEDIR`).
    pub flags: u32,
    /// `SYSCALL_KILLED`, `SYSCALL_UNREADABLE`: what the kernel did at the call's entry.
    pub call_flags: u32,
    /// Return value: 0, or a negative errno.
    pub ret: i64,
    /// The path as the caller gave it.
    pub path: StrRef,
    /// The directory a relative `path` starts from, as components (see `resolved_kind`).
    pub base: StrRef,
}
