//! The `contains` operators of one field (written ones, and the literals the field's regular
//! expressions cannot match without): every needle found in one pass over the value.

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

/// Needles, each reporting its bits when the value contains it.
#[derive(Clone, Debug, Default)]
pub struct Needles(Search);

#[derive(Clone, Debug, Default)]
enum Search {
    #[default]
    None,
    /// A few needles, each searched for on its own with a prebuilt finder.
    Few(Vec<(Finder<'static>, Vec<u32>)>),
    /// More, found together by one automaton (pattern number → bits).
    Many(AhoCorasick, Vec<Vec<u32>>),
}

/// Up to this many needles are searched for one by one.
const FEW: usize = 4;

impl Needles {
    /// The needles of `contains`, each with its bit.
    pub fn new(contains: &[(Box<str>, u32)]) -> Self {
        let mut by_needle: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
        for (needle, bit) in contains {
            by_needle.entry(needle).or_default().push(*bit);
        }
        let mut needles: Vec<(&str, Vec<u32>)> = by_needle.into_iter().collect();
        needles.sort_unstable();
        if needles.is_empty() {
            return Self(Search::None);
        }
        if needles.len() > FEW {
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(needles.iter().map(|(needle, _)| needle));
            if let Ok(automaton) = automaton {
                return Self(Search::Many(
                    automaton,
                    needles.into_iter().map(|(_, bits)| bits).collect(),
                ));
            }
        }
        Self(Search::Few(
            needles
                .into_iter()
                .map(|(needle, bits)| (Finder::new(needle.as_bytes()).into_owned(), bits))
                .collect(),
        ))
    }

    /// Calls `set` with the bits of every needle `value` contains (a bit may come twice).
    pub fn matches(&self, value: &str, set: &mut impl FnMut(u32)) {
        match &self.0 {
            Search::None => {}
            Search::Few(finders) => {
                for (finder, bits) in finders {
                    if finder.find(value.as_bytes()).is_some() {
                        bits.iter().for_each(|&bit| set(bit));
                    }
                }
            }
            Search::Many(automaton, bits) => {
                for found in automaton.find_overlapping_iter(value) {
                    if let Some(bits) = bits.get(found.pattern().as_usize()) {
                        bits.iter().for_each(|&bit| set(bit));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// One pass finds what `str::contains` finds, needle by needle, few or many.
        #[test]
        fn every_contained_needle_reports_its_bits(
            needles in proptest::collection::vec(("[ab/]{0,3}", 0u32..6), 0..12),
            value in "[ab/c]{0,12}",
        ) {
            let contains: Vec<(Box<str>, u32)> =
                needles.iter().map(|(needle, bit)| (Box::from(needle.as_str()), *bit)).collect();
            let mut found = 0u64;
            Needles::new(&contains).matches(&value, &mut |bit| found |= 1 << bit);
            let expected = contains
                .iter()
                .filter(|(needle, _)| value.contains(&**needle))
                .fold(0u64, |bits, (_, bit)| bits | 1 << bit);
            prop_assert_eq!(found, expected);
        }
    }
}
