//! The index of one text field for one event action: every `eq`/`in`, `prefix`, `suffix`,
//! `contains` and `glob` operator the action's rules apply to the field, each one bit, answered
//! by looking at the event's value once.

use std::cell::Cell;

use rustc_hash::FxHashMap;

use super::{
    super::{
        fields::Field,
        globs::router::{Router, RouterBuilder, has_prefix, has_suffix},
    },
    needles::Needles,
};

/// What one field's operators need, each reporting its bit.
#[derive(Clone, Debug)]
pub struct FieldIndex {
    pub field: Field,
    /// The first word of the field's bits in the event's bit set.
    pub first_word: usize,
    /// How many words its bits take.
    pub words: usize,
    pub(super) equal: FxHashMap<Box<str>, Vec<u32>>,
    pub(super) home_equal: FxHashMap<Box<str>, Vec<u32>>,
    pub(super) prefix: Vec<(Box<str>, u32)>,
    pub(super) home_prefix: Vec<(Box<str>, u32)>,
    pub(super) suffix: Vec<(Box<str>, u32)>,
    pub(super) contains: Needles,
    pub(super) globs: Router,
    pub(super) home_globs: Router,
}

/// A field index being built.
pub(super) struct FieldIndexBuilder {
    pub index: FieldIndex,
    pub globs: RouterBuilder,
    pub home_globs: RouterBuilder,
    /// The needles of `contains` operators, with their bits.
    pub contains: Vec<(Box<str>, u32)>,
    /// Bits handed out, by the operator's key.
    pub bits: FxHashMap<String, u32>,
}

impl FieldIndexBuilder {
    pub fn new(field: Field) -> Self {
        Self {
            index: FieldIndex {
                field,
                first_word: 0,
                words: 0,
                equal: FxHashMap::default(),
                home_equal: FxHashMap::default(),
                prefix: Vec::new(),
                home_prefix: Vec::new(),
                suffix: Vec::new(),
                contains: Needles::default(),
                globs: Router::default(),
                home_globs: Router::default(),
            },
            globs: RouterBuilder::default(),
            home_globs: RouterBuilder::default(),
            contains: Vec::new(),
            bits: FxHashMap::default(),
        }
    }

    pub fn build(mut self) -> Result<FieldIndex, globset::Error> {
        self.index.globs = self.globs.build()?;
        self.index.home_globs = self.home_globs.build()?;
        self.index.contains = Needles::new(&self.contains);
        self.index.words = self.bits.len().div_ceil(64);
        Ok(self.index)
    }
}

impl FieldIndex {
    /// Sets the bit of every operator that holds for `value` (`below_home`: its part below the
    /// user's home, for path fields) in `words` (the field's own words, cleared).
    pub fn evaluate(&self, value: &str, below_home: Option<&str>, words: &[Cell<u64>]) {
        let mut set = |bit: u32| {
            if let Some(word) = words.get((bit / 64) as usize) {
                word.set(word.get() | 1 << (bit % 64));
            }
        };
        if let Some(bits) = self.equal.get(value) {
            bits.iter().for_each(|&bit| set(bit));
        }
        for (prefix, bit) in &self.prefix {
            if has_prefix(value, prefix) {
                set(*bit);
            }
        }
        for (suffix, bit) in &self.suffix {
            if has_suffix(value, suffix) {
                set(*bit);
            }
        }
        self.contains.matches(value, &mut set);
        self.globs.matches(value, &mut set);
        if let Some(rest) = below_home {
            if let Some(bits) = self.home_equal.get(rest) {
                bits.iter().for_each(|&bit| set(bit));
            }
            for (prefix, bit) in &self.home_prefix {
                if has_prefix(rest, prefix) {
                    set(*bit);
                }
            }
            self.home_globs.matches(rest, &mut set);
        }
    }
}
