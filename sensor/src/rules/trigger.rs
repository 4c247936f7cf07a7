//! Triggers: for a rule specialised to one action, a few index bits one of which holds whenever
//! the rule can match. The engine tests them before the rule's condition; as the bits of a field
//! are computed once per event, each test costs a shift and a mask after the first.

use super::{condition::Cond, eval::EvalEvent};

/// At most this many bits per trigger; a rule that would need more has none.
const MAX_BITS: usize = 16;

/// Index bits (slot, bit), one of which holds whenever the rule can match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger(pub Vec<(u8, u32)>);

/// A trigger as the engine tests it: its bits grouped by word of the event's bit set, each
/// group one mask (slot, word of the slot, mask), so a rule costs a test per word, not per bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerWords(Vec<(u8, u32, u64)>);

impl TriggerWords {
    pub fn new(trigger: &Trigger) -> Self {
        let mut words: Vec<(u8, u32, u64)> = Vec::new();
        for &(slot, bit) in &trigger.0 {
            let (word, mask) = (bit / 64, 1u64 << (bit % 64));
            match words.iter_mut().find(|(s, w, _)| (*s, *w) == (slot, word)) {
                Some((_, _, bits)) => *bits |= mask,
                None => words.push((slot, word, mask)),
            }
        }
        Self(words)
    }

    /// True when one of the trigger's bits holds for `view`.
    #[inline]
    pub fn holds(&self, view: &EvalEvent) -> bool {
        self.0.iter().any(|&(slot, word, mask)| view.any_bit(slot, word, mask))
    }
}

impl Trigger {
    /// The trigger of a rule whose conditions are `conds` (it can match only when one of them
    /// holds); `None` when one of them has no necessary bits.
    pub fn of<'c>(conds: impl IntoIterator<Item = &'c Cond>) -> Option<Trigger> {
        let mut bits = Vec::new();
        for cond in conds {
            bits.extend(necessary(cond)?);
        }
        bits.sort_unstable();
        bits.dedup();
        (bits.len() <= MAX_BITS).then_some(Trigger(bits))
    }
}

/// Bits one of which holds whenever `cond` holds (an empty list: `cond` never holds).
fn necessary(cond: &Cond) -> Option<Vec<(u8, u32)>> {
    match cond {
        Cond::Bit { slot, bit } => Some(vec![(*slot, *bit)]),
        Cond::All(parts) => parts
            .iter()
            .filter_map(necessary)
            .filter(|bits| bits.len() <= MAX_BITS)
            .min_by_key(Vec::len),
        Cond::Any(parts) => {
            let mut bits = Vec::new();
            for part in parts {
                bits.extend(necessary(part)?);
                bits.sort_unstable();
                bits.dedup();
                if bits.len() > MAX_BITS {
                    return None;
                }
            }
            Some(bits)
        }
        Cond::Macro { cond, .. } => necessary(cond),
        Cond::Const(false) => Some(Vec::new()),
        Cond::Not(_) | Cond::Test(_) | Cond::Const(true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_takes_the_narrowest_part_and_any_needs_every_branch() {
        let bit = |bit| Cond::Bit { slot: 0, bit };
        let any = Cond::Any(vec![bit(1), bit(2)]);
        let all = Cond::All(vec![any.clone(), bit(3), Cond::Const(true)]);
        assert_eq!(Trigger::of([&all]), Some(Trigger(vec![(0, 3)])));
        assert_eq!(Trigger::of([&any]), Some(Trigger(vec![(0, 1), (0, 2)])));
        assert_eq!(Trigger::of([&Cond::Any(vec![bit(1), Cond::Const(true)])]), None);
        assert_eq!(Trigger::of([&Cond::Not(Box::new(bit(1)))]), None);
        assert_eq!(Trigger::of([&bit(1), &bit(4)]), Some(Trigger(vec![(0, 1), (0, 4)])));
    }

    #[test]
    fn words_hold_the_bits_of_one_slot_and_word_as_one_mask() {
        let trigger = Trigger(vec![(0, 1), (0, 4), (0, 70), (2, 1)]);
        assert_eq!(
            TriggerWords::new(&trigger),
            TriggerWords(vec![(0, 0, 0b10010), (0, 1, 1 << 6), (2, 0, 0b10)])
        );
    }
}
