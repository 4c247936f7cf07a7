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
//! walking a tree of their literal components (`router`).

pub mod router;

use globset::{Candidate, Glob, GlobSet, GlobSetBuilder};
use rustc_hash::{FxHashMap, FxHashSet};

#[derive(Clone, Debug)]
pub struct Globs {
    set: GlobSet,
    prefilter: Option<Box<FirstComponents>>,
    /// The patterns as written (for the rule index).
    patterns: Vec<String>,
}

impl Default for Globs {
    fn default() -> Self {
        Self {
            set: GlobSet::empty(),
            prefilter: None,
            patterns: Vec::new(),
        }
    }
}

impl Globs {
    /// Builds the set from `(pattern text, compiled glob)` pairs.
    pub fn build(globs: Vec<(String, Glob)>) -> Result<Self, globset::Error> {
        let prefilter = FirstComponents::of(globs.iter().map(|(text, _)| text.as_str())).map(Box::new);
        let mut builder = GlobSetBuilder::new();
        let mut patterns = Vec::with_capacity(globs.len());
        for (text, glob) in globs {
            builder.add(glob);
            patterns.push(text);
        }
        Ok(Self {
            set: builder.build()?,
            prefilter,
            patterns,
        })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// True when a glob matches `value`; `candidate` is built only when the prefilter passes.
    pub fn is_match<'c>(&self, value: &str, candidate: impl FnOnce() -> &'c Candidate<'c>) -> bool {
        if self.set.is_empty() {
            return false;
        }
        if let Some(prefilter) = &self.prefilter
            && !prefilter.admits(value)
        {
            return false;
        }
        self.set.is_match_candidate(candidate())
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
    use globset::GlobBuilder;

    use super::*;

    fn glob(pattern: &str) -> Glob {
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .expect("glob")
    }

    fn globs(patterns: &[&str]) -> Globs {
        Globs::build(patterns.iter().map(|p| (p.to_string(), glob(p))).collect()).expect("set")
    }

    fn matches(set: &Globs, value: &str) -> bool {
        let candidate = Candidate::new(value);
        set.is_match(value, || &candidate)
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
                reference.add(glob(p));
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
