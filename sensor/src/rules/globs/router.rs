//! Glob patterns matched by walking a tree of their path components, most without a glob set.
//!
//! Every pattern (braces expanded) is split at `/`. Its literal components lead down a tree
//! (`/`, `home`, `*`, `.ssh`…); where the pattern ends, what remains is one of a few shapes the
//! walk answers itself: nothing (the value ends there), `**` (anything below), `**/NAME` and
//! `**/*.EXT` (the value's last component), or a component pattern (`python*`, `id_*`,
//! `gcc-[0-9]*`) leading to a child. Anything else (`**` followed by several components, `**`
//! inside a component, a negated character class) keeps a glob set at the deepest node its
//! literal components reach, run only when the walk gets there. A value is walked once for every
//! pattern of the tree; matching patterns report their bit.
//!
//! Semantics are globset's with `literal_separator(true)` and `backslash_escape(true)`, as the
//! compiler builds them; a property test compares the two.

use globset::{Candidate, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use rustc_hash::FxHashMap;

use super::{MAX_EXPANSIONS, expand_braces};

/// Patterns, each reporting a bit when it matches.
#[derive(Clone, Debug)]
pub struct Router {
    nodes: Vec<Node>,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Children by literal component.
    literal: FxHashMap<Box<str>, usize>,
    /// The child of a `*` component.
    star: Option<usize>,
    /// Patterns that end here: the value must end here too.
    end: Vec<u32>,
    /// `…/**`: anything below.
    rest: Vec<u32>,
    /// What few nodes have, kept apart so that a node is small (a router has thousands, most of
    /// which only lead on by literal components).
    rare: Option<Box<Rare>>,
}

impl Node {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

#[derive(Clone, Debug, Default)]
struct Rare {
    /// Children of other component patterns.
    wild: Wild,
    /// `…/**/NAME`: the value's last component, below this node.
    last_literal: FxHashMap<Box<str>, Vec<u32>>,
    /// `…/**/PATTERN`, with the bit.
    last_wild: Wild,
    /// Patterns of other shapes, matched whole on the value.
    globs: Vec<(GlobSet, u32)>,
}

/// Component patterns, each with a payload (a child node or a bit), found by the first or last
/// byte they require so a component is tested against few of them.
#[derive(Clone, Debug, Default)]
struct Wild {
    parts: Vec<(Part, usize)>,
    by_first: FxHashMap<u8, Vec<usize>>,
    by_last: FxHashMap<u8, Vec<usize>>,
    other: Vec<usize>,
}

impl Wild {
    fn push(&mut self, part: Part, payload: usize) {
        let index = self.parts.len();
        match (part.first_byte(), part.last_byte()) {
            (Some(first), _) => self.by_first.entry(first).or_default().push(index),
            (None, Some(last)) => self.by_last.entry(last).or_default().push(index),
            (None, None) => self.other.push(index),
        }
        self.parts.push((part, payload));
    }

    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn find(&self, text: &str) -> Option<usize> {
        self.parts
            .iter()
            .find(|(part, _)| part.text() == text)
            .map(|(_, payload)| *payload)
    }

    /// Calls `found` with the payload of every pattern that matches `component`.
    fn matches(&self, component: &str, mut found: impl FnMut(usize)) {
        let mut test = |indexes: &[usize]| {
            for &index in indexes {
                let (part, payload) = &self.parts[index];
                if part.matches(component) {
                    found(*payload);
                }
            }
        };
        if let (Some(&first), Some(&last)) = (component.as_bytes().first(), component.as_bytes().last()) {
            if let Some(indexes) = self.by_first.get(&first) {
                test(indexes);
            }
            if let Some(indexes) = self.by_last.get(&last) {
                test(indexes);
            }
        }
        test(&self.other);
    }
}

/// One component pattern.
#[derive(Clone, Debug)]
enum Part {
    /// Literal pieces separated by `*`: the first begins the component, the last ends it.
    Stars(Stars, Box<str>),
    /// Anything else a component can hold (`?`, positive character classes, escapes).
    Glob(GlobMatcher, Box<str>),
}

impl Part {
    fn text(&self) -> &str {
        match self {
            Part::Stars(_, text) | Part::Glob(_, text) => text,
        }
    }

    /// The first byte a matching component must have, when the pattern fixes it.
    fn first_byte(&self) -> Option<u8> {
        let text = self.text();
        match text.as_bytes().first() {
            Some(b'*' | b'?' | b'[' | b'\\') | None => None,
            Some(&byte) => Some(byte),
        }
    }

    /// The last byte a matching component must have, for star patterns that fix it.
    fn last_byte(&self) -> Option<u8> {
        match self {
            Part::Stars(stars, _) if stars.starred => stars.last.last().copied(),
            _ => None,
        }
    }

    /// The pattern of one component; `None` when it cannot be matched component by component.
    fn parse(text: &str) -> Option<Part> {
        if text.contains("**") {
            return None;
        }
        if !text.contains(['?', '[', ']', '{', '}', '\\']) {
            return Some(Part::Stars(Stars::new(text), Box::from(text)));
        }
        if !classes_exclude_slash(text) {
            return None;
        }
        let glob = GlobBuilder::new(text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .ok()?;
        Some(Part::Glob(glob.compile_matcher(), Box::from(text)))
    }

    fn matches(&self, component: &str) -> bool {
        match self {
            Part::Stars(stars, _) => stars.matches(component.as_bytes()),
            Part::Glob(glob, _) => glob.is_match(component),
        }
    }
}

/// `a*b*c`: `a` begins a matching value, `c` ends it, `b` lies between, in order. The middle
/// pieces are searched with prebuilt substring finders: a component is tested against many such
/// patterns, and a byte-by-byte window scan compared each position with a call of its own.
#[derive(Clone, Debug)]
struct Stars {
    first: Box<[u8]>,
    middle: Vec<memchr::memmem::Finder<'static>>,
    last: Box<[u8]>,
    /// The pattern has a star (else it is the literal `first`).
    starred: bool,
}

impl Stars {
    fn new(text: &str) -> Self {
        let pieces: Vec<&str> = text.split('*').collect();
        let first = Box::from(pieces.first().copied().unwrap_or_default().as_bytes());
        if pieces.len() == 1 {
            return Self {
                first,
                middle: Vec::new(),
                last: Box::default(),
                starred: false,
            };
        }
        let middle = pieces[1..pieces.len() - 1]
            .iter()
            .filter(|piece| !piece.is_empty())
            .map(|piece| memchr::memmem::Finder::new(piece.as_bytes()).into_owned())
            .collect();
        Self {
            first,
            middle,
            last: Box::from(pieces.last().copied().unwrap_or_default().as_bytes()),
            starred: true,
        }
    }

    fn matches(&self, value: &[u8]) -> bool {
        if !self.starred {
            return value.len() == self.first.len() && same(value, &self.first);
        }
        if value.len() < self.first.len() + self.last.len()
            || !same(&value[..self.first.len()], &self.first)
            || !same(&value[value.len() - self.last.len()..], &self.last)
        {
            return false;
        }
        let mut inner = &value[self.first.len()..value.len() - self.last.len()];
        for finder in &self.middle {
            match finder.find(inner) {
                Some(at) => inner = &inner[at + finder.needle().len()..],
                None => return false,
            }
        }
        true
    }
}

/// `a == b`, byte by byte: the pieces and prefixes rules test are a few bytes long, and a value
/// is tested against many of them, where a `memcmp` call each costs more than the bytes.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `value.starts_with(prefix)`, with [`same`].
#[inline]
pub(crate) fn has_prefix(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len() && same(&value.as_bytes()[..prefix.len()], prefix.as_bytes())
}

/// `value.ends_with(suffix)`, with [`same`].
#[inline]
pub(crate) fn has_suffix(value: &str, suffix: &str) -> bool {
    value.len() >= suffix.len() && same(&value.as_bytes()[value.len() - suffix.len()..], suffix.as_bytes())
}

/// True when no character class of `text` can match `/` (negated classes and ranges over `/`
/// can, and then the pattern is not split at `/`). Escaped characters are skipped.
fn classes_exclude_slash(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                if matches!(chars.peek(), Some('!' | '^')) {
                    return false;
                }
                let mut previous: Option<char> = None;
                let mut first = true;
                loop {
                    let Some(c) = chars.next() else {
                        return false;
                    };
                    if c == ']' && !first {
                        break;
                    }
                    if c == '/' {
                        return false;
                    }
                    if c == '-'
                        && let (Some(low), Some(&high)) = (previous, chars.peek())
                        && high != ']'
                        && low <= '/'
                        && '/' <= high
                    {
                        return false;
                    }
                    previous = Some(c);
                    first = false;
                }
            }
            _ => {}
        }
    }
    true
}

