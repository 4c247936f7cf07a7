//! Generalising paths to areas, so that file baselines stay small: the directory of the file,
//! relative to the session's workspace (`$WORKSPACE`) or the user's home (`~`) when it lies
//! there, cut to a few levels, with volatile components (process ids, temporary names, hashes)
//! replaced by `*`.
//!
//! `/home/alice/project/src/main.rs` (workspace `/home/alice/project`) → `$WORKSPACE/src`;
//! `/home/alice/.ssh/id_rsa` → `~/.ssh`; `/proc/4242/status` → `/proc/*`;
//! `/tmp/tmp.Xk3b9QaZ1/out.txt` → `/tmp/*`; `/usr/lib/x86_64-linux-gnu/libc.so.6` →
//! `/usr/lib/x86_64-linux-gnu`.

/// Where a path is generalised from.
#[derive(Clone, Copy, Debug)]
pub struct AreaContext<'a> {
    /// The user's home (`~`).
    pub home: Option<&'a str>,
    /// The session's working directory (`$WORKSPACE`).
    pub workspace: Option<&'a str>,
    /// Directory levels kept below `/`, `~` or `$WORKSPACE`.
    pub depth: usize,
}

/// The area of `path`: its directory (or itself when `is_directory`), generalised.
pub fn area(path: &str, is_directory: bool, context: &AreaContext) -> String {
    let directory = if is_directory { path } else { parent(path) };
    let (prefix, rest) = match (
        relative_to(directory, context.workspace),
        relative_to(directory, context.home),
    ) {
        (Some(rest), _) => ("$WORKSPACE", rest),
        (None, Some(rest)) => ("~", rest),
        (None, None) => ("", directory),
    };
    let mut out = String::with_capacity(directory.len().min(128) + prefix.len());
    out.push_str(prefix);
    for component in components(rest).take(context.depth) {
        out.push('/');
        if is_volatile(component) {
            out.push('*');
        } else {
            out.push_str(component);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The components of `path` that are neither empty nor `.` (`path.split('/')` filtered, by a
/// byte scan: most components are short, and every file event's path comes here).
fn components(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
            // `/` is one byte: both sides of it are character boundaries.
            let (component, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or("");
            if !component.is_empty() && component != "." {
                return Some(component);
            }
        }
        None
    })
}

/// The directory part of an absolute path (`/` for files at the root).
fn parent(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    match crate::process::resolve::last_slash(path) {
        Some(0) | None => "/",
        Some(index) => &path[..index],
    }
}

/// `path` below `base` (component-wise), without the leading `/`; `None` when it is not below
/// it. A base of `/` or nothing never matches.
fn relative_to<'p>(path: &'p str, base: Option<&str>) -> Option<&'p str> {
    let base = base?.trim_end_matches('/');
    if base.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// Components that differ from run to run: numbers (process ids, terminals), long hexadecimal
/// strings (hashes), and names with a random-looking part (`tmp.Xk3b9QaZ1`, `.tmpAbC123`,
/// `pip-build-8f3k2j1x`, UUIDs).
pub fn is_volatile(component: &str) -> bool {
    // One pass over the bytes for every test (every path component of every file event comes
    // here); the separators are ASCII, so the segments are those of the text.
    let (mut all_digits, mut hex, mut hex_or_dash) = (true, 0usize, true);
    let (mut segment, mut random) = (Segment::default(), false);
    for b in component.bytes() {
        all_digits &= b.is_ascii_digit();
        if b.is_ascii_hexdigit() {
            hex += 1;
        } else if b != b'-' {
            hex_or_dash = false;
        }
        if matches!(b, b'.' | b'-' | b'_') {
            random |= segment.random_looking();
            segment = Segment::default();
        } else {
            segment.add(b);
        }
    }
    all_digits || (hex >= 12 && hex_or_dash) || random || segment.random_looking()
}

/// The counts of one part of a component between `.`, `-` and `_`.
#[derive(Default)]
struct Segment {
    len: usize,
    digits: usize,
    upper: usize,
    lower: usize,
    other: bool,
}

impl Segment {
    fn add(&mut self, b: u8) {
        self.len += 1;
        match b {
            b'0'..=b'9' => self.digits += 1,
            b'A'..=b'Z' => self.upper += 1,
            b'a'..=b'z' => self.lower += 1,
            _ => self.other = true,
        }
    }

    /// At least six characters mixing letters and digits, with two or more digits or mixed case.
    fn random_looking(&self) -> bool {
        let letters = self.upper + self.lower;
        self.len >= 6
            && !self.other
            && self.digits > 0
            && letters > 0
            && (self.digits >= 2 || (self.upper > 0 && self.lower > 0))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CONTEXT: AreaContext = AreaContext {
        home: Some("/home/alice"),
        workspace: Some("/home/alice/project"),
        depth: 3,
    };

    #[test]
    fn areas_of_common_paths() {
        for (path, directory, expected) in [
            ("/home/alice/project/src/main.rs", false, "$WORKSPACE/src"),
            ("/home/alice/project/Cargo.toml", false, "$WORKSPACE"),
            (
                "/home/alice/project/target/debug/deps/x.rlib",
                false,
                "$WORKSPACE/target/debug/deps",
            ),
            ("/home/alice/.ssh/id_rsa", false, "~/.ssh"),
            ("/home/alice/.cache/pip/http/a/b/c/d", false, "~/.cache/pip/http"),
            ("/proc/4242/status", false, "/proc/*"),
            ("/dev/pts/3", false, "/dev/pts"),
            ("/tmp/tmp.Xk3b9QaZ1/out.txt", false, "/tmp/*"),
            ("/tmp/.tmpAbC123/x", false, "/tmp/*"),
            (
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                false,
                "/usr/lib/x86_64-linux-gnu",
            ),
            ("/usr/lib/python3.12/os.py", false, "/usr/lib/python3.12"),
            ("/etc/passwd", false, "/etc"),
            ("/etc", true, "/etc"),
            ("/vmlinuz", false, "/"),
            ("/home/alice", true, "~"),
            ("/home/alicex/file", false, "/home/alicex"),
            (
                "/var/lib/docker/overlay2/3f4e5d6c7b8a9f0e1d2c3b4a/merged/x",
                false,
                "/var/lib/docker",
            ),
        ] {
            assert_eq!(area(path, directory, &CONTEXT), expected, "{path}");
        }
    }

    #[test]
    fn volatile_components() {
        for volatile in [
            "4242",
            "tmp.Xk3b9QaZ1",
            ".tmpAbC123",
            "3f4e5d6c7b8a9f0e",
            "550e8400-e29b-41d4-a716-446655440000",
            "pip-build-8f3k2j1x",
        ] {
            assert!(is_volatile(volatile), "{volatile}");
        }
        for stable in [
            "python3.12",
            "x86_64-linux-gnu",
            "node_modules",
            "lib64",
            ".config",
            "site-packages",
            "gcc-13",
            "debug",
        ] {
            assert!(!is_volatile(stable), "{stable}");
        }
    }

    /// `is_volatile` as first written: test by test, segment by segment.
    fn volatile_by_parts(component: &str) -> bool {
        let random_looking = |segment: &str| {
            let count = |test: fn(&u8) -> bool| segment.bytes().filter(test).count();
            let (digits, upper, lower) = (
                count(u8::is_ascii_digit),
                count(u8::is_ascii_uppercase),
                count(u8::is_ascii_lowercase),
            );
            segment.len() >= 6
                && segment.bytes().all(|b| b.is_ascii_alphanumeric())
                && digits > 0
                && upper + lower > 0
                && (digits >= 2 || (upper > 0 && lower > 0))
        };
        let hex = component.bytes().filter(u8::is_ascii_hexdigit).count();
        component.bytes().all(|b| b.is_ascii_digit())
            || (hex >= 12 && component.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            || component.split(['.', '-', '_']).any(random_looking)
    }

    proptest! {
        #[test]
        fn one_pass_judges_as_the_tests_one_by_one(component in "[0-9a-f-]{8,20}|[0-9a-fA-F._-]{0,20}|[0-9a-zA-Z._é-]{0,20}") {
            prop_assert_eq!(is_volatile(&component), volatile_by_parts(&component));
        }

        #[test]
        fn components_are_the_split_without_empty_and_dot(path in "[/a.é]{0,16}") {
            let expected: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            prop_assert_eq!(components(&path).collect::<Vec<_>>(), expected);
        }

        /// Areas are bounded in depth, hold no empty components, and are stable.
        #[test]
        fn areas_are_bounded(components in proptest::collection::vec("[a-zA-Z0-9._-]{1,12}", 0..12), depth in 0usize..6, directory: bool) {
            let path = format!("/{}", components.join("/"));
            let context = AreaContext { depth, ..CONTEXT };
            let first = area(&path, directory, &context);
            prop_assert_eq!(&first, &area(&path, directory, &context));
            let body = first.trim_start_matches("$WORKSPACE").trim_start_matches('~');
            let levels = body.split('/').filter(|c| !c.is_empty()).count();
            prop_assert!(levels <= depth, "{} has more than {} levels", first, depth);
            prop_assert!(!first.contains("//"), "{}", first);
        }
    }
}
