use std::sync::LazyLock;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use proptest::prelude::*;

use super::*;

/// Patterns of every shape the router knows, and of shapes it leaves to a glob set.
const PATTERNS: &[&str] = &[
    "/tmp/**",
    "/etc/shadow",
    "/etc/{shadow,gshadow}",
    "{/home/*,/root}/.ssh/**",
    "/.ssh/id_*",
    "python*",
    "gcc-[0-9]*",
    "node",
    "*.pem",
    "**/*.kdbx",
    "/**/*.kdbx",
    "/**/Login Data",
    "**/node_modules/**",
    "/home/*/**/{Login Data,Cookies}",
    "/etc/letsencrypt/{live,archive}/**/privkey*.pem",
    "/.config/*/**/Local Extension Settings/x/**",
    "/",
    "/**",
    "**",
    "*",
    "",
    "a*b*c",
    "/srv/*/d[ab]*",
    "/srv/[!a]x",
    "/srv/x[+-0]y",
    "/x/a**b",
    "/var/{a,b/**}",
    "/.{bitcoin,litecoin}/{wallet.dat,wallets/**}",
    "known_hosts*",
    "config.*",
    "/run/user/*/**",
    "/usr/lib/llvm-*/**",
    "/a\\*b/c",
    "/a/?/c",
];

/// Components values are built from: the patterns' own pieces and a few others.
const PIECES: &[&str] = &[
    "",
    "tmp",
    "etc",
    "shadow",
    "gshadow",
    "home",
    "root",
    "alice",
    ".ssh",
    "id_rsa",
    "id_",
    "python3.11",
    "python",
    "gcc-12",
    "gcc-",
    "node",
    "key.pem",
    ".pem",
    "x.kdbx",
    "Login Data",
    "Cookies",
    "node_modules",
    "letsencrypt",
    "live",
    "privkey1.pem",
    "privkey.pem",
    ".config",
    "chrome",
    "Local Extension Settings",
    "x",
    "abc",
    "ab",
    "ac",
    "abxc",
    "srv",
    "dab",
    "d",
    "y",
    "x/y",
    "var",
    "a",
    "b",
    ".bitcoin",
    "wallet.dat",
    "wallets",
    "known_hosts",
    "known_hosts.old",
    "config.d",
    "config",
    "run",
    "user",
    "1000",
    "usr",
    "lib",
    "llvm-17",
    "a*b",
    "a?b",
    "c",
    "?",
    "-",
    "a/b",
];

fn glob(pattern: &str) -> globset::Glob {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .expect("glob")
}

fn router(patterns: &[&str]) -> Router {
    let mut builder = RouterBuilder::default();
    for (bit, pattern) in patterns.iter().enumerate() {
        builder.add(pattern, bit as u32);
    }
    builder.build().expect("router")
}

fn bits(router: &Router, value: &str) -> Vec<u32> {
    let mut found = Vec::new();
    router.matches(value, &mut |bit| found.push(bit));
    found.sort_unstable();
    found.dedup();
    found
}

static ROUTER: LazyLock<Router> = LazyLock::new(|| router(PATTERNS));
static REFERENCE: LazyLock<GlobSet> = LazyLock::new(|| {
    let mut builder = GlobSetBuilder::new();
    for pattern in PATTERNS {
        builder.add(glob(pattern));
    }
    builder.build().expect("set")
});

/// The patterns of `PATTERNS` that globset says match `value`.
fn reference(value: &str) -> Vec<u32> {
    REFERENCE.matches(value).into_iter().map(|index| index as u32).collect()
}

#[test]
fn known_shapes_need_no_glob_set() {
    let router = router(&[
        "/tmp/**",
        "{/home/*,/root}/.ssh/**",
        "python*",
        "**/*.kdbx",
        "/**/Login Data",
    ]);
    assert!(
        router
            .nodes
            .iter()
            .all(|node| node.rare.as_ref().is_none_or(|rare| rare.globs.is_empty()))
    );
    assert_eq!(bits(&router, "/tmp/x/y"), [0]);
    assert_eq!(bits(&router, "/tmp"), Vec::<u32>::new());
    assert_eq!(bits(&router, "/home/a/.ssh/id_rsa"), [1]);
    assert_eq!(bits(&router, "python3"), [2]);
    assert_eq!(bits(&router, "/x/y.kdbx"), [3]);
    assert_eq!(bits(&router, "/Login Data"), [4]);
}

#[test]
fn negated_classes_and_double_stars_inside_components_keep_a_glob_set() {
    let router = router(&["/srv/[!a]x", "/x/a**b", "**/node_modules/**"]);
    assert_eq!(
        router
            .nodes
            .iter()
            .filter(|node| node.rare.as_ref().is_some_and(|rare| !rare.globs.is_empty()))
            .count(),
        3
    );
}

#[test]
fn every_fixed_value_matches_as_globset_says() {
    for a in PIECES {
        for value in [a.to_string(), format!("/{a}"), format!("/{a}/"), format!("{a}/x")] {
            assert_eq!(bits(&ROUTER, &value), reference(&value), "{value:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn router_and_globset_agree(parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..7), rooted in any::<bool>()) {
        let value = format!("{}{}", if rooted { "/" } else { "" }, parts.join("/"));
        prop_assert_eq!(bits(&ROUTER, &value), reference(&value), "{:?}", value);
    }
}
