//! Compiled matchers: what a field value is tested against.

use std::net::IpAddr;

use std::cell::OnceCell;

use globset::Candidate;

use super::{globs::Globs, regexes::Regexes};
use ipnet::IpNet;

pub use crate::event::open_flags::{FlagTest, flag_test};
use rustc_hash::FxHashSet;

/// A set of strings: a short list compared directly (faster than hashing for a few values),
/// or a hash set.
#[derive(Clone, Debug)]
pub enum StrSet {
    Few(Vec<String>),
    Many(FxHashSet<String>),
}

impl Default for StrSet {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl StrSet {
    const FEW: usize = 8;

    pub fn from_values(values: Vec<String>) -> Self {
        if values.len() <= Self::FEW {
            let mut values = values;
            values.sort();
            values.dedup();
            Self::Few(values)
        } else {
            Self::Many(values.into_iter().collect())
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            Self::Few(values) => values.iter().any(|candidate| candidate == value),
            Self::Many(set) => set.contains(value),
        }
    }

    /// The values, in no particular order.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::Few(values) => values.iter().map(String::as_str).collect(),
            Self::Many(set) => set.iter().map(String::as_str).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Self::Few(values) => values.is_empty(),
            Self::Many(set) => set.is_empty(),
        }
    }
}

/// Values written with a leading `~` (or `$HOME`) are matched against the part of the value
/// below the user's home: `~/.ssh/id_rsa` is stored as `/.ssh/id_rsa`, `~` alone as ``.
#[derive(Clone, Debug, Default)]
pub struct HomeSplit<T> {
    pub absolute: T,
    pub home: T,
}

#[derive(Clone, Debug)]
pub enum TextOp {
    Equal(HomeSplit<StrSet>),
    Glob(HomeSplit<Globs>),
    Regex(Regexes),
    Prefix(HomeSplit<Vec<String>>),
    Suffix(Vec<String>),
    Contains(Vec<String>),
}

/// A value prepared for glob matching: globset candidates of the value and of its part below
/// the home directory.
pub struct GlobCandidates<'s> {
    pub absolute: Candidate<'s>,
    pub below_home: Option<Candidate<'s>>,
}

impl<'s> GlobCandidates<'s> {
    pub fn new(value: &'s str, below_home: Option<&'s str>) -> Self {
        Self {
            absolute: Candidate::from_bytes(value.as_bytes()),
            below_home: below_home.map(|rest| Candidate::from_bytes(rest.as_bytes())),
        }
    }
}

/// The string a text matcher tests, with its glob candidates built at most once (and, for the
/// fields most globbed, shared by every rule through the event's cache).
pub struct Subject<'s, 'c> {
    pub value: &'s str,
    pub below_home: Option<&'s str>,
    pub candidates: &'c OnceCell<GlobCandidates<'s>>,
}

impl<'s> Subject<'s, '_> {
    fn candidates(&self) -> &GlobCandidates<'s> {
        self.candidates
            .get_or_init(|| GlobCandidates::new(self.value, self.below_home))
    }
}

impl TextOp {
    fn matches(&self, subject: &Subject) -> bool {
        let value = subject.value;
        let below_home = subject.below_home;
        match self {
            Self::Equal(set) => {
                set.absolute.contains(value)
                    || (!set.home.is_empty() && below_home.is_some_and(|rest| set.home.contains(rest)))
            }
            Self::Glob(set) => {
                set.absolute.is_match(value, || &subject.candidates().absolute)
                    || below_home.is_some_and(|rest| {
                        set.home.is_match(rest, || {
                            // `below_home` is set, so the candidates have it too.
                            subject
                                .candidates()
                                .below_home
                                .as_ref()
                                .unwrap_or(&subject.candidates().absolute)
                        })
                    })
            }
            Self::Regex(set) => set.is_match(value),
            Self::Prefix(prefixes) => {
                prefixes
                    .absolute
                    .iter()
                    .any(|prefix| value.starts_with(prefix.as_str()))
                    || below_home
                        .is_some_and(|rest| prefixes.home.iter().any(|prefix| rest.starts_with(prefix.as_str())))
            }
            Self::Suffix(suffixes) => suffixes.iter().any(|suffix| value.ends_with(suffix.as_str())),
            Self::Contains(needles) => needles.iter().any(|needle| value.contains(needle.as_str())),
        }
    }

    /// A rough cost, so cheap tests run first.
    fn cost(&self) -> u32 {
        match self {
            Self::Equal(_) => 2,
            Self::Prefix(_) | Self::Suffix(_) => 3,
            Self::Contains(_) => 5,
            Self::Glob(_) => 10,
            Self::Regex(_) => 20,
        }
    }
}

/// Every operator must hold.
#[derive(Clone, Debug, Default)]
pub struct TextMatcher {
    pub ops: Vec<TextOp>,
}

impl TextMatcher {
    pub fn matches(&self, value: &str, home: Option<&str>) -> bool {
        let below_home = home.and_then(|home| below(value, home));
        let candidates = OnceCell::new();
        self.matches_subject(&Subject {
            value,
            below_home,
            candidates: &candidates,
        })
    }

    pub fn matches_subject(&self, subject: &Subject) -> bool {
        self.ops.iter().all(|op| op.matches(subject))
    }

