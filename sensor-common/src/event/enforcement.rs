//! What the kernel's enforcement reports: policy verdicts and attempts on the sensor itself.

use super::{EventHeader, FileIdentity, StrRef};

/// An operation of a tracked process that kernel policy rules fired on, and what was done.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// A `policy::PolicyOp` value.
    pub op: u16,
    /// Which family `addr` holds (`AF_INET`, `AF_INET6`) for connect.
    pub family: u16,
    /// The `policy::BACKEND_*` that judged it.
    pub backend: u32,
    /// The strongest `policy::ACTION_*` among the rules that fired.
    pub action: u32,
    /// `policy::APPLIED_*` bits.
    pub applied: u32,
    /// The rules that fired (bits of rule slots).
    pub fired: u64,
    /// Open flags (`O_*`) for opens; for hand-offs, the tgid of the process at the other end.
    pub flags: u32,
    /// Destination port, network byte order, for connect.
    pub port_be: u16,
    /// Padding (zero), keeping the layout explicit.
    pub reserved: u16,
    /// Destination address for connect, as IPv6 (IPv4 as `::ffff:a.b.c.d`).
    pub addr: [u8; 16],
    /// The path: components, leaf first (`STR_COMPONENTS`), or a string as the caller gave it
    /// (for a hand-off over a unix socket: the socket's path, as a string).
    pub path: StrRef,
    /// When `path` is a relative string: the directory it starts from, as components.
    pub base: StrRef,
    /// The judged file's identity, when the kernel knew it.
    pub object: FileIdentity,
    /// The second path of a rename or link (the new name), and its base.
    pub path2: StrRef,
    /// The base of `path2`, as `base` is of `path`.
    pub base2: StrRef,
    /// `policy::ESCALATE_*` bits: what the verdict did to the session beyond this operation.
    pub escalation: u32,
    /// Operations of the session denied within the escalation window, this one included.
    pub denials: u32,
}

/// `TamperEvent::kind`: a signal sent to the sensor.
pub const TAMPER_SIGNAL: u32 = 1;
/// `TamperEvent::kind`: ptrace aimed at the sensor.
pub const TAMPER_PTRACE: u32 = 2;
/// `TamperEvent::kind`: the bpf() syscall (loading, detaching or inspecting BPF programs).
pub const TAMPER_BPF: u32 = 3;

/// `TamperEvent::verdict`: seen (the operation went ahead; no BPF LSM).
pub const TAMPER_SEEN: u32 = 0;
/// `TamperEvent::verdict`: denied by a BPF LSM hook (EPERM).
pub const TAMPER_DENIED: u32 = 1;
/// `TamperEvent::verdict`: a BPF LSM hook would have denied it (monitor mode).
pub const TAMPER_WOULD_DENY: u32 = 2;
/// `TamperEvent::verdict`: an attempt the kernel refused on its own (an unprivileged process
/// signalling the root sensor gets EPERM); reported from the syscall's entry.
pub const TAMPER_ATTEMPT: u32 = 3;

/// A tracked process reached for the sensor (docs/enforcement.md, "Protecting the sensor").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TamperEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// One of the `TAMPER_*` kinds.
    pub kind: u32,
    /// The signal number, the ptrace request or the bpf() command.
    pub detail: u32,
    /// The sensor process (or thread) aimed at; 0 for bpf().
    pub target: u32,
    /// One of `TAMPER_SEEN`, `TAMPER_DENIED`, `TAMPER_WOULD_DENY`, `TAMPER_ATTEMPT`.
    pub verdict: u32,
}
