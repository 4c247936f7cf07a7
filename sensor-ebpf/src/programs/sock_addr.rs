//! cgroup socket-address programs (`connect4`, `connect6`, `sendmsg4`, `sendmsg6`): every route
//! to the network that no connect call shows (datagrams sent to an address, TCP Fast Open,
//! io_uring connects and sends) becomes a connect record here, and they are the network backend
//! where BPF LSM is unavailable. Attached to a cgroup, they run for every process in it (and
//! below); untracked processes pass after one lookup. Returning 0 fails the call with EPERM.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns},
    programs::SockAddrContext,
};
use sensor_common::{
    event::{
        CONNECT_UNREADABLE, ConnectEvent, EVENT_CONNECT, PolicyEvent, ROUTE_SOCKET_CONNECT, ROUTE_SOCKET_SEND, StrRef,
    },
    maps::{Counter, TrackedProcess},
    policy::{APPLIED_DENIED, APPLIED_MONITOR, BACKEND_CGROUP, PolicyOp},
};

use super::net::{AF_INET, AF_INET6, Destination, mapped_v4};
use crate::{
    calls::Family,
    counters::count,
    maps::ROUTE_REPORTED,
    pending::{FIRST_SOCKADDR, PENDING, PENDING_PATHS},
    policy::{
        self,
        check::{Judging, judge_connect},
    },
    record::{self, POLICY_SCRATCH, Record, Ring},
    repeat::{self, CLASS_SEND, Repeat, RepeatKey},
    tracking,
};

/// How long a 32-bit connect reported at its entry marks its thread (see `ROUTE_REPORTED`).
const REPORTED_WINDOW_NS: u64 = 1_000_000_000;

const ALLOW: i32 = 1;
const DENY: i32 = 0;

/// Reports and judges the destination of a connect (`send` false) or of a datagram; IPv4 when
/// `v4`.
pub fn judge(ctx: &SockAddrContext, v4: bool, send: bool) -> i32 {
    match on_sock_addr(ctx, v4, send) {
        Some(applied) if applied & APPLIED_DENIED != 0 && applied & APPLIED_MONITOR == 0 => DENY,
        _ => ALLOW,
    }
}

fn on_sock_addr(ctx: &SockAddrContext, v4: bool, send: bool) -> Option<u32> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // In place, not copied: 6.1's verifier leaves this chain no stack to spare.
    let process = tracking::of_in_place(tgid)?;
    let sa = ctx.sock_addr;
    let port = u16::from_be(field::user_port(sa) as u16);
    let (family, addr) = if v4 {
        (AF_INET, mapped_v4(field::user_ip4(sa).to_ne_bytes()))
    } else {
        let words = [
            field::user_ip6_0(sa),
            field::user_ip6_1(sa),
            field::user_ip6_2(sa),
            field::user_ip6_3(sa),
        ];
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&words[0].to_ne_bytes());
        addr[4..8].copy_from_slice(&words[1].to_ne_bytes());
        addr[8..12].copy_from_slice(&words[2].to_ne_bytes());
        addr[12..].copy_from_slice(&words[3].to_ne_bytes());
        (AF_INET6, addr)
    };
    let destination = Destination { family, addr, port };
    let seen = if send { Seen::No } else { seen_by_syscall(pid_tgid) };
    if seen != Seen::Yes {
        let flags = if seen == Seen::Unreadable {
            count(Counter::UnreadableArgument);
            CONNECT_UNREADABLE
        } else {
            0
        };
        report(process, &destination, field::protocol(sa) as u16, send, flags);
    }
    let config = policy::judging(PolicyOp::Connect, BACKEND_CGROUP)?;
    let rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let judging = Judging {
        config,
        process,
        backend: BACKEND_CGROUP,
    };
    Some(judge_connect(&judging, &destination, rec))
}

