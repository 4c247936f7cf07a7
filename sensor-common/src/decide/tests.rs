//! The kernel's decisions on the host. What a name pattern matches is also checked against the
//! rule engine's own glob matcher in `sensor/src/enforce/image/tests.rs`.

use proptest::prelude::*;

use super::*;
use crate::policy::{PolicyRule, RULE_DISTINCT};

const SEED: u64 = 0x5eed;

fn view(name: &str) -> NameView {
    NameView::of(SEED, name.as_bytes())
}

/// `PREFIX*SUFFIX` on one name, as a glob means it.
fn glob_like(prefix: &[u8], suffix: &[u8], name: &[u8]) -> bool {
    name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
}

#[test]
fn exact_names_match_by_hash_only() {
    let pattern = NamePattern::exact(SEED, b"id_rsa");
    assert!(pattern.matches(&view("id_rsa")));
    assert!(!pattern.matches(&view("id_rsa.pub")));
    assert!(!pattern.matches(&view("id_rs")));
    assert!(
        !NamePattern::exact(SEED ^ 1, b"id_rsa").matches(&view("id_rsa")),
        "the seed is part of the hash"
    );
}

#[test]
fn prefixes_and_suffixes_need_room_for_both() {
    let pattern = NamePattern::wildcard(b"abc", b"cde");
    assert!(pattern.matches(&view("abcXcde")));
    assert!(pattern.matches(&view("abccde")));
    assert!(!pattern.matches(&view("abcde")), "the c cannot be both");
    let dotfiles = NamePattern::wildcard(b".", b"");
    assert!(dotfiles.matches(&view(".bashrc")) && !dotfiles.matches(&view("bashrc")));
    let keys = NamePattern::wildcard(b"", b".kdbx");
    assert!(keys.matches(&view("a-very-long-database-name.kdbx")));
    assert!(!keys.matches(&view("a-very-long-database-name.kdbx.bak")));
    assert!(NamePattern::default().matches(&view("anything")), "no test: every name");
}

#[test]
fn names_longer_than_the_edges_compare_their_first_and_last_bytes() {
    let long = "0123456789abcdef-middle-0123456789ABCDEF";
    assert!(NamePattern::wildcard(b"0123456789abcdef", b"").matches(&view(long)));
    assert!(NamePattern::wildcard(b"", b"0123456789ABCDEF").matches(&view(long)));
    assert!(!NamePattern::wildcard(b"", b"0123456789ABCDEf").matches(&view(long)));
}

proptest! {
    #[test]
    fn wildcards_match_like_the_glob(
        prefix in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'.')], 0..=16),
        suffix in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'.')], 0..=16),
        name in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(0u8)], 0..40),
    ) {
        let pattern = NamePattern::wildcard(&prefix, &suffix);
        let view = NameView::of(SEED, &name);
        prop_assert_eq!(pattern.matches(&view), glob_like(&prefix, &suffix, &name));
    }
}

#[test]
fn patterns_are_placed_by_depth() {
    // A directory 2 components deep (`/home/alice`), paths 3 and 5 deep.
    assert!(pattern_placed(AT_CHILD, 2, 3) && !pattern_placed(AT_CHILD, 2, 5));
    assert!(!pattern_placed(BELOW_CHILD, 2, 3) && pattern_placed(BELOW_CHILD, 2, 5));
    assert!(pattern_placed(AT_ANY_DEPTH, 2, 3) && pattern_placed(AT_ANY_DEPTH, 2, 5));
    assert!(
        !pattern_placed(NAME_EXACT, 2, 3),
        "a name test without a place is never tested"
    );
    assert_eq!(pattern_component(AT_CHILD, 2, 5), 3, "the directory's child");
    assert_eq!(pattern_component(BELOW_CHILD, 2, 5), 3);
    assert_eq!(pattern_component(AT_ANY_DEPTH, 2, 5), 5, "the last component");
}

fn scope(sets: u64, identity: u64, exempt: u64) -> Scope {
    Scope { sets, identity, exempt }
}

fn rule(include: u64, exclude: u64, except: u64) -> PolicyRule {
    PolicyRule {
        include_sets: include,
        exclude_sets: exclude,
        except_sets: except,
        ..PolicyRule::default()
    }
}

#[test]
fn scope_is_paths_minus_exclusions_minus_excepted_programs() {
    let keys = rule(0b001, 0b010, 0b100);
    assert!(in_scope(&keys, &scope(0b001, 0, 0)), "a key");
    assert!(!in_scope(&keys, &scope(0b000, 0, 0)), "not a key");
    assert!(
        !in_scope(&keys, &scope(0b011, 0, 0)),
        "a key excluded by name (`*.pub`)"
    );
    assert!(
        in_scope(&keys, &scope(0b011, 0b001, 0)),
        "the key renamed to `x.pub` is still the key"
    );
    assert!(!in_scope(&keys, &scope(0b101, 0, 0b100)), "ssh reading its own keys");
    assert!(in_scope(&keys, &scope(0b101, 0, 0b000)), "another program reading them");
    assert!(
        in_scope(&keys, &scope(0b001, 0, 0b100)),
        "an exemption elsewhere does not count here"
    );
    assert!(
        in_scope(&rule(0, 0, 0), &Scope::default()),
        "connect rules have no paths"
    );
}

#[test]
fn file_flags_narrow_a_rule() {
    assert!(file_flags_admit(0, O_DIRECTORY, false, false, false));
    assert!(!file_flags_admit(RULE_NOT_DIRECTORY, O_DIRECTORY, false, false, false));
    assert!(file_flags_admit(RULE_NOT_DIRECTORY, 0, false, false, false));
    assert!(!file_flags_admit(RULE_WRITTEN_BY_SESSION, 0, false, true, false));
    assert!(file_flags_admit(RULE_WRITTEN_BY_SESSION, 0, true, true, false));
    assert!(!file_flags_admit(RULE_EXISTING, 0, false, false, false));
    assert!(!file_flags_admit(RULE_IN_WORKSPACE, 0, false, false, false));
    assert!(file_flags_admit(RULE_IN_WORKSPACE, 0, false, false, true));
    assert!(!file_flags_admit(RULE_OUTSIDE_WORKSPACE, 0, false, false, true));
    assert!(
        file_flags_admit(RULE_DISTINCT, 0, false, false, false),
        "not a file test"
    );
}

#[test]
fn ports_are_in_a_range_or_not() {
    let mut ranges = [PortRange::EMPTY; 4];
    assert!(
        !in_ports(&ranges, 0) && !in_ports(&ranges, 1),
        "empty ranges hold no port"
    );
    ranges[0] = PortRange { low: 80, high: 80 };
    ranges[2] = PortRange { low: 8000, high: 8999 };
    for (port, inside) in [
        (79, false),
        (80, true),
        (81, false),
        (8000, true),
        (8999, true),
        (9000, false),
    ] {
        assert_eq!(in_ports(&ranges, port), inside, "{port}");
    }
}
