//! The networks of a country, for compiling country allowlists into the kernel: decoded from
//! the registry data the `iptocc` crate embeds (the crate itself answers single lookups only), or
//! by iterating a MaxMind database. Either way the result agrees with `Countries::lookup`.

use std::{collections::HashMap, net::IpAddr};

use super::{
    countries::Countries,
    ranges::{AddressSet, V4_BASE},
};
use crate::event::annotations::CountryCode;

mod data {
    include!(concat!(env!("OUT_DIR"), "/country_data.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum CountrySetsError {
    #[error("this build of the sensor lacks the built-in country data's tables; configure geo.database")]
    NoBuiltinData,
    #[error("the built-in country data has an unexpected layout ({0}); configure geo.database")]
    Layout(&'static str),
    #[error("cannot list the networks of the country database: {0}")]
    MaxMind(String),
}

/// The networks of each of `wanted` (countries the source does not know map to empty sets).
pub fn country_sets(
    countries: &Countries,
    wanted: &[CountryCode],
) -> Result<HashMap<CountryCode, AddressSet>, CountrySetsError> {
    let mut ranges: HashMap<CountryCode, Vec<(u128, u128)>> = wanted.iter().map(|cc| (*cc, Vec::new())).collect();
    let mut add = |code: &str, low: u128, high: u128| {
        if let Some(list) = CountryCode::parse(code).and_then(|cc| ranges.get_mut(&cc)) {
            list.push((low, high));
        }
    };
    match countries {
        Countries::Builtin => {
            let (v4, v6) = data::IPTOCC_DATA.ok_or(CountrySetsError::NoBuiltinData)?;
            builtin_v4(v4, &mut add)?;
            builtin_v6(v6, &mut add)?;
        }
        Countries::MaxMind { reader, .. } => maxmind(reader, &mut add)?,
    }
    Ok(ranges
        .into_iter()
        .map(|(cc, list)| (cc, AddressSet::from_ranges(list)))
        .collect())
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, CountrySetsError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(CountrySetsError::Layout("truncated"))
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, CountrySetsError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(CountrySetsError::Layout("truncated"))
}

fn u128_at(buf: &[u8], at: usize) -> Result<u128, CountrySetsError> {
    let bytes: [u8; 16] = buf
        .get(at..at + 16)
        .and_then(|b| b.try_into().ok())
        .ok_or(CountrySetsError::Layout("truncated"))?;
    Ok(u128::from_le_bytes(bytes))
}

fn byte_at(buf: &[u8], at: usize) -> Result<u8, CountrySetsError> {
    buf.get(at).copied().ok_or(CountrySetsError::Layout("truncated"))
}

fn code_at(buf: &[u8], dict: usize, index: u8) -> Result<&str, CountrySetsError> {
    let at = dict + index as usize * 2;
    buf.get(at..at + 2)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or(CountrySetsError::Layout("country dictionary"))
}

const BUCKETS: usize = 65536;
const UNASSIGNED: u8 = 0xff;

/// IPv4: one `u32` per /16 (empty, one country, or a list of transitions within it).
fn builtin_v4(buf: &[u8], add: &mut impl FnMut(&str, u128, u128)) -> Result<(), CountrySetsError> {
    use iptocc::format::{TAG_EMPTY, TAG_MASK, TAG_PURE};
    let dict_count = u32_at(buf, BUCKETS * 4)? as usize;
    let dict = BUCKETS * 4 + 4;
    let mixed_count_at = dict + dict_count * 2;
    let mixed_count = u32_at(buf, mixed_count_at)? as usize;
    let mixed_base = mixed_count_at + 4;
    let mixed_initial = mixed_base + (mixed_count + 1) * 4;
    let transitions_at = mixed_initial + mixed_count;
    let transitions = u32_at(buf, transitions_at)? as usize;
    let offsets = transitions_at + 4;
    let codes = offsets + transitions * 2;
    for bucket in 0..BUCKETS {
        let entry = u32_at(buf, bucket * 4)?;
        let base = V4_BASE | ((bucket as u128) << 16);
        match entry & TAG_MASK {
            tag if tag == TAG_EMPTY => {}
            tag if tag == TAG_PURE => add(code_at(buf, dict, (entry & 0xff) as u8)?, base, base | 0xffff),
            _ => {
                let mixed = (entry & !TAG_MASK) as usize;
                if mixed >= mixed_count {
                    return Err(CountrySetsError::Layout("IPv4 bucket index"));
                }
                let start = u32_at(buf, mixed_base + mixed * 4)? as usize;
                let end = u32_at(buf, mixed_base + mixed * 4 + 4)? as usize;
                let mut from = 0u32;
                let mut code = byte_at(buf, mixed_initial + mixed)?;
                for index in start..end {
                    let at = u16_at(buf, offsets + index * 2)? as u32;
                    if at > from && code != UNASSIGNED {
                        add(code_at(buf, dict, code)?, base | from as u128, base | (at - 1) as u128);
                    }
                    from = at;
                    code = byte_at(buf, codes + index)?;
                }
                if code != UNASSIGNED {
                    add(code_at(buf, dict, code)?, base | from as u128, base | 0xffff);
                }
            }
        }
    }
    Ok(())
}

/// IPv6: populated /16s, each a sorted list of records (a prefix, or a start-end pair in a side
/// table for ranges that are not one prefix).
fn builtin_v6(buf: &[u8], add: &mut impl FnMut(&str, u128, u128)) -> Result<(), CountrySetsError> {
    use iptocc::format::{V6_BYTE_INDEX_LEN, V6_IRREGULAR, V6_REC_SIZE, V6_SIDE_SIZE};
    let populated = u32_at(buf, BUCKETS)? as usize;
    let first = BUCKETS + 4;
    let sub_index = first + (populated + 1) * 4;
    let deep = |count_at: usize| -> Result<usize, CountrySetsError> {
        let count = u32_at(buf, count_at)? as usize;
        Ok(count_at + 4 + count * 2 + count * V6_BYTE_INDEX_LEN * 4)
    };
    let deep_40_at = deep(sub_index + populated * V6_BYTE_INDEX_LEN * 2)?;
    let dict_count_at = deep(deep_40_at)?;
    let dict_count = u32_at(buf, dict_count_at)? as usize;
    let dict = dict_count_at + 4;
    let side_count_at = dict + dict_count * 2;
    let side_count = u32_at(buf, side_count_at)? as usize;
    let side = side_count_at + 4;
    let primary_count_at = side + side_count * V6_SIDE_SIZE;
    let primary = primary_count_at + 4;
    let primary_count = u32_at(buf, primary_count_at)? as usize;
    if primary + primary_count * V6_REC_SIZE != buf.len() {
        return Err(CountrySetsError::Layout("IPv6 record table size"));
    }
    for top in 0..BUCKETS {
        let index = byte_at(buf, top)?;
        if index == UNASSIGNED {
            continue;
        }
        let index = index as usize;
        let start = u32_at(buf, first + index * 4)? as usize;
        let end = u32_at(buf, first + index * 4 + 4)? as usize;
        let prefix = (top as u128) << 112;
        for entry in start..end {
            let record = primary + entry * V6_REC_SIZE;
            let value = u32_at(buf, record)?;
            let prefix_len = byte_at(buf, record + 4)?;
            let (low, high, code) = if prefix_len == V6_IRREGULAR {
                let at = side + value as usize * V6_SIDE_SIZE;
                (u128_at(buf, at)?, u128_at(buf, at + 16)?, byte_at(buf, at + 32)?)
            } else {
                let low = prefix | ((value as u128) << 80);
                let host_bits = 128 - prefix_len as u32;
                let mask = if host_bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << host_bits) - 1
                };
                (low, low | mask, byte_at(buf, record + 5)?)
            };
            add(code_at(buf, dict, code)?, low, high);
        }
    }
    Ok(())
}

fn maxmind(
    reader: &maxminddb::Reader<Vec<u8>>,
    add: &mut impl FnMut(&str, u128, u128),
) -> Result<(), CountrySetsError> {
    let networks = reader
        .networks(Default::default())
        .map_err(|error| CountrySetsError::MaxMind(error.to_string()))?;
    for result in networks {
        let result = result.map_err(|error| CountrySetsError::MaxMind(error.to_string()))?;
        let code = |path: &[maxminddb::PathElement<'_>]| result.decode_path::<String>(path).ok().flatten();
        let Some(code) = code(&maxminddb::path!["country", "iso_code"])
            .or_else(|| code(&maxminddb::path!["registered_country", "iso_code"]))
        else {
            continue;
        };
        let network = result
            .network()
            .map_err(|error| CountrySetsError::MaxMind(error.to_string()))?;
        let Ok(net) = format!("{}/{}", network.network(), network.prefix()).parse::<ipnet::IpNet>() else {
            continue;
        };
        for &(low, high) in AddressSet::net(&net).ranges() {
            add(&code, low, high);
        }
    }
    Ok(())
}

/// Every (country, first, last) range of the built-in data, for tests and measurements.
pub fn builtin_ranges() -> Result<Vec<(String, IpAddr, IpAddr)>, CountrySetsError> {
    let (v4, v6) = data::IPTOCC_DATA.ok_or(CountrySetsError::NoBuiltinData)?;
    let mut out = Vec::new();
    let mut add = |code: &str, low: u128, high: u128| {
        out.push((
            code.to_string(),
            super::ranges::address(low),
            super::ranges::address(high),
        ))
    };
    builtin_v4(v4, &mut add)?;
    builtin_v6(v6, &mut add)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::ranges::{address, point};

    /// Every decoded range agrees with the crate's own lookup at its ends and middle, and the
    /// addresses just outside a range are not of its country (unless a neighbour range is): a
    /// change of the crate's format fails here rather than compiling wrong allowlists.
    #[test]
    fn decoded_ranges_agree_with_iptocc_lookups() {
        let ranges = builtin_ranges().expect("built-in data");
        assert!(ranges.len() > 100_000, "{} ranges", ranges.len());
        let mut sorted: Vec<(u128, u128, &str)> = ranges
            .iter()
            .map(|(code, low, high)| (point(*low), point(*high), code.as_str()))
            .collect();
        sorted.sort_unstable();
        assert!(sorted.windows(2).all(|pair| pair[0].1 < pair[1].0), "ranges overlap");
        let country_of = |at: u128| {
            let index = sorted.partition_point(|(low, _, _)| *low <= at);
            (index > 0 && sorted[index - 1].1 >= at).then(|| sorted[index - 1].2)
        };
        for (code, low, high) in &ranges {
            let (a, b) = (point(*low), point(*high));
            for probe in [a, b, a + (b - a) / 2] {
                let ip = address(probe);
                assert_eq!(iptocc::country_code(ip), Some(code.as_str()), "{ip} in {low}-{high}");
            }
            for outside in [a.checked_sub(1), b.checked_add(1)].into_iter().flatten() {
                let ip = address(outside);
                assert_eq!(
                    iptocc::country_code(ip),
                    country_of(outside),
                    "{ip} beside {low}-{high} ({code})"
                );
            }
        }
    }

    #[test]
    fn country_sets_hold_what_lookups_say() {
        let de = CountryCode::parse("DE").expect("cc");
        let us = CountryCode::parse("US").expect("cc");
        let sets = country_sets(&Countries::Builtin, &[de, us]).expect("sets");
        assert!(sets[&us].contains("8.8.8.8".parse().expect("ip")));
        assert!(!sets[&de].contains("8.8.8.8".parse().expect("ip")));
        assert!(sets[&de].networks().len() > 1000);
    }
}
