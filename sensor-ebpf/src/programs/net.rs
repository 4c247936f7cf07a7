//! Connection destinations, as the policy compares them: IPv6 addresses, IPv4 ones mapped into
//! IPv6 (`::ffff:a.b.c.d`), ports in host order.

use crate::kernel::read;

pub use sensor_common::abi::{AF_INET, AF_INET6};

pub struct Destination {
    pub family: u16,
    pub addr: [u8; 16],
    pub port: u16,
}

/// An IPv4 address (network order bytes) as IPv6.
#[inline(always)]
pub fn mapped_v4(octets: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, octets[0], octets[1], octets[2], octets[3],
    ]
}

/// The destination in a `struct sockaddr` in kernel memory, for IPv4 and IPv6.
#[inline(always)]
pub fn destination_of(address: u64, addrlen: i32) -> Option<Destination> {
    let family = read::<u16>(address)?;
    let port = u16::from_be(read::<u16>(address + 2)?);
    match family {
        AF_INET if addrlen >= 8 => Some(Destination {
            family,
            addr: mapped_v4(read::<[u8; 4]>(address + 4)?),
            port,
        }),
        AF_INET6 if addrlen >= 24 => Some(Destination {
            family,
            addr: read::<[u8; 16]>(address + 8)?,
            port,
        }),
        _ => None,
    }
}
