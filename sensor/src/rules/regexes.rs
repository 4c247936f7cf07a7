//! The regular expressions of one operator, as one set compiled on first use.
//!
//! Most operators with regular expressions sit behind cheaper conditions of their rule (the
//! conditions run cheapest first), and an idle daemon or a quiet session reaches few of them: a
//! set is compiled when a value is first tested against it, not when the pack is loaded (where
//! it is compiled once only to report a bad set, and dropped), so the automata of the sets never
//! reached take no memory. The semantics are `RegexSet`'s.

use std::sync::{Arc, OnceLock};

use regex::{RegexSet, RegexSetBuilder};

use super::regex_literals::required_literals;

/// Regular expressions (shared by the copies that specialising a rule to each action makes).
#[derive(Clone, Debug)]
pub struct Regexes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    patterns: Vec<String>,
    set: OnceLock<RegexSet>,
    literals: OnceLock<Option<Vec<String>>>,
}

impl Regexes {
    /// The set of `patterns`. It is compiled here only to find out whether it compiles, and
    /// again when first matched.
    pub fn build(patterns: Vec<String>) -> Result<Self, regex::Error> {
        drop(compile(&patterns)?);
        Ok(Self {
            inner: Arc::new(Inner {
                patterns,
                set: OnceLock::new(),
                literals: OnceLock::new(),
            }),
        })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.inner.patterns
    }

    /// Strings one of which every match contains ([`required_literals`]), found once.
    pub fn literals(&self) -> Option<&[String]> {
        self.inner
            .literals
            .get_or_init(|| required_literals(&self.inner.patterns))
            .as_deref()
    }

    /// True when one of the expressions matches `value`.
    pub fn is_match(&self, value: &str) -> bool {
        self.set().is_match(value)
    }

    /// Whether the set has been compiled (it is on first use).
    pub fn is_compiled(&self) -> bool {
        self.inner.set.get().is_some()
    }

    /// The compiled set. It compiled when the pack was loaded, and compiles the same now; should
    /// it not, nothing matches (and that is said once).
    fn set(&self) -> &RegexSet {
        self.inner.set.get_or_init(|| {
            compile(&self.inner.patterns).unwrap_or_else(|error| {
                tracing::error!(%error, patterns = ?self.inner.patterns, "a regular expression set that compiled at load no longer does; it matches nothing");
                RegexSet::empty()
            })
        })
    }
}

fn compile(patterns: &[String]) -> Result<RegexSet, regex::Error> {
    RegexSetBuilder::new(patterns).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_on_first_use_and_shared_by_copies() {
        let regexes = Regexes::build(vec![r"^rm$".into(), r"(^|/)shred$".into()]).expect("set");
        let copy = regexes.clone();
        assert!(!regexes.is_compiled());
        assert!(copy.is_match("/usr/bin/shred"));
        assert!(regexes.is_compiled(), "the copies share one set");
        assert!(regexes.is_match("rm") && !regexes.is_match("rmdir"));
        assert!(Regexes::build(vec!["(".into()]).is_err());
    }
}
