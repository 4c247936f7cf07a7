//! Lexical path resolution: joining a relative path onto the directory it starts from and
//! normalising `.`, `..` and repeated slashes, without touching the filesystem (the process that
//! used the path may be gone, and the filesystem may have changed since).

/// Where the last `/` of `path` is: a byte scan from the end, cheaper on the short last
/// components of paths than a general reverse search (the engine asks for names per event).
#[inline]
pub fn last_slash(path: &str) -> Option<usize> {
    path.as_bytes().iter().rposition(|&byte| byte == b'/')
}

/// The part of `path` after its last `/` (all of it without one).
#[inline]
pub fn last_component(path: &str) -> &str {
    // A `/` is one byte, so the index after it is a character boundary.
    last_slash(path).map_or(path, |at| &path[at + 1..])
}

/// Joins `path` onto `base` when it is relative, then normalises the result.
///
/// `..` is resolved lexically, which differs from the kernel only when a component before it is a
/// symbolic link; paths of successful opens come from the kernel already resolved.
pub fn resolve(base: Option<&str>, path: &str) -> String {
    if path.starts_with('/') {
        return normalize(path);
    }
    match base {
        Some(base) if !base.is_empty() => {
            let mut joined = String::with_capacity(base.len() + path.len() + 1);
            joined.push_str(base);
            joined.push('/');
            joined.push_str(path);
            normalize(&joined)
        }
        _ => normalize(path),
    }
}

/// What a magic prefix of process `pid`'s own `/proc` entries leads to (see the kernel's
/// `capture::magic`, which splits path arguments the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic<'a> {
    /// `/proc/self/fd/N/rest`, `/dev/fd/N/rest`: relative to descriptor N.
    Fd(&'a str),
    /// `/proc/self/cwd/rest`: relative to the working directory.
    Cwd(&'a str),
    /// `/proc/self/root/rest`: absolute.
    Root(&'a str),
}

/// Splits a magic prefix off `path`, for the process `pid` that used it (`/proc/self`,
/// `/proc/thread-self`, `/proc/<pid>` and `/dev/fd`).
pub fn magic(path: &str, pid: u32) -> Option<Magic<'_>> {
    if let Some(rest) = path.strip_prefix("/dev/fd/") {
        return descriptor(rest);
    }
    let rest = path.strip_prefix("/proc/")?;
    let own = pid.to_string();
    let after = rest
        .strip_prefix("self/")
        .or_else(|| rest.strip_prefix("thread-self/"))
        .or_else(|| rest.strip_prefix(own.as_str()).and_then(|tail| tail.strip_prefix('/')))?;
    if let Some(tail) = after.strip_prefix("fd/") {
        return descriptor(tail);
    }
    if let Some(tail) = after.strip_prefix("cwd") {
        return match tail {
            "" => Some(Magic::Cwd("")),
            _ => tail.strip_prefix('/').map(Magic::Cwd),
        };
    }
    if let Some(tail) = after.strip_prefix("root") {
        return (tail.is_empty() || tail.starts_with('/')).then_some(Magic::Root(tail));
    }
    None
}

/// `N/rest` or `N`: descriptor N's `rest`.
fn descriptor(rest: &str) -> Option<Magic<'_>> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    match &rest[digits..] {
        "" => Some(Magic::Fd("")),
        tail => tail.strip_prefix('/').map(Magic::Fd),
    }
}

/// Resolves a path argument of process `pid` as the kernel reported it: `base` is the directory
/// it starts from (for a relative path, or the one behind a magic prefix).
pub fn resolve_argument(base: Option<&str>, path: &str, pid: u32) -> String {
    match magic(path, pid) {
        Some(Magic::Root(rest)) if magic(rest, pid).is_some() => resolve_argument(base, rest, pid),
        Some(Magic::Root(rest)) => normalize(if rest.is_empty() { "/" } else { rest }),
        Some(Magic::Fd(rest) | Magic::Cwd(rest)) => match base {
            Some(base) => resolve(Some(base), rest),
            None => normalize(path),
        },
        None => resolve(base, path),
    }
}

/// Normalises an absolute or relative path lexically.
pub fn normalize(path: &str) -> String {
    if is_normal(path) {
        return path.to_owned();
    }
    normalize_lexically(path)
}

/// `normalize` component by component.
fn normalize_lexically(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// True for an absolute path `normalize` gives back unchanged: `/` and then components that are
/// neither empty (`//`, a trailing `/`) nor `.` or `..` (most paths the kernel reports).
fn is_normal(path: &str) -> bool {
    path.as_bytes().strip_prefix(b"/").is_some_and(|rest| {
        rest.split(|&b| b == b'/')
            .all(|part| !part.is_empty() && part != b"." && part != b"..")
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn last_component_is_what_follows_the_last_slash(path in "[/a-zé.]{0,12}") {
            prop_assert_eq!(last_component(&path), path.rsplit('/').next().unwrap_or(&path));
            prop_assert_eq!(last_slash(&path), path.rfind('/'));
        }

        #[test]
        fn the_shortcut_for_normal_paths_changes_nothing(path in "[/a.é]{0,16}") {
            prop_assert_eq!(normalize(&path), normalize_lexically(&path));
        }
    }

    #[test]
    fn joins_relative_paths_onto_their_base() {
        assert_eq!(
            resolve(Some("/home/dev/project"), "src/main.rs"),
            "/home/dev/project/src/main.rs"
        );
        assert_eq!(resolve(Some("/home/dev/project/"), "./a"), "/home/dev/project/a");
        assert_eq!(resolve(Some("/"), "etc/passwd"), "/etc/passwd");
    }

    #[test]
    fn keeps_absolute_paths_and_normalises_them() {
        assert_eq!(resolve(Some("/tmp"), "/etc//ssh/./sshd_config"), "/etc/ssh/sshd_config");
        assert_eq!(resolve(None, "/a/b/../c"), "/a/c");
    }

    #[test]
    fn dot_dot_never_climbs_above_root() {
        assert_eq!(resolve(Some("/home/dev"), "../../../../etc/shadow"), "/etc/shadow");
        assert_eq!(normalize("/.."), "/");
    }

    #[test]
    fn magic_prefixes_of_the_process_itself_lead_to_their_directory() {
        let fd = resolve_argument(Some("/home/dev"), "/proc/self/fd/10/.profile.tmp.1.ab", 42);
        assert_eq!(fd, "/home/dev/.profile.tmp.1.ab");
        assert_eq!(resolve_argument(Some("/work"), "/dev/fd/3/a/../b", 42), "/work/b");
        assert_eq!(resolve_argument(Some("/work"), "/proc/42/cwd/x", 42), "/work/x");
        assert_eq!(
            resolve_argument(None, "/proc/self/root/home/u/.ssh/id_rsa", 42),
            "/home/u/.ssh/id_rsa"
        );
        assert_eq!(
            resolve_argument(Some("/d"), "/proc/thread-self/root/proc/self/fd/4/k", 42),
            "/d/k"
        );
        // Another process's entries are not followed (the kernel cannot either).
        assert_eq!(resolve_argument(None, "/proc/43/cwd/x", 42), "/proc/43/cwd/x");
        assert_eq!(resolve_argument(Some("/w"), "rel", 42), "/w/rel");
    }

    #[test]
    fn relative_without_base_stays_relative() {
        assert_eq!(resolve(None, "a/../../b"), "../b");
        assert_eq!(resolve(Some(""), "./"), ".");
    }
}