    pub fn cost(&self) -> u32 {
        self.ops.iter().map(TextOp::cost).sum()
    }
}

/// The part of `value` below `home`, starting with `/` (empty for `home` itself).
pub fn below<'v>(value: &'v str, home: &str) -> Option<&'v str> {
    let home = home.trim_end_matches('/');
    if home.is_empty() {
        return None;
    }
    value
        .strip_prefix(home)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[derive(Clone, Debug)]
pub enum NumberOp {
    In(Vec<i64>),
    Ranges(Vec<(i64, i64)>),
    Gt(i64),
    Ge(i64),
    Lt(i64),
    Le(i64),
}

#[derive(Clone, Debug, Default)]
pub struct NumberMatcher {
    pub ops: Vec<NumberOp>,
}

impl NumberMatcher {
    pub fn matches(&self, value: i64) -> bool {
        self.ops.iter().all(|op| match op {
            NumberOp::In(values) => values.contains(&value),
            NumberOp::Ranges(ranges) => ranges.iter().any(|&(low, high)| (low..=high).contains(&value)),
            NumberOp::Gt(bound) => value > *bound,
            NumberOp::Ge(bound) => value >= *bound,
            NumberOp::Lt(bound) => value < *bound,
            NumberOp::Le(bound) => value <= *bound,
        })
    }
}

#[derive(Clone, Debug)]
pub enum IpOp {
    In(Vec<IpAddr>),
    Cidr(Vec<IpNet>),
}

#[derive(Clone, Debug, Default)]
pub struct IpMatcher {
    pub ops: Vec<IpOp>,
}

impl IpMatcher {
    pub fn matches(&self, value: IpAddr) -> bool {
        // An IPv4 peer reached through an IPv6 socket (::ffff:a.b.c.d) is the IPv4 peer.
        let value = match value {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(value, IpAddr::V4),
            v4 => v4,
        };
        self.ops.iter().all(|op| match op {
            IpOp::In(values) => values.contains(&value),
            IpOp::Cidr(nets) => nets.iter().any(|net| net.contains(&value)),
        })
    }
}

/// Any of the tests holds.
#[derive(Clone, Debug, Default)]
pub struct FlagsMatcher {
    pub any: Vec<FlagTest>,
}

impl FlagsMatcher {
    pub fn matches(&self, flags: u32) -> bool {
        self.any.iter().any(|test| test.holds(flags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_relative_values_follow_the_users_home() {
        let build = |patterns: &[&str]| Globs::build(patterns.iter().map(|p| p.to_string()).collect()).expect("set");
        let matcher = TextMatcher {
            ops: vec![TextOp::Glob(HomeSplit {
                absolute: build(&["/etc/shadow"]),
                home: build(&["/.ssh/id_*"]),
            })],
        };
        assert!(matcher.matches("/home/alice/.ssh/id_rsa", Some("/home/alice")));
        assert!(matcher.matches("/root/.ssh/id_ed25519", Some("/root/")));
        assert!(!matcher.matches("/home/alice/.ssh/id_rsa", Some("/home/bob")));
        assert!(!matcher.matches("/home/alice2/.ssh/id_rsa", Some("/home/alice")));
        assert!(
            !matcher.matches("/home/alice/.ssh/keys/id_rsa", Some("/home/alice")),
            "* stops at /"
        );
        assert!(matcher.matches("/etc/shadow", None));
    }

    #[test]
    fn home_itself_is_the_empty_rest() {
        let matcher = TextMatcher {
            ops: vec![TextOp::Equal(HomeSplit {
                absolute: StrSet::default(),
                home: StrSet::from_values(vec![String::new()]),
            })],
        };
        assert!(matcher.matches("/home/alice", Some("/home/alice")));
        assert!(!matcher.matches("/home/alice/x", Some("/home/alice")));
    }

    #[test]
    fn numbers_ips_and_flags() {
        let ports = NumberMatcher {
            ops: vec![NumberOp::Ranges(vec![(1024, 65535), (22, 22)])],
        };
        assert!(ports.matches(22) && ports.matches(8080) && !ports.matches(443));
        let nets = IpMatcher {
            ops: vec![IpOp::Cidr(vec![
                "127.0.0.0/8".parse().expect("net"),
                "fc00::/7".parse().expect("net"),
            ])],
        };
        assert!(nets.matches("127.0.0.2".parse().expect("ip")));
        assert!(nets.matches("::ffff:127.0.0.1".parse().expect("ip")), "v4-mapped");
        assert!(nets.matches("fd00::1".parse().expect("ip")));
        assert!(!nets.matches("8.8.8.8".parse().expect("ip")));
        let creat = FlagsMatcher {
            any: vec![flag_test("O_CREAT").expect("flag")],
        };
        assert!(creat.matches((libc::O_WRONLY | libc::O_CREAT) as u32));
        assert!(!creat.matches(libc::O_WRONLY as u32));
        let rdonly = FlagsMatcher {
            any: vec![flag_test("O_RDONLY").expect("flag")],
        };
        assert!(rdonly.matches(libc::O_CLOEXEC as u32));
        assert!(!rdonly.matches(libc::O_RDWR as u32));
    }
}
