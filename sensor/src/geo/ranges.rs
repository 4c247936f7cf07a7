//! Sets of addresses as sorted, disjoint, inclusive ranges in one 128-bit space, IPv4 at its
//! IPv4-mapped place (`::ffff:a.b.c.d`), as the kernel's policy keys them. Used to compile the
//! egress allowlist (scopes, countries, networks, overrides) into the networks of an LPM trie.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Where IPv4 lives: `::ffff:0:0/96`.
pub const V4_BASE: u128 = 0xffff_0000_0000;
const V4_LAST: u128 = V4_BASE | 0xffff_ffff;

/// An address as a point of the 128-bit space (IPv4 and IPv4-mapped IPv6 at the same place).
pub fn point(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_BASE | u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address at a point (IPv4 for the mapped range).
pub fn address(point: u128) -> IpAddr {
    if (V4_BASE..=V4_LAST).contains(&point) {
        IpAddr::V4(Ipv4Addr::from((point - V4_BASE) as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(point))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressSet {
    /// Sorted, disjoint, not adjacent.
    ranges: Vec<(u128, u128)>,
}

impl AddressSet {
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn everything() -> Self {
        Self {
            ranges: vec![(0, u128::MAX)],
        }
    }

    /// The set of the given ranges (any order, overlapping or not).
    pub fn from_ranges(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.retain(|(low, high)| low <= high);
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        Self { ranges: merged }
    }

    /// The addresses of a network. IPv6 networks do not reach into the IPv4-mapped range, which
    /// stands for IPv4 (the sensor compares IPv4 peers of IPv6 sockets as IPv4).
    pub fn net(net: &IpNet) -> Self {
        match net {
            IpNet::V4(v4) => Self::from_ranges(vec![(
                point(IpAddr::V4(v4.network())),
                point(IpAddr::V4(v4.broadcast())),
            )]),
            IpNet::V6(v6) => Self::from_ranges(vec![(u128::from(v6.network()), u128::from(v6.broadcast()))])
                .minus(&Self::from_ranges(vec![(V4_BASE, V4_LAST)])),
        }
    }

    pub fn nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut ranges = Vec::new();
        for net in nets {
            ranges.extend_from_slice(&Self::net(net).ranges);
        }
        Self::from_ranges(ranges)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_everything(&self) -> bool {
        self.ranges == [(0, u128::MAX)]
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let at = point(ip);
        let index = self.ranges.partition_point(|(low, _)| *low <= at);
        index > 0 && self.ranges[index - 1].1 >= at
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut ranges = self.ranges.clone();
        ranges.extend_from_slice(&other.ranges);
        Self::from_ranges(ranges)
    }

    pub fn complement(&self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut next = Some(0u128);
        for &(low, high) in &self.ranges {
            if let Some(start) = next
                && low > start
            {
                out.push((start, low - 1));
            }
            next = high.checked_add(1);
        }
        if let Some(start) = next {
            out.push((start, u128::MAX));
        }
        Self { ranges: out }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_low, a_high) = self.ranges[i];
            let (b_low, b_high) = other.ranges[j];
            let low = a_low.max(b_low);
            let high = a_high.min(b_high);
            if low <= high {
                out.push((low, high));
            }
            if a_high < b_high {
                i += 1;
            } else {
                j += 1;
            }
        }
        Self { ranges: out }
    }

    pub fn minus(&self, other: &Self) -> Self {
        self.intersection(&other.complement())
    }

    /// The fewest networks covering exactly this set (IPv4 networks for the mapped range).
    pub fn networks(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(low, high) in &self.ranges {
            // Split at the IPv4-mapped range so IPv4 comes out as IPv4 networks.
            for (low, high) in split_at_v4(low, high) {
                let mut start = low;
                loop {
                    let span = largest_block(start, high);
                    out.push(block_net(start, span));
                    let end = start + ((1u128 << span) - 1).min(high - start);
                    if end >= high {
                        break;
                    }
                    start = end + 1;
                }
            }
        }
        out
    }
}

fn split_at_v4(low: u128, high: u128) -> Vec<(u128, u128)> {
    let mut parts = Vec::with_capacity(3);
    let mut cut = |a: u128, b: u128| {
        if a <= b {
            parts.push((a, b));
        }
    };
    if high < V4_BASE || low > V4_LAST {
        cut(low, high);
    } else {
        if low < V4_BASE {
            cut(low, V4_BASE - 1);
        }
        cut(low.max(V4_BASE), high.min(V4_LAST));
        if high > V4_LAST {
            cut(V4_LAST + 1, high);
        }
    }
    parts
}

/// Host bits of the largest aligned block starting at `start` that ends at or before `high`.
fn largest_block(start: u128, high: u128) -> u32 {
    let mut span = if start == 0 { 128 } else { start.trailing_zeros() };
    while span > 0 {
        let size_minus_one = if span == 128 { u128::MAX } else { (1u128 << span) - 1 };
        if start.checked_add(size_minus_one).is_some_and(|end| end <= high) {
            break;
        }
        span -= 1;
    }
    span
}

fn block_net(start: u128, span: u32) -> IpNet {
    if (V4_BASE..=V4_LAST).contains(&start) && span <= 32 {
        let v4 = Ipv4Addr::from((start - V4_BASE) as u32);
        IpNet::V4(Ipv4Net::new(v4, (32 - span) as u8).unwrap_or_else(|_| Ipv4Net::from(v4)))
    } else {
        let v6 = Ipv6Addr::from(start);
        IpNet::V6(Ipv6Net::new(v6, (128 - span) as u8).unwrap_or_else(|_| Ipv6Net::from(v6)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nets: &[&str]) -> AddressSet {
        let nets: Vec<IpNet> = nets.iter().map(|net| net.parse().expect("net")).collect();
        AddressSet::nets(&nets)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn set_operations_and_networks_round_trip() {
        let a = set(&["10.0.0.0/8", "127.0.0.0/8"]);
        let b = set(&["10.1.0.0/16", "2001:db8::/32"]);
        let both = a.intersection(&b);
        assert_eq!(both.networks(), ["10.1.0.0/16".parse::<IpNet>().expect("net")]);
        let rest = a.minus(&b);
        assert!(rest.contains(ip("10.2.0.1")) && !rest.contains(ip("10.1.0.1")) && rest.contains(ip("127.0.0.1")));
        assert!(rest.contains(ip("::ffff:10.2.0.1")), "IPv4-mapped addresses are IPv4");
        let union = a.union(&b);
        assert!(union.contains(ip("2001:db8::1")) && !union.contains(ip("2001:db9::1")));
        assert!(a.complement().complement() == a);
        assert!(AddressSet::empty().complement().is_everything());
        let all = AddressSet::everything();
        assert_eq!(AddressSet::nets(&all.networks()), all);
        // Networks cover the set exactly: every range's ends are in, the addresses beside are out.
        let odd = AddressSet::from_ranges(vec![
            (point(ip("1.2.3.4")), point(ip("1.2.9.200"))),
            (point(ip("2001:db8::7")), point(ip("2001:db8::1:3"))),
        ]);
        let nets = odd.networks();
        let back = AddressSet::nets(&nets);
        assert_eq!(back, odd);
        for net in &nets {
            assert_eq!(net.trunc(), *net, "{net} is aligned");
        }
        // An IPv6 network does not reach into the IPv4-mapped range.
        assert!(!set(&["::/0"]).contains(ip("8.8.8.8")));
    }
}