/// Whether the syscall capture reports this connection.
#[derive(PartialEq, Eq)]
enum Seen {
    /// A 64-bit `connect` of this thread is under way (its exit writes the record), or a
    /// 32-bit one was reported at its entry.
    Yes,
    /// No connect call: Fast Open, io_uring.
    No,
    /// A `connect` call whose address could not be read at its entry: this is the record.
    Unreadable,
}

#[inline(always)]
fn seen_by_syscall(pid_tgid: u64) -> Seen {
    if let Some(call) = unsafe { PENDING.get(&pid_tgid) }
        && call.family == Family::Connect as u16
    {
        let copied = unsafe { PENDING_PATHS.get(&pid_tgid) }.is_some_and(|paths| paths.flags & FIRST_SOCKADDR != 0);
        return if copied { Seen::Yes } else { Seen::Unreadable };
    }
    match unsafe { ROUTE_REPORTED.get(&pid_tgid) }.copied() {
        Some(at) => {
            let _ = ROUTE_REPORTED.remove(&pid_tgid);
            if unsafe { bpf_ktime_get_boot_ns() }.wrapping_sub(at) < REPORTED_WINDOW_NS {
                Seen::Yes
            } else {
                Seen::No
            }
        }
        None => Seen::No,
    }
}

/// Writes the connect record of a route the syscall capture does not see. A thread sending
/// datagrams to one destination again and again gets one record and then a count. A function
/// of its own: its stack is not added to the judging's.
#[inline(never)]
fn report(process: &TrackedProcess, destination: &Destination, protocol: u16, send: bool, flags: u32) {
    // One clock read for the repeat check and the record.
    let now = record::now();
    let session = process.session_id;
    if send {
        let key = RepeatKey {
            class: CLASS_SEND | protocol as u64,
            a: u64::from_ne_bytes([
                destination.addr[0],
                destination.addr[1],
                destination.addr[2],
                destination.addr[3],
                destination.addr[4],
                destination.addr[5],
                destination.addr[6],
                destination.addr[7],
            ]),
            b: u64::from_ne_bytes([
                destination.addr[8],
                destination.addr[9],
                destination.addr[10],
                destination.addr[11],
                destination.addr[12],
                destination.addr[13],
                destination.addr[14],
                destination.addr[15],
            ]),
            c: destination.port as u64,
        };
        if let Repeat::Counted | Repeat::Judge = repeat::check(&key, session, 0, now) {
            return;
        }
    }
    // The record is built in the per-CPU scratch: the stack is shared with the judging below.
    let Some(mut rec) = Record::start::<ConnectEvent>() else {
        return;
    };
    let event = rec.fixed::<ConnectEvent>();
    event.fd = -1;
    event.family = destination.family;
    event.port_be = destination.port.to_be();
    event.ret = 0;
    if destination.family == AF_INET {
        event.addr = [0; 16];
        event.addr[..4].copy_from_slice(&destination.addr[12..]);
    } else {
        event.addr = destination.addr;
    }
    event.unix_path = StrRef::default();
    event.route = if send { ROUTE_SOCKET_SEND } else { ROUTE_SOCKET_CONNECT };
    event.protocol = protocol;
    event.flags = flags;
    rec.submit_at(Ring::Events, EVENT_CONNECT, 0, session, now);
}

/// Context field reads. The verifier wants each one as a load at a constant offset from the
/// unmodified context pointer; one function per field keeps the compiler from computing a field
/// address first and loading through it.
mod field {
    use aya_ebpf::bindings::bpf_sock_addr;

    macro_rules! fields {
        ($($name:ident => $field:ident $([$index:literal])?),* $(,)?) => {$(
            #[inline(never)]
            pub fn $name(sa: *const bpf_sock_addr) -> u32 {
                unsafe { core::ptr::read_volatile(&raw const (*sa).$field $([$index])?) }
            }
        )*};
    }

    fields! {
        user_port => user_port,
        user_ip4 => user_ip4,
        user_ip6_0 => user_ip6[0],
        user_ip6_1 => user_ip6[1],
        user_ip6_2 => user_ip6[2],
        user_ip6_3 => user_ip6[3],
        protocol => protocol,
    }
}
