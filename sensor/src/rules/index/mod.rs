//! Per-action indexes of the text fields: the `eq`/`in`, `prefix`, `suffix`, `contains` and
//! `glob` operators that the rules of one event action apply to a single-valued text field
//! become bits of that field's index (one bit per distinct operator, shared by every rule that
//! uses the same values), and the rules' conditions test bits instead of running matchers. An
//! event's value is looked at once, the first time a rule asks about the field: one hash lookup,
//! the prefix, suffix and contains tests, and a walk of the glob router.
//!
//! A regular expression keeps its matcher, behind a bit of the literals its matches contain
//! (`regex_literals`), in a slot of its own so that they are looked for only when a rule asks.
//! List fields keep their matchers.

mod field;
mod lower;
mod needles;

pub use field::FieldIndex;
pub use lower::Lowering;

/// The indexes of one event action.
#[derive(Clone, Debug, Default)]
pub struct ActionIndex {
    /// By slot (the `slot` of `Cond::Bit`).
    pub fields: Vec<FieldIndex>,
    /// By slot, the first word of the field's bits (the same as in `fields`, kept apart so that
    /// reading a bit touches one small array, not the field's index).
    pub first_words: Vec<usize>,
    /// Words of the bit set of one event.
    pub words: usize,
}

/// At most this many indexed fields per action (slots are bits of a word).
pub const MAX_FIELDS: usize = 64;

#[cfg(test)]
mod tests;
