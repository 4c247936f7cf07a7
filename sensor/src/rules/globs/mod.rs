//! Glob sets with a cheap first-component prefilter.
//!
//! Most values a rule globs (file paths above all) match none of its patterns, and most
//! patterns pin their first path component: `/etc/…`, `{/home/*,/root}/.aws/…`, `~/.ssh/…`
//! (matched below the home as `/.ssh/…`), `python*`. The set remembers those first components;
//! a value whose first component is not among them is rejected after one hash lookup, without
//! running the glob set. A set with a pattern that starts with a wildcard (`*.pem`, `**/x`)
//! skips the prefilter.
//!
//! The rule index matches the patterns of single-valued fields without a glob set at all, by
//! walking a tree of their literal components (`router`); the glob set of such an operator is
//! then never run. So a set is compiled when a value first gets past its prefilter, not when the
//! pack is loaded (where it is compiled once only to report a bad set, and dropped): most sets of
//! the default pack are never built, and their automata take no memory.

pub mod router;

use std::sync::{Arc, OnceLock};

use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use rustc_hash::{FxHashMap, FxHashSet};

/// Glob patterns (shared by the copies that specialising a rule to each action makes), with
/// their set compiled on first use.
#[derive(Clone, Debug, Default)]
pub struct Globs {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The patterns as written (for the rule index).
    patterns: Vec<String>,
    prefilter: Option<FirstComponents>,
    set: OnceLock<GlobSet>,
}

/// A pattern as the rule compiler reads it: `/` is never matched by a wildcard but `**`, and
/// `\` escapes.
pub fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// The glob set of `patterns`.
fn compile(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern)?);
    }
    builder.build()
}

impl Globs {
    /// The set of `patterns` (read as [`glob`] reads them). It is compiled here only to find
    /// out whether it compiles, and again when first matched.
    pub fn build(patterns: Vec<String>) -> Result<Self, globset::Error> {
        drop(compile(&patterns)?);
        Ok(Self {
            inner: Arc::new(Inner {
                prefilter: FirstComponents::of(patterns.iter().map(String::as_str)),
                patterns,
                set: OnceLock::new(),
            }),
        })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.inner.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.inner.patterns.is_empty()
    }

    /// True when a glob matches `value`; `candidate` is built only when the prefilter passes.
    pub fn is_match<'c>(&self, value: &str, candidate: impl FnOnce() -> &'c Candidate<'c>) -> bool {
        if self.is_empty() {
            return false;
        }
        if let Some(prefilter) = &self.inner.prefilter
            && !prefilter.admits(value)
        {
            return false;
        }
        self.set().is_match_candidate(candidate())
    }

    /// The compiled set. It compiled when the pack was loaded, and compiles the same now; should
    /// it not, nothing matches (and that is said once).
    fn set(&self) -> &GlobSet {
        self.inner.set.get_or_init(|| {
            compile(&self.inner.patterns).unwrap_or_else(|error| {
                tracing::error!(%error, patterns = ?self.inner.patterns, "a glob set that compiled at load no longer does; it matches nothing");
                GlobSet::empty()
            })
        })
    }
}

/// What the first path components of every pattern allow, as far as they are literal:
/// `/etc/…` admits values under `/etc`; `/home/*/.aws/…` admits values under `/home` whose
/// third component is `.aws`; `python*` admits first components starting with `python`.
#[derive(Clone, Debug, Default)]
struct FirstComponents {
    /// First components under which anything may match.
    exact: FxHashSet<String>,
    /// Literal beginnings of first components (`python` of `python*`).
    starts: Vec<String>,
    /// First components followed by a `*` component: what the third component may be.
    skip_one: FxHashMap<String, Component>,
}

/// The allowed values of one component.
#[derive(Clone, Debug, Default)]
struct Component {
    any: bool,
    exact: FxHashSet<String>,
    starts: Vec<String>,
}

impl Component {
    /// Adds a component pattern; false when it begins with a wildcard.
    fn add(&mut self, pattern: &str) -> bool {
        match pattern.find(['*', '?', '[', '{', '\\']) {
            None => {
                self.exact.insert(pattern.to_string());
                true
            }
            Some(index) if pattern[..index].trim_start_matches('/').is_empty() => false,
            Some(index) => {
                self.starts.push(pattern[..index].to_string());
                true
            }
        }
    }

