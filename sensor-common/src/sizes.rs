//! Compile-time size checks of every record shared with the kernel. The kernel programs and
//! userspace build this crate for different targets; a record whose layout changes fails both
//! builds here, not at run time as a misread record. Changing a record means changing its line
//! here on purpose, and its reader (`sensor/src/decode/`) with it.

use core::mem::size_of;

use crate::{event, layout, maps, policy};

macro_rules! sizes {
    ($($record:ty = $bytes:expr),* $(,)?) => {
        $(const _: () = assert!(size_of::<$record>() == $bytes, concat!("the size of ", stringify!($record), " changed"));)*
    };
}

sizes! {
    event::EventHeader = 48,
    event::StrRef = 8,
    event::FileIdentity = 16,
    event::ExecEvent = 136,
    event::ForkEvent = 64,
    event::ExitEvent = 56,
    event::ChdirEvent = 72,
    event::OpenEvent = 112,
    event::UnlinkEvent = 88,
    event::SyscallEvent = 160,
    event::ConnectEvent = 96,
    event::PolicyEvent = 152,
    event::RepeatEvent = 72,
    event::TamperEvent = 64,
    maps::TrackedProcess = 32,
    maps::ExecMatch = 8,
    layout::KernelLayout = 176,
    layout::TracepointLayout = 36,
    layout::IoUringLayout = 84,
    layout::PeerLayout = 32,
    layout::CaptureSettings = 24,
    policy::PolicyConfig = 528,
    policy::PolicyRule = 208,
    policy::PortRange = 4,
    policy::NamePattern = 88,
    policy::DirPatterns = 1416,
    policy::Workspace = 16,
    policy::IdentityKey = 16,
    policy::Protection = 16,
    policy::Escalation = 16,
}
