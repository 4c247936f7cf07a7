//! The records the kernel programs write into the ring buffer.
//!
//! Each record starts with an [`EventHeader`]; `header.kind` says which fixed-size struct follows
//! at offset zero, and the struct's [`StrRef`]s point into the variable-length data that follows
//! the struct. Offsets in a `StrRef` count from the start of the record.

/// Largest record the programs write, in bytes (the size of the per-CPU scratch buffer).
pub const SCRATCH_SIZE: usize = 32_768;
/// Strings are appended only while the write offset is below this limit; it keeps every write
/// provably inside the scratch buffer (offset masked to `SCRATCH_HALF - 1`, length at most
/// `SCRATCH_HALF`).
pub const SCRATCH_HALF: usize = SCRATCH_SIZE / 2;
/// Longest path the kernel copies, as the caller gave it.
pub const MAX_PATH: usize = 4_096;
/// Longest single path component (`NAME_MAX` plus the NUL).
pub const MAX_COMPONENT: usize = 256;
/// Deepest path the kernel reconstructs from dentries; deeper ones are marked truncated.
pub const MAX_PATH_DEPTH: usize = 48;
/// Longest argument vector the kernel copies (arguments beyond are cut and marked truncated).
pub const MAX_ARGS: usize = 8_192;
/// Longest unix socket path (`sizeof(sun_path)`).
pub const MAX_UNIX_PATH: usize = 108;

/// Record kind: an exec ([`ExecEvent`]).
pub const EVENT_EXEC: u16 = 1;
/// Record kind: a fork ([`ForkEvent`]).
pub const EVENT_FORK: u16 = 2;
/// Record kind: a process exit ([`ExitEvent`]).
pub const EVENT_EXIT: u16 = 3;
/// Record kind: an open ([`OpenEvent`]).
pub const EVENT_OPEN: u16 = 4;
/// Record kind: a connect ([`ConnectEvent`]).
pub const EVENT_CONNECT: u16 = 5;
/// Record kind: an unlink or rmdir ([`UnlinkEvent`]).
pub const EVENT_UNLINK: u16 = 6;
/// Record kind: a working-directory change ([`ChdirEvent`]).
pub const EVENT_CHDIR: u16 = 7;
/// A judgement of the enforcement policy ([`PolicyEvent`]).
pub const EVENT_POLICY: u16 = 8;
/// A tracked process reached for the sensor itself (signal, ptrace, bpf()).
pub const EVENT_TAMPER: u16 = 9;

/// Header flag: this exec matched an agent profile and started a new session.
pub const HEADER_SESSION_START: u16 = 1;

/// A generic file, process or namespace operation ([`SyscallEvent`]).
pub const EVENT_SYSCALL: u16 = 10;
/// Operations identical to a thread's previous record, counted instead of reported one by one
/// ([`RepeatEvent`]).
pub const EVENT_REPEAT: u16 = 11;

/// Header flag: the record is a summary of several identical operations (`repeat` > 1).
pub const HEADER_REPEAT: u16 = 2;
/// Header flag: the record travelled on the priority ring (it hit a kernel rule or a protected
/// file), so it is never crowded out by ordinary events.
pub const HEADER_PRIORITY: u16 = 4;

mod enforcement;
mod file;
mod network;
mod process;
mod syscall;

pub use self::{enforcement::*, file::*, network::*, process::*, syscall::*};

/// Common start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// One of the `EVENT_*` constants.
    pub kind: u16,
    /// `HEADER_*` flags.
    pub flags: u16,
    /// Total size of the record in bytes.
    pub size: u32,
    /// `CLOCK_BOOTTIME` nanoseconds when the event happened.
    pub time_ns: u64,
    /// Agent session of the process.
    pub session_id: u64,
    /// Thread-group id (the process id).
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real user id of the task.
    pub uid: u32,
    /// Real group id of the task.
    pub gid: u32,
    /// cgroup v2 id of the task.
    pub cgroup_id: u64,
}

/// The bytes are path components, leaf first, each terminated by NUL; userspace reverses them.
pub const STR_COMPONENTS: u16 = 1;
/// The string was longer than its limit (or the path deeper than `MAX_PATH_DEPTH`) and was cut.
pub const STR_TRUNCATED: u16 = 2;
/// The string could not be read (fault, missing object).
pub const STR_MISSING: u16 = 4;

/// A string inside a record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrRef {
    /// Offset from the start of the record.
    pub offset: u16,
    /// Length in bytes.
    pub len: u16,
    /// `STR_*` flags.
    pub flags: u16,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u16,
}

impl StrRef {
    /// The reference as one integer (what a global BPF function can return): offset, length
    /// and flags, sixteen bits each.
    #[inline(always)]
    pub const fn to_bits(self) -> u64 {
        self.offset as u64 | (self.len as u64) << 16 | (self.flags as u64) << 32
    }

    /// The reference `to_bits` packed.
    #[inline(always)]
    pub const fn from_bits(bits: u64) -> Self {
        Self {
            offset: bits as u16,
            len: (bits >> 16) as u16,
            flags: (bits >> 32) as u16,
            reserved: 0,
        }
    }
}

/// What the kernel knows of a file's identity: its device, inode number and mode. A file keeps
/// its identity whatever name it is reached by (hard links, renames, bind mounts).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileIdentity {
    /// `super_block.s_dev` (the kernel's dev_t: major << 20 | minor); 0 when unknown.
    pub dev: u32,
    /// `inode.i_mode`: file type and permission bits.
    pub mode: u32,
    /// `inode.i_ino`; 0 when unknown.
    pub ino: u64,
}

/// The thread repeated its previous operation (the last record of kind `kind` it produced)
/// `count` more times between `first_ns` and `last_ns`, and the kernel counted them instead of
/// writing a record for each. Sent when the thread does something else, when the repeat window
/// ends, or when the thread exits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RepeatEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// The kind of the repeated record (`EVENT_OPEN`).
    pub kind: u16,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u16,
    /// How many more times the operation was repeated.
    pub count: u32,
    /// When the first counted repeat happened (`CLOCK_BOOTTIME` ns).
    pub first_ns: u64,
    /// When the last counted repeat happened (`CLOCK_BOOTTIME` ns).
    pub last_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a global BPF function returns is the same reference, flags included.
    #[test]
    fn a_str_ref_survives_its_bits() {
        for (offset, len, flags) in [
            (0, 0, 0),
            (1, 2, 3),
            (u16::MAX, u16::MAX, u16::MAX),
            (4095, 0, STR_MISSING),
        ] {
            let s = StrRef {
                offset,
                len,
                flags,
                reserved: 0,
            };
            assert_eq!(StrRef::from_bits(s.to_bits()), s);
        }
        assert_eq!(StrRef::from_bits(0), StrRef::default());
    }
}
