//! Lexical path resolution: joining a relative path onto the directory it starts from and
//! normalising `.`, `..` and repeated slashes, without touching the filesystem (the process that
//! used the path may be gone, and the filesystem may have changed since).

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

/// Normalises an absolute or relative path lexically.
pub fn normalize(path: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn relative_without_base_stays_relative() {
        assert_eq!(resolve(None, "a/../../b"), "../b");
        assert_eq!(resolve(Some(""), "./"), ".");
    }
}
