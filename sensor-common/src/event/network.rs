//! Connection records.

use super::{EventHeader, StrRef};

/// A connect call, or a connection or datagram the cgroup programs saw (`EVENT_CONNECT`; `ROUTE_*` says which).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectEvent {
    /// The common header (`kind` says which record this is).
    pub header: EventHeader,
    /// The socket's descriptor.
    pub fd: i32,
    /// `sa_family` of the address (`AF_INET`, `AF_INET6`, `AF_UNIX`, …).
    pub family: u16,
    /// Port in network byte order, as in the sockaddr.
    pub port_be: u16,
    /// Return value: 0, or a negative errno (0 for routes seen before the call completes).
    pub ret: i64,
    /// IPv4 (first 4 bytes) or IPv6 address.
    pub addr: [u8; 16],
    /// For `AF_UNIX`, the socket path (abstract sockets start with NUL).
    pub unix_path: StrRef,
    /// Where the kernel saw it (`ROUTE_*`).
    pub route: u16,
    /// The socket's IP protocol (`IPPROTO_TCP`, `IPPROTO_UDP`) when the route knows it, else 0.
    pub protocol: u16,
    /// `CONNECT_*` flags.
    pub flags: u32,
}

/// The connect call's address could not be read at its entry (memory the process never
/// touched, a bad pointer): this record holds the kernel's own copy (IP, from the cgroup
/// programs) or what was read after the call (unix sockets).
pub const CONNECT_UNREADABLE: u32 = 1;

/// A connect seen at the exit of the `connect` call (its result is known).
pub const ROUTE_SYSCALL: u16 = 0;
/// A connection seen by the cgroup `connect4/6` programs and no connect call: TCP Fast Open
/// (`sendto` with `MSG_FASTOPEN`), an io_uring connect. Seen before it happens: no result.
pub const ROUTE_SOCKET_CONNECT: u16 = 1;
/// A datagram sent to an address (`sendto`/`sendmsg` on an unconnected UDP socket, io_uring
/// sends) seen by the cgroup `sendmsg4/6` programs. Seen before it is sent: no result.
pub const ROUTE_SOCKET_SEND: u16 = 2;