fn is_literal(component: &str) -> bool {
    !component.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Builds a router.
#[derive(Default)]
pub struct RouterBuilder {
    router: Router,
    /// Patterns of other shapes, per node and bit.
    globs: FxHashMap<(usize, u32), Vec<String>>,
}

impl RouterBuilder {
    /// Adds `pattern` (a glob as the compiler accepts it) reporting `bit`.
    pub fn add(&mut self, pattern: &str, bit: u32) {
        match expand_braces(pattern, MAX_EXPANSIONS) {
            Some(alternatives) => {
                for alternative in alternatives {
                    self.add_alternative(&alternative, bit);
                }
            }
            None => self.globs.entry((0, bit)).or_default().push(pattern.to_string()),
        }
    }

    fn add_alternative(&mut self, alternative: &str, bit: u32) {
        let components: Vec<&str> = alternative.split('/').collect();
        let mut node = 0;
        for (index, &component) in components.iter().enumerate() {
            let remaining = &components[index + 1..];
            if component == "**" {
                match remaining {
                    [] => {
                        self.router.nodes[node].rest.push(bit);
                        return;
                    }
                    [last] if is_literal(last) => {
                        self.router.nodes[node]
                            .rare()
                            .last_literal
                            .entry(Box::from(*last))
                            .or_default()
                            .push(bit);
                        return;
                    }
                    [last] if *last != "**" => {
                        if let Some(part) = Part::parse(last) {
                            self.router.nodes[node].rare().last_wild.push(part, bit as usize);
                            return;
                        }
                    }
                    _ => {}
                }
                break;
            }
            let child = if is_literal(component) {
                self.router.nodes[node].literal.get(component).copied()
            } else if component == "*" {
                self.router.nodes[node].star
            } else {
                self.router.nodes[node]
                    .rare
                    .as_ref()
                    .and_then(|rare| rare.wild.find(component))
            };
            let child = match child {
                Some(child) => child,
                None => {
                    let part = if is_literal(component) || component == "*" {
                        None
                    } else {
                        match Part::parse(component) {
                            Some(part) => Some(part),
                            None => break,
                        }
                    };
                    let child = self.router.nodes.len();
                    self.router.nodes.push(Node::default());
                    let parent = &mut self.router.nodes[node];
                    match part {
                        Some(part) => parent.rare().wild.push(part, child),
                        None if component == "*" => parent.star = Some(child),
                        None => {
                            parent.literal.insert(Box::from(component), child);
                        }
                    }
                    child
                }
            };
            node = child;
            if remaining.is_empty() {
                self.router.nodes[node].end.push(bit);
                return;
            }
        }
        // A shape the walk does not answer: the whole pattern, at the deepest literal node.
        self.globs.entry((node, bit)).or_default().push(alternative.to_string());
    }

    pub fn build(mut self) -> Result<Router, globset::Error> {
        let mut globs: Vec<((usize, u32), Vec<String>)> = self.globs.into_iter().collect();
        globs.sort();
        for ((node, bit), patterns) in globs {
            let mut builder = GlobSetBuilder::new();
            for pattern in &patterns {
                builder.add(
                    GlobBuilder::new(pattern)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()?,
                );
            }
            self.router.nodes[node].rare().globs.push((builder.build()?, bit));
        }
        self.router.nodes.shrink_to_fit();
        for node in &mut self.router.nodes {
            node.literal.shrink_to_fit();
            if let Some(rare) = &mut node.rare {
                rare.last_literal.shrink_to_fit();
            }
        }
        Ok(self.router)
    }
}

impl Router {
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && {
            let root = &self.nodes[0];
            root.rest.is_empty()
                && root.rare.as_ref().is_none_or(|rare| {
                    rare.last_literal.is_empty() && rare.last_wild.is_empty() && rare.globs.is_empty()
                })
        }
    }

    /// Reports the bit of every pattern that matches `value` (a bit may be reported twice).
    pub fn matches(&self, value: &str, out: &mut impl FnMut(u32)) {
        let last = std::cell::OnceCell::new();
        self.visit(0, Some(value), Walk { value, last: &last }, out);
    }

    /// At `node`, with `remaining` the value after the components walked so far (and the `/`
    /// after them), or `None` when the value ended there.
    fn visit(&self, id: usize, remaining: Option<&str>, walk: Walk, out: &mut impl FnMut(u32)) {
        let value = walk.value;
        let node = &self.nodes[id];
        let rare = node.rare.as_deref();
        if let Some(rare) = rare
            && !rare.globs.is_empty()
        {
            let candidate = Candidate::new(value);
            for (set, bit) in &rare.globs {
                if set.is_match_candidate(&candidate) {
                    out(*bit);
                }
            }
        }
        let Some(rest) = remaining else {
            for &bit in &node.end {
                out(bit);
            }
            return;
        };
        for &bit in &node.rest {
            out(bit);
        }
        if let Some(rare) = rare
            && (!rare.last_literal.is_empty() || !rare.last_wild.is_empty())
        {
            // What follows a walked component and its `/` is a suffix of the value: its last
            // component is the value's, found once per walk.
            let last = *walk.last.get_or_init(|| crate::process::resolve::last_component(value));
            if let Some(bits) = rare.last_literal.get(last) {
                for &bit in bits {
                    out(bit);
                }
            }
            rare.last_wild.matches(last, |bit| out(bit as u32));
        }
        // Components are short: a plain scan beats a searcher's set-up.
        let (component, after) = match rest.bytes().position(|byte| byte == b'/') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        if let Some(&child) = node.literal.get(component) {
            self.visit(child, after, walk, out);
        }
        if let Some(child) = node.star {
            self.visit(child, after, walk, out);
        }
        if let Some(rare) = rare
            && !rare.wild.is_empty()
        {
            rare.wild
                .matches(component, |child| self.visit(child, after, walk, out));
        }
    }
}

/// What stays the same down a walk: the whole value, and its last component once needed.
#[derive(Clone, Copy)]
struct Walk<'v> {
    value: &'v str,
    last: &'v std::cell::OnceCell<&'v str>,
}

#[cfg(test)]
mod tests;
