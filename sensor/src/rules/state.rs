//! Bounded state of stateful rules and of the sessions' file writes.
//!
//! Limits (documented in docs/rules.md): per rule at most [`MAX_GROUPS`] groups; per group at most
//! [`MAX_VALUES`] remembered events or values; per session [`MAX_WRITES_PER_SESSION`] written
//! paths, for [`MAX_SESSIONS`] sessions. Least recently used entries go first.

use std::{
    collections::{HashMap, VecDeque},
    hash::{Hash, Hasher},
    num::NonZeroUsize,
};

use lru::LruCache;
use rustc_hash::{FxBuildHasher, FxHasher};

/// LRU maps keyed by hashes: FxHash is enough (the keys are already hashes or small ids).
type Lru<K, V> = LruCache<K, V, FxBuildHasher>;

pub const MAX_GROUPS: usize = 4_096;
pub const MAX_VALUES: usize = 1_024;
pub const MAX_SESSIONS: usize = 32;
pub const MAX_WRITES_PER_SESSION: usize = 32_768;

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// A 64-bit hash of a string (paths, executables), for remembering them compactly.
pub fn hash_str(text: &str) -> u64 {
    let mut hasher = FxHasher::default();
    text.hash(&mut hasher);
    hasher.finish()
}

/// An LRU map bounded at `entries` that grows as it fills (a capped one would allocate room for
/// every entry up front: 1 MB per session for the written-files set).
fn lru<K: Hash + Eq, V>(entries: usize) -> Lru<K, V> {
    let mut map = LruCache::unbounded_with_hasher(FxBuildHasher);
    map.resize(cap(entries));
    map
}

/// One counted event.
#[derive(Clone, Debug)]
struct Counted {
    at_ns: i128,
    id: String,
    /// The distinct value, when the threshold counts distinct values.
    value: Option<String>,
}

/// Sliding windows of a threshold rule, per group.
pub struct ThresholdState {
    groups: Lru<u64, VecDeque<Counted>>,
}

impl Default for ThresholdState {
    fn default() -> Self {
        Self {
            groups: lru(MAX_GROUPS),
        }
    }
}

impl ThresholdState {
    /// Counts one event; returns the contributing event ids when the threshold is reached (the
    /// group then starts again from zero).
    pub fn record(
        &mut self,
        group: u64,
        at_ns: i128,
        id: String,
        value: Option<String>,
        count: u32,
        within_ns: u64,
    ) -> Option<Vec<String>> {
        let window = self.groups.get_or_insert_mut(group, VecDeque::new);
        let oldest = at_ns - within_ns as i128;
        while window.front().is_some_and(|entry| entry.at_ns < oldest) {
            window.pop_front();
        }
        match &value {
            Some(value) => {
                // Distinct values: a repeated value refreshes its time, it does not count twice.
                if let Some(position) = window.iter().position(|entry| entry.value.as_ref() == Some(value)) {
                    window.remove(position);
                }
                window.push_back(Counted {
                    at_ns,
                    id,
                    value: Some(value.clone()),
                });
            }
            None => window.push_back(Counted { at_ns, id, value: None }),
        }
        while window.len() > MAX_VALUES {
            window.pop_front();
        }
        if window.len() >= count as usize {
            let ids = window.drain(..).map(|entry| entry.id).collect();
            return Some(ids);
        }
        None
    }
}

/// A sequence that has matched its first steps.
#[derive(Clone, Debug)]
struct Partial {
    started_ns: i128,
    ids: Vec<String>,
}

/// One event matching one step of a sequence.
pub struct StepHit<'a> {
    pub at_ns: i128,
    pub id: &'a str,
    /// The event's join values for this step.
    pub keys: &'a [String],
}

/// Partial matches of a sequence rule, per group: for each step after the first, the partials
/// waiting for it, by join value.
pub struct SequenceState {
    steps: usize,
    within_ns: i128,
    groups: Lru<u64, Vec<HashMap<String, Partial>>>,
}

impl SequenceState {
    pub fn new(steps: usize, within_ns: u64) -> Self {
        Self {
            steps,
            within_ns: within_ns as i128,
            groups: lru(MAX_GROUPS),
        }
    }

    /// The first step matched: remember it under each of its join values.
    pub fn start(&mut self, group: u64, hit: &StepHit) {
        let steps = self.steps;
        let oldest = hit.at_ns - self.within_ns;
        let waiting = self.groups.get_or_insert_mut(group, || vec![HashMap::new(); steps]);
        let next = &mut waiting[1];
        if next.len() >= MAX_VALUES {
            next.retain(|_, partial| partial.started_ns >= oldest);
            if next.len() >= MAX_VALUES
                && let Some(victim) = next.iter().min_by_key(|(_, p)| p.started_ns).map(|(k, _)| k.clone())
            {
                next.remove(&victim);
            }
        }
        for key in hit.keys {
            next.insert(
                key.clone(),
                Partial {
                    started_ns: hit.at_ns,
                    ids: vec![hit.id.to_string()],
                },
            );
        }
    }

    /// True when a partial match of `group` waits for step `step` (> 0).
    pub fn is_waiting(&self, group: u64, step: usize) -> bool {
        self.groups
            .peek(&group)
            .and_then(|waiting| waiting.get(step))
            .is_some_and(|partials| !partials.is_empty())
    }