    fn admits(&self, component: &str) -> bool {
        self.any
            || self.exact.contains(component)
            || self.starts.iter().any(|start| component.starts_with(start.as_str()))
    }
}

/// Patterns past this many brace expansions skip the prefilter.
const MAX_EXPANSIONS: usize = 256;

impl FirstComponents {
    fn of<'p>(patterns: impl Iterator<Item = &'p str>) -> Option<Self> {
        let mut first = Component::default();
        let mut skip_one: FxHashMap<String, Component> = FxHashMap::default();
        for pattern in patterns {
            for alternative in expand_braces(pattern, MAX_EXPANSIONS)? {
                let parts = components(&alternative);
                let is_literal = |part: &str| !part.contains(['*', '?', '[', '{', '\\']);
                match parts.as_slice() {
                    [one, "*", three, ..] if is_literal(one) && *three != "**" => {
                        let third = skip_one.entry(one.to_string()).or_default();
                        if !third.add(three) {
                            third.any = true;
                        }
                    }
                    [one, ..] => {
                        if !first.add(one) {
                            return None;
                        }
                    }
                    [] => return None,
                }
            }
        }
        Some(Self {
            exact: first.exact,
            starts: first.starts,
            skip_one,
        })
    }

    fn admits(&self, value: &str) -> bool {
        let (first, rest) = split_first(value);
        if self.exact.contains(first) || self.starts.iter().any(|start| first.starts_with(start.as_str())) {
            return true;
        }
        let Some(third) = self.skip_one.get(first) else {
            return false;
        };
        // Past the second component (the one the `*` stands for).
        match rest.and_then(|rest| rest.split_once('/')) {
            Some((_, after)) => third.admits(after.split('/').next().unwrap_or(after)),
            None => false,
        }
    }
}

/// The first component (with its leading `/`) and what follows the `/` after it.
fn split_first(value: &str) -> (&str, Option<&str>) {
    let start = usize::from(value.starts_with('/'));
    match value[start..].find('/') {
        Some(end) => (&value[..start + end], Some(&value[start + end + 1..])),
        None => (value, None),
    }
}

/// Splits a path into components, the first keeping its leading `/`: `/home/a/b` gives
/// `/home`, `a`, `b`.
fn components(value: &str) -> Vec<&str> {
    let start = usize::from(value.starts_with('/'));
    let mut parts = Vec::with_capacity(4);
    match value[start..].find('/') {
        Some(end) => {
            parts.push(&value[..start + end]);
            parts.extend(value[start + end + 1..].split('/').take(3));
        }
        None => parts.push(value),
    }
    parts
}

