//! cgroup socket-address programs (`connect4`, `connect6`, `sendmsg4`, `sendmsg6`): the network
//! backend where BPF LSM is unavailable. Attached to a cgroup, they run for every process in it
//! (and below); untracked processes pass after one lookup. Returning 0 fails the call with EPERM.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::SockAddrContext};
use sensor_common::{
    event::PolicyEvent,
    policy::{APPLIED_DENIED, APPLIED_MONITOR, BACKEND_CGROUP, PolicyOp},
};

use super::net::{AF_INET, AF_INET6, Destination, mapped_v4};
use crate::{
    maps::TRACKED,
    policy::{
        self,
        check::{Judging, judge_connect},
    },
    record::{POLICY_SCRATCH, Record},
};

const ALLOW: i32 = 1;
const DENY: i32 = 0;

/// Judges the destination of a connect or sendmsg; IPv4 when `v4`.
pub fn judge(ctx: &SockAddrContext, v4: bool) -> i32 {
    match on_sock_addr(ctx, v4) {
        Some(applied) if applied & APPLIED_DENIED != 0 && applied & APPLIED_MONITOR == 0 => DENY,
        _ => ALLOW,
    }
}

fn on_sock_addr(ctx: &SockAddrContext, v4: bool) -> Option<u32> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let process = unsafe { TRACKED.get(&tgid) }.copied()?;
    let config = policy::judging(PolicyOp::Connect, BACKEND_CGROUP)?;
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
    let rec = Record::start_in::<PolicyEvent>(POLICY_SCRATCH)?;
    let judging = Judging {
        config,
        process: &process,
        backend: BACKEND_CGROUP,
    };
    Some(judge_connect(&judging, &Destination { family, addr, port }, rec))
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
    }
}