    /// Step `step` (> 0) matched: advances a waiting partial with one of the hit's join values.
    /// Returns the ids of every step when this was the last one.
    pub fn advance(&mut self, group: u64, step: usize, hit: &StepHit) -> Option<Vec<String>> {
        let oldest = hit.at_ns - self.within_ns;
        let last = step + 1 == self.steps;
        let waiting = self.groups.get_mut(&group)?;
        let key = hit.keys.iter().find(|key| {
            waiting[step]
                .get(key.as_str())
                .is_some_and(|partial| partial.started_ns >= oldest)
        })?;
        let mut partial = waiting[step].remove(key.as_str())?;
        partial.ids.push(hit.id.to_string());
        if last {
            return Some(partial.ids);
        }
        waiting[step + 1].insert(key.clone(), partial);
        None
    }
}

/// The paths each session opened for writing, as hashes.
pub struct SessionWrites {
    sessions: Lru<u64, Lru<u64, ()>>,
}

impl Default for SessionWrites {
    fn default() -> Self {
        Self {
            sessions: lru(MAX_SESSIONS),
        }
    }
}

impl SessionWrites {
    pub fn contains(&mut self, session: u64, path: &str) -> bool {
        self.sessions
            .get_mut(&session)
            .is_some_and(|paths| paths.get(&hash_str(path)).is_some())
    }

    pub fn insert(&mut self, session: u64, path: &str) {
        self.sessions
            .get_or_insert_mut(session, || lru(MAX_WRITES_PER_SESSION))
            .put(hash_str(path), ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    #[test]
    fn thresholds_count_within_the_window_and_reset() {
        let mut state = ThresholdState::default();
        let within = 10 * SEC as u64;
        assert!(state.record(1, 0, "a".into(), None, 3, within).is_none());
        assert!(state.record(1, 5 * SEC, "b".into(), None, 3, within).is_none());
        // "a" left the window.
        assert!(state.record(1, 11 * SEC, "c".into(), None, 3, within).is_none());
        let ids = state.record(1, 12 * SEC, "d".into(), None, 3, within).expect("fires");
        assert_eq!(ids, ["b", "c", "d"]);
        assert!(
            state.record(1, 13 * SEC, "e".into(), None, 3, within).is_none(),
            "starts again"
        );
        assert!(
            state.record(2, 13 * SEC, "x".into(), None, 1, within).is_some(),
            "groups are separate"
        );
    }

    #[test]
    fn distinct_thresholds_ignore_repeats() {
        let mut state = ThresholdState::default();
        let within = 60 * SEC as u64;
        let mut record = |at, id: &str, value: &str| state.record(7, at, id.into(), Some(value.into()), 3, within);
        assert!(record(0, "1", "/a").is_none());
        assert!(record(SEC, "2", "/a").is_none());
        assert!(record(2 * SEC, "3", "/b").is_none());
        let ids = record(3 * SEC, "4", "/c").expect("three distinct");
        assert_eq!(ids, ["2", "3", "4"]);
    }

    fn hit<'a>(at_ns: i128, id: &'a str, keys: &'a [String]) -> StepHit<'a> {
        StepHit { at_ns, id, keys }
    }

    #[test]
    fn sequences_join_on_the_first_steps_value_within_the_window() {
        let mut state = SequenceState::new(2, 60 * SEC as u64);
        state.start(1, &hit(0, "w1", &["/tmp/x".into()]));
        assert!(
            state.advance(1, 1, &hit(SEC, "e1", &["/tmp/y".into()])).is_none(),
            "other file"
        );
        assert!(
            state.advance(2, 1, &hit(SEC, "e1", &["/tmp/x".into()])).is_none(),
            "other group"
        );
        let ids = state
            .advance(1, 1, &hit(2 * SEC, "e2", &["/bin/sh".into(), "/tmp/x".into()]))
            .expect("joined");
        assert_eq!(ids, ["w1", "e2"]);
        state.start(1, &hit(0, "w2", &["/tmp/z".into()]));
        assert!(
            state.advance(1, 1, &hit(120 * SEC, "e3", &["/tmp/z".into()])).is_none(),
            "too late"
        );
    }

    #[test]
    fn three_step_sequences_advance_step_by_step() {
        let mut state = SequenceState::new(3, 60 * SEC as u64);
        let key = ["k".to_string()];
        state.start(1, &hit(0, "a", &key));
        assert!(
            state.advance(1, 2, &hit(SEC, "c", &key)).is_none(),
            "step 3 before step 2"
        );
        assert!(state.advance(1, 1, &hit(SEC, "b", &key)).is_none());
        assert_eq!(
            state.advance(1, 2, &hit(2 * SEC, "c", &key)),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn state_stays_bounded() {
        let mut state = ThresholdState::default();
        for group in 0..(MAX_GROUPS as u64 + 100) {
            let _ = state.record(group, 0, "x".into(), None, 1_000_000, 1);
        }
        assert_eq!(state.groups.len(), MAX_GROUPS);
        let mut writes = SessionWrites::default();
        for i in 0..(MAX_WRITES_PER_SESSION + 10) {
            writes.insert(1, &format!("/f/{i}"));
        }
        assert!(!writes.contains(1, "/f/0"), "oldest forgotten");
        assert!(writes.contains(1, &format!("/f/{}", MAX_WRITES_PER_SESSION + 9)));
    }
}
