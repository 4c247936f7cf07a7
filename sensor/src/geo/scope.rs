//! The scope of an address: loopback, private, link-local, … or public (only public addresses
//! have a country).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::ranges::AddressSet;
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

/// The networks of each scope, in the order `scope_v4` and `scope_v6` test them (first match
/// wins); what no entry covers is public.
const SCOPE_NETWORKS: &[(Scope, &[&str])] = &[
    (Scope::Unspecified, &["0.0.0.0/32", "::/128"]),
    (Scope::Loopback, &["127.0.0.0/8", "::1/128"]),
    (Scope::Private, &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]),
    (Scope::LinkLocal, &["169.254.0.0/16", "fe80::/10"]),
    (Scope::Shared, &["100.64.0.0/10"]),
    (Scope::Private, &["fc00::/7", "fec0::/10"]),
    (Scope::Multicast, &["224.0.0.0/4", "ff00::/8"]),
    (Scope::Broadcast, &["255.255.255.255/32"]),
    (
        Scope::Reserved,
        &[
            "0.0.0.0/8",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "198.18.0.0/15",
            "240.0.0.0/4",
            "2001:db8::/32",
            "100::/64",
            "::/3",
            "4000::/2",
            "8000::/1",
        ],
    ),
];

/// Every address whose own scope (`scope_of`) is `scope`.
pub fn scope_set(scope: Scope) -> AddressSet {
    let mut taken = AddressSet::empty();
    let mut found = AddressSet::empty();
    for (of, nets) in SCOPE_NETWORKS {
        let nets: Vec<IpNet> = nets.iter().filter_map(|net| net.parse().ok()).collect();
        let these = AddressSet::nets(&nets).minus(&taken);
        if *of == scope {
            found = found.union(&these);
        }
        taken = taken.union(&these);
    }
    if scope == Scope::Public {
        return taken.complement();
    }
    found
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

    #[test]
    fn scope_sets_agree_with_scope_of() {
        let sets: Vec<(Scope, AddressSet)> = Scope::ALL.iter().map(|s| (*s, scope_set(*s))).collect();
        let mut probes: Vec<IpAddr> = Vec::new();
        for (_, nets) in SCOPE_NETWORKS {
            for net in nets.iter().filter_map(|net| net.parse::<IpNet>().ok()) {
                for ip in [net.network(), net.broadcast()] {
                    probes.push(ip);
                    let point = super::super::ranges::point(ip);
                    for near in [point.wrapping_sub(1), point.wrapping_add(1)] {
                        probes.push(super::super::ranges::address(near));
                    }
                }
            }
        }
        probes.extend(
            [
                "8.8.8.8",
                "2606:4700::1",
                "1.1.1.1",
                "3fff::1",
                "::ffff:10.0.0.1",
                "::2",
            ]
            .map(|t| t.parse::<IpAddr>().expect("ip")),
        );
        for ip in probes {
            let expected = scope_of(ip);
            for (scope, set) in &sets {
                assert_eq!(
                    set.contains(ip),
                    *scope == expected,
                    "{ip}: {scope:?} (scope_of says {expected:?})"
                );
            }
        }
    }
}