/// `{a,b}c{d,e}` gives `acd`, `ace`, `bcd`, `bce`; `None` for nested or unbalanced braces or
/// more than `limit` results.
pub(crate) fn expand_braces(pattern: &str, limit: usize) -> Option<Vec<String>> {
    let Some(open) = find_unescaped(pattern, '{') else {
        return Some(vec![pattern.to_string()]);
    };
    let close = open + find_unescaped(&pattern[open..], '}')?;
    let (head, choices, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    if choices.contains('{') {
        return None;
    }
    let mut out = Vec::new();
    for choice in choices.split(',') {
        for rest in expand_braces(tail, limit)? {
            out.push(format!("{head}{choice}{rest}"));
            if out.len() > limit {
                return None;
            }
        }
    }
    Some(out)
}

fn find_unescaped(text: &str, wanted: char) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == wanted && !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(patterns: &[&str]) -> Globs {
        Globs::build(patterns.iter().map(|p| p.to_string()).collect()).expect("set")
    }

    fn matches(set: &Globs, value: &str) -> bool {
        let candidate = Candidate::new(value);
        set.is_match(value, || &candidate)
    }

    #[test]
    fn the_set_is_compiled_on_first_use_and_shared_by_copies() {
        let set = globs(&["/etc/**", "*.pem"]);
        let copy = set.clone();
        assert!(set.inner.set.get().is_none());
        assert!(matches(&copy, "/etc/shadow"));
        assert!(set.inner.set.get().is_some(), "the copies share one set");
        assert!(matches(&set, "key.pem") && !matches(&set, "/srv/x"));
        assert!(
            Globs::build(vec!["a{b".to_string()]).is_err(),
            "a bad set fails at load"
        );
    }

    #[test]
    fn the_prefilter_reads_the_literal_components() {
        assert_eq!(components("/home/a/.aws/x/y"), ["/home", "a", ".aws", "x"]);
        assert_eq!(components("python3.11"), ["python3.11"]);
        assert_eq!(components("/"), ["/"]);
        assert_eq!(
            expand_braces("{/home/*,/root}/.aws/{credentials,config}", 10).map(|v| v.len()),
            Some(4)
        );
        assert_eq!(
            expand_braces("/{etc,usr/lib}/x", 10),
            Some(vec!["/etc/x".to_string(), "/usr/lib/x".to_string()])
        );
        assert_eq!(expand_braces("{a,{b}}", 10), None);
        let prefilter =
            FirstComponents::of(["{/home/*,/root}/.aws/x", "/etc/shadow", "python*"].into_iter()).expect("prefilter");
        assert!(prefilter.admits("/home/bob/.aws/x") && prefilter.admits("/root/.aws/x"));
        assert!(
            !prefilter.admits("/home/bob/project/x"),
            "third component decides under /home"
        );
        assert!(prefilter.admits("/etc/passwd") && prefilter.admits("python3"));
        assert!(!prefilter.admits("/usr/lib/libc.so.6") && !prefilter.admits("node"));
        assert!(FirstComponents::of(["*.pem"].into_iter()).is_none());
        assert!(FirstComponents::of(["**/node_modules/**"].into_iter()).is_none());
        assert!(FirstComponents::of(["/**"].into_iter()).is_none());
    }

    #[test]
    fn the_prefilter_never_changes_the_answer() {
        let sets: &[&[&str]] = &[
            &[
                "{/home/*,/root}/.aws/{credentials,config}",
                "/etc/{shadow,gshadow}",
                "/tmp/**",
                "/.ssh/id_*",
            ],
            &["python*", "gcc-[0-9]*", "node", "cc1*"],
            &["**/node_modules/**", "*.pem", "/etc/**"],
            &["/", "/etc", "/.config/*/x"],
            &[
                "{/home/*,/root}/.ssh/**",
                "/home/*/.{bashrc,zshrc}",
                "/home/*/*/x",
                "/{bin,usr/bin}/agent-sensor",
                "/srv/*/d[ab]*",
            ],
        ];
        let values = [
            "/home/a/.aws/credentials",
            "/root/.aws/config",
            "/root/.aws/other",
            "/etc/shadow",
            "/etc/passwd",
            "/etc",
            "/tmp",
            "/tmp/x",
            "/.ssh/id_rsa",
            "/.ssh",
            "/usr/lib/libc.so.6",
            "python3.11",
            "python",
            "gcc-12",
            "gcc",
            "node",
            "nodejs",
            "cc1plus",
            "node_modules/x",
            "/p/node_modules/x/y",
            "key.pem",
            "/",
            "/.config/app/x",
            "",
            "/home/alice/.ssh/id_rsa",
            "/home/alice/.ssh",
            "/home/alice/.bashrc",
            "/home/alice/project/x",
            "/home/alice/a/x",
            "/home/alice",
            "/root/.ssh/k",
            "/usr/bin/agent-sensor",
            "/bin/agent-sensor",
            "/sbin/agent-sensor",
            "/srv/x/dab",
            "/srv/x/dc",
        ];
        for patterns in sets {
            let set = globs(patterns);
            let mut reference = GlobSetBuilder::new();
            for p in *patterns {
                reference.add(glob(p).expect("glob"));
            }
            let reference = reference.build().expect("set");
            for value in values {
                assert_eq!(
                    matches(&set, value),
                    reference.is_match(value),
                    "{value} against {patterns:?}"
                );
            }
        }
    }
}
