//! The scope of an address: loopback, private, link-local, … or public (only public addresses
//! have a country).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::annotations::Scope;

/// An IPv4 peer reached through an IPv6 socket (`::ffff:a.b.c.d`) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The scope of `ip` (IPv4-mapped IPv6 addresses are judged as IPv4).
pub fn scope_of(ip: IpAddr) -> Scope {
    match canonical(ip) {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => scope_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn scope_v4(ip: Ipv4Addr) -> Scope {
    if ip.is_unspecified() {
        Scope::Unspecified
    } else if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_private() {
        Scope::Private
    } else if ip.is_link_local() {
        Scope::LinkLocal
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        Scope::Shared
    } else if ip.is_multicast() {
        Scope::Multicast
    } else if ip.is_broadcast() {
        Scope::Broadcast
    } else if in_v4(ip, [0, 0, 0, 0], 8)
        || in_v4(ip, [192, 0, 0, 0], 24)
        || ip.is_documentation()
        || in_v4(ip, [198, 18, 0, 0], 15)
        || in_v4(ip, [240, 0, 0, 0], 4)
    {
        Scope::Reserved
    } else {
        Scope::Public
    }
}

fn scope_v6(ip: Ipv6Addr) -> Scope {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Scope::Unspecified
    } else if ip.is_loopback() {
        Scope::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        Scope::LinkLocal
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique-local, and the deprecated site-local.
        Scope::Private
    } else if first & 0xff00 == 0xff00 {
        Scope::Multicast
    } else if (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (ip.segments()[..4] == [0x0100, 0, 0, 0])
        || first & 0xe000 != 0x2000
    {
        // Documentation, discard-only, and everything outside global unicast (2000::/3).
        Scope::Reserved
    } else {
        Scope::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        scope_of(text.parse().expect("address"))
    }

    #[test]
    fn labels_local_ranges_not_countries() {
        for (address, expected) in [
            ("127.0.0.2", Scope::Loopback),
            ("::1", Scope::Loopback),
            ("::ffff:127.0.0.1", Scope::Loopback),
            ("10.1.2.3", Scope::Private),
            ("172.20.0.1", Scope::Private),
            ("192.168.1.1", Scope::Private),
            ("fd7a:115c:a1e0::1", Scope::Private),
            ("169.254.169.254", Scope::LinkLocal),
            ("fe80::1", Scope::LinkLocal),
            ("100.101.7.3", Scope::Shared),
            ("224.0.0.251", Scope::Multicast),
            ("ff02::fb", Scope::Multicast),
            ("0.0.0.0", Scope::Unspecified),
            ("::", Scope::Unspecified),
            ("255.255.255.255", Scope::Broadcast),
            ("203.0.113.5", Scope::Reserved),
            ("2001:db8::1", Scope::Reserved),
            ("8.8.8.8", Scope::Public),
            ("::ffff:8.8.8.8", Scope::Public),
            ("2606:4700::6810:84e5", Scope::Public),
        ] {
            assert_eq!(scope(address), expected, "{address}");
        }
    }
}
