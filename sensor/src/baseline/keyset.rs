//! A bounded set of learned values (executables, areas, destinations, …) with how often and when
//! each was seen. At its cap, the least recently seen entries make room (a sixteenth of the cap
//! at a time, so eviction costs little per insert).

use std::collections::HashMap;

/// The values are paths, programs and destinations an agent chooses, so their table is keyed with
/// a per-process random seed: colliding values cannot be precomputed to make each lookup walk the
/// whole set (an unkeyed hash would let a session slow the sensor down with crafted paths).
type Keyed = foldhash::fast::RandomState;

/// Longer values are cut to this many bytes (at a character boundary), so that each entry's
/// size is bounded too.
pub const MAX_KEY_BYTES: usize = 512;

/// `key` cut to `MAX_KEY_BYTES`.
fn bounded(key: &str) -> &str {
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let mut end = MAX_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

use serde::{Deserialize, Serialize};

/// How often and when a value was seen (times in seconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub count: u64,
    pub first: i64,
    pub last: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "KeySetRepr", into = "KeySetRepr")]
pub struct KeySet {
    entries: HashMap<String, Seen, Keyed>,
    /// Values observed in total (repeats included).
    observations: u64,
    /// Entries dropped to stay within the cap.
    evicted: u64,
}

impl KeySet {
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(bounded(key))
    }

    pub fn get(&self, key: &str) -> Option<&Seen> {
        self.entries.get(bounded(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn observations(&self) -> u64 {
        self.observations
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Values seen exactly once.
    pub fn singletons(&self) -> u64 {
        self.entries.values().filter(|seen| seen.count == 1).count() as u64
    }

    /// Records one observation of `key` at `at` (seconds), keeping at most `cap` entries.
    pub fn observe(&mut self, key: &str, at: i64, cap: usize) {
        let key = bounded(key);
        self.observations = self.observations.saturating_add(1);
        if let Some(seen) = self.entries.get_mut(key) {
            seen.count = seen.count.saturating_add(1);
            seen.last = seen.last.max(at);
            return;
        }
        if cap == 0 {
            return;
        }
        if self.entries.len() >= cap {
            self.evict(self.entries.len() + 1 - cap + (cap / 16));
        }
        self.entries.insert(
            key.to_string(),
            Seen {
                count: 1,
                first: at,
                last: at,
            },
        );
    }

    /// Drops entries until at most `cap` are left.
    pub fn trim(&mut self, cap: usize) {
        if self.entries.len() > cap {
            self.evict(self.entries.len() - cap);
        }
    }

    /// Drops the `count` least recently seen entries (the least often seen first among equals).
    fn evict(&mut self, count: usize) {
        let count = count.min(self.entries.len());
        if count == 0 {
            return;
        }
        let mut order: Vec<(i64, u64, &String)> = self
            .entries
            .iter()
            .map(|(key, seen)| (seen.last, seen.count, key))
            .collect();
        if count < order.len() {
            order.select_nth_unstable(count - 1);
        }
        let victims: Vec<String> = order[..count].iter().map(|(_, _, key)| (*key).clone()).collect();
        for key in victims {
            self.entries.remove(&key);
        }
        self.evicted = self.evicted.saturating_add(count as u64);
    }

    /// The most often seen values, most first (ties by name).
    pub fn top(&self, n: usize) -> Vec<(&str, &Seen)> {
        let mut all: Vec<(&str, &Seen)> = self.entries.iter().map(|(key, seen)| (key.as_str(), seen)).collect();
        all.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        all.truncate(n);
        all
    }

    /// Up to `n` known values that share the longest prefix with `key` (at least `min_prefix`
    /// bytes), longest first.
    pub fn similar(&self, key: &str, min_prefix: usize, n: usize) -> Vec<String> {
        let mut all: Vec<(usize, &str)> = self
            .entries
            .keys()
            .map(|known| (common_prefix(known, key), known.as_str()))
            .filter(|(shared, _)| *shared >= min_prefix)
            .collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        all.into_iter().take(n).map(|(_, known)| known.to_string()).collect()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The stored form: entries in name order, so files are stable and JSON keys are plain strings.
#[derive(Serialize, Deserialize)]
struct KeySetRepr {
    observations: u64,
    #[serde(default)]
    evicted: u64,
    entries: Vec<EntryRepr>,
}

#[derive(Serialize, Deserialize)]
struct EntryRepr {
    value: String,
    count: u64,
    first: i64,
    last: i64,
}

impl From<KeySetRepr> for KeySet {
    fn from(repr: KeySetRepr) -> Self {
        let entries = repr
            .entries
            .into_iter()
            .map(|mut entry| {
                let cut = bounded(&entry.value).len();
                entry.value.truncate(cut);
                (
                    entry.value,
                    Seen {
                        count: entry.count.max(1),
                        first: entry.first,
                        last: entry.last,
                    },
                )
            })
            .collect();
        Self {
            entries,
            observations: repr.observations,
            evicted: repr.evicted,
        }
    }
}

impl From<KeySet> for KeySetRepr {
    fn from(set: KeySet) -> Self {
        let mut entries: Vec<EntryRepr> = set
            .entries
            .into_iter()
            .map(|(value, seen)| EntryRepr {
                value,
                count: seen.count,
                first: seen.first,
                last: seen.last,
            })
            .collect();
        entries.sort_by(|a, b| a.value.cmp(&b.value));
        Self {
            observations: set.observations,
            evicted: set.evicted,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_evicts_the_least_recently_seen() {
        let mut set = KeySet::default();
        for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
            set.observe(key, i as i64, 4);
        }
        set.observe("a", 10, 4);
        assert_eq!(set.get("a").map(|s| s.count), Some(2));
        assert_eq!(set.singletons(), 3);
        set.observe("e", 11, 4);
        assert!(set.len() <= 4);
        assert!(set.contains("a") && set.contains("e"), "recent ones stay");
        assert!(!set.contains("b"), "the least recently seen went first");
        assert_eq!(set.observations(), 6);
        assert_eq!(set.evicted(), 1);
    }

    #[test]
    fn similar_values_share_a_prefix() {
        let mut set = KeySet::default();
        for key in ["/usr/bin/cat", "/usr/bin/ls", "/opt/tool/run"] {
            set.observe(key, 0, 10);
        }
        assert_eq!(set.similar("/usr/bin/nc", 5, 5), ["/usr/bin/cat", "/usr/bin/ls"]);
        assert!(set.similar("/home/x", 5, 5).is_empty());
    }

    #[test]
    fn long_values_are_cut() {
        let mut set = KeySet::default();
        let long = "é".repeat(400);
        set.observe(&long, 0, 10);
        assert!(set.contains(&long));
        assert!(set.keys().all(|key| key.len() <= MAX_KEY_BYTES));
    }
}
