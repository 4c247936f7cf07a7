//! What the sensor keeps per running session: its profile, the counts of the current minute, and
//! the deviations it already alerted on (each alerts once per session).

use std::{
    collections::HashSet,
    hash::{Hash, Hasher},
    sync::Arc,
};

use crate::event::{ACTION_COUNT, Action};

#[derive(Debug)]
pub struct SessionState {
    pub agent: Arc<str>,
    /// The minute (seconds since the epoch / 60) being counted.
    pub minute: i64,
    /// Events of each action in that minute (`Action as usize`).
    pub counts: [u32; ACTION_COUNT],
    /// Actions that already spiked in that minute (bit `Action as usize`).
    pub spiked: u8,
    /// Hashes of the deviations alerted on.
    alerted: HashSet<u64>,
    /// Deviations not alerted because `alerted` was full.
    pub suppressed: u64,
}

impl SessionState {
    pub fn new(agent: Arc<str>, minute: i64) -> Self {
        Self {
            agent,
            minute,
            counts: [0; ACTION_COUNT],
            spiked: 0,
            alerted: HashSet::new(),
            suppressed: 0,
        }
    }

    /// Moves to `minute`; returns the counts of the minute left when it had any event.
    pub fn advance(&mut self, minute: i64) -> Option<[u32; ACTION_COUNT]> {
        if minute <= self.minute {
            return None;
        }
        let finished = std::mem::take(&mut self.counts);
        self.minute = minute;
        self.spiked = 0;
        finished.iter().any(|&count| count > 0).then_some(finished)
    }

    /// Counts one event; returns the action's count this minute.
    pub fn count(&mut self, action: Action) -> u32 {
        let slot = &mut self.counts[action as usize];
        *slot = slot.saturating_add(1);
        *slot
    }

    /// True the first time `action` spikes this minute.
    pub fn first_spike(&mut self, action: Action) -> bool {
        let bit = 1u8 << (action as u8);
        let first = self.spiked & bit == 0;
        self.spiked |= bit;
        first
    }

    fn key(kind: &str, value: &str) -> u64 {
        let mut hasher = rustc_hash::FxHasher::default();
        kind.hash(&mut hasher);
        value.hash(&mut hasher);
        hasher.finish()
    }

    /// True when the session already alerted on the deviation `kind`/`value`.
    pub fn alerted_on(&self, kind: &str, value: &str) -> bool {
        self.alerted.contains(&Self::key(kind, value))
    }

    /// True when the deviation `kind`/`value` has not been alerted on in this session (and
    /// remembers it), false when it has or when the session already alerted on `cap` of them.
    pub fn first_alert(&mut self, kind: &str, value: &str, cap: usize) -> bool {
        let key = Self::key(kind, value);
        if self.alerted.contains(&key) {
            return false;
        }
        if self.alerted.len() >= cap {
            self.suppressed = self.suppressed.saturating_add(1);
            return false;
        }
        self.alerted.insert(key)
    }

    pub fn alerted(&self) -> usize {
        self.alerted.len()
    }
}
