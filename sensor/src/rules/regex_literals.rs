//! Literals a regular expression cannot match without: for a set of expressions, strings one of
//! which every match contains. The index tests them (a `contains` of the field, answered with
//! the field's other needles in one pass) before the set runs, so a rule whose expressions
//! cannot match an event's value is not tried at all.
//!
//! Every match of an expression begins with one of its prefix literals and ends with one of its
//! suffix literals (`regex-syntax`'s extraction, exact or not); any finite set of them will do,
//! and the longest literals are chosen. A set has literals only when each of its expressions
//! has them and none is empty.

use regex_syntax::hir::{
    Hir, HirKind,
    literal::{ExtractKind, Extractor},
};

/// At most this many literals for one set; a set that needs more has none.
const MAX_LITERALS: usize = 256;

/// Strings one of which every match of one of `patterns` contains; `None` when there are none
/// worth testing (an expression that can match without any literal, or too many of them).
pub fn required_literals(patterns: &[String]) -> Option<Vec<String>> {
    let mut literals = Vec::new();
    for pattern in patterns {
        literals.extend(pattern_literals(pattern)?);
        if literals.len() > MAX_LITERALS {
            return None;
        }
    }
    literals.sort_unstable();
    literals.dedup();
    (!literals.is_empty()).then_some(literals)
}

/// Literals one of which every match of `pattern` contains: its prefix literals, its suffix
/// literals, or, when it is a sequence of parts, the prefix literals of the sequence from any
/// part on (every part is matched, so what begins it is in the match too). Of the finite sets
/// with no empty literal, the one whose shortest literal is longest (a short literal is found
/// in many values), then the smallest.
fn pattern_literals(pattern: &str) -> Option<Vec<String>> {
    // The parser's defaults are the `regex` crate's (Unicode on, case sensitive).
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut candidates = vec![
        literals_of(&hir, ExtractKind::Prefix),
        literals_of(&hir, ExtractKind::Suffix),
    ];
    let mut whole = &hir;
    while let HirKind::Capture(capture) = whole.kind() {
        whole = &capture.sub;
    }
    if let HirKind::Concat(parts) = whole.kind() {
        for start in 1..parts.len() {
            let rest = Hir::concat(parts[start..].to_vec());
            candidates.push(literals_of(&rest, ExtractKind::Prefix));
        }
    }
    candidates.into_iter().flatten().max_by_key(|literals| {
        let shortest = literals.iter().map(String::len).min().unwrap_or(0);
        (shortest, std::cmp::Reverse(literals.len()))
    })
}

/// The prefix or suffix literals of `hir`, when they are finite, none is empty and all are text.
fn literals_of(hir: &Hir, kind: ExtractKind) -> Option<Vec<String>> {
    let mut extractor = Extractor::new();
    extractor.kind(kind);
    let seq = extractor.extract(hir);
    let literals = seq
        .literals()?
        .iter()
        .map(|literal| match literal.as_bytes() {
            [] => None,
            bytes => String::from_utf8(bytes.to_vec()).ok(),
        })
        .collect::<Option<Vec<String>>>()?;
    (!literals.is_empty()).then_some(literals)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::RegexSet;

    use super::*;

    fn strings(patterns: &[&str]) -> Vec<String> {
        patterns.iter().map(|pattern| pattern.to_string()).collect()
    }

    #[test]
    fn prefixes_or_suffixes_of_every_expression() {
        let literals = required_literals(&strings(&[r"/dev/(tcp|udp)/[^/\s]+/[0-9]+", r"\bztcp\s+\S+"]));
        assert_eq!(literals, Some(strings(&["/dev/tcp/", "/dev/udp/", "ztcp"])));
        assert_eq!(
            required_literals(&strings(&[r"[a-z]+\.(pem|key)$"])),
            Some(strings(&[".key", ".pem"])),
            "the suffixes when the prefixes are unbounded"
        );
    }

    #[test]
    fn none_when_an_expression_needs_no_literal() {
        assert_eq!(required_literals(&strings(&["/dev/tcp/", r"^[a-z]+$"])), None);
        assert_eq!(
            required_literals(&strings(&[r"^[0-9]+$"])),
            Some((0..10).map(|digit| digit.to_string()).collect()),
            "a required part: one of its few characters"
        );
        assert_eq!(required_literals(&strings(&["(a|)b*"])), None, "an empty literal");
        assert_eq!(required_literals(&[]), None);
    }

    /// Expressions of the shapes rule packs use, and texts near them.
    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("ab".to_string()),
            Just("b".to_string()),
            Just("[ab]".to_string()),
            Just("[^a]".to_string()),
            Just(".".to_string()),
            Just(r"\b".to_string()),
            Just(r"\s".to_string()),
            Just("^".to_string()),
            Just("$".to_string()),
            Just("(?i)a".to_string()),
            Just("ſ".to_string()),
            Just("(?i)s".to_string()),
        ];
        let piece = (
            atom,
            prop_oneof![Just(""), Just("*"), Just("+"), Just("?"), Just("{2}")],
        )
            .prop_map(|(atom, repeat)| format!("({atom}){repeat}"));
        proptest::collection::vec(proptest::collection::vec(piece, 1..5), 1..3).prop_map(|branches| {
            branches
                .iter()
                .map(|pieces| pieces.concat())
                .collect::<Vec<_>>()
                .join("|")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn a_text_without_the_literals_does_not_match(
            patterns in proptest::collection::vec(pattern(), 1..3),
            text in "[abAsSſ \n-]{0,8}",
        ) {
            let Some(literals) = required_literals(&patterns) else {
                return Ok(());
            };
            let set = RegexSet::new(&patterns).expect("set");
            if set.is_match(&text) {
                prop_assert!(
                    literals.iter().any(|literal| text.contains(literal.as_str())),
                    "{:?} matches {:?} without {:?}", patterns, text, literals
                );
            }
        }
    }
}
