//! A session's workspace: the directory it started in, where its own work lies, which rules
//! treat more leniently (`agent_sensor.file.in_workspace`, `agent_sensor.exec.args_outside_workspace`,
//! and the kernel's workspace test).
//!
//! The workspace is never a home directory or `/` itself: an agent started in `~` (or in `/`,
//! `/home`) has no workspace, so the user's documents, dotfiles and other projects stay
//! protected as for any other session, and every path is outside its workspace.

/// The workspace of a session that started in `working_directory`, for a user whose home is
/// `home`: the directory itself, or `None` when it is `/`, the home, a directory above the home
/// (`/home`), `/root`, or a directory directly in `/home` (another account's home).
pub fn of<'a>(working_directory: &'a str, home: Option<&str>) -> Option<&'a str> {
    let dir = trimmed(working_directory);
    if !dir.starts_with('/') || dir == "/" {
        return None;
    }
    if let Some(home) = home.map(trimmed).filter(|home| home.starts_with('/'))
        && (home == dir || home.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')))
    {
        return None;
    }
    let a_home = dir == "/root" || dir == "/home" || dir.strip_prefix("/home/").is_some_and(|name| !name.contains('/'));
    (!a_home).then_some(dir)
}

/// `path` without trailing slashes (`/` stays `/`).
fn trimmed(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/"
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::of;

    #[test]
    fn a_project_is_a_workspace() {
        assert_eq!(
            of("/home/alice/project", Some("/home/alice")),
            Some("/home/alice/project")
        );
        assert_eq!(
            of("/home/alice/project/", Some("/home/alice/")),
            Some("/home/alice/project")
        );
        assert_eq!(of("/opt/app", Some("/root")), Some("/opt/app"));
        assert_eq!(of("/tmp/scratch", None), Some("/tmp/scratch"));
        assert_eq!(of("/srv/data", Some("/srv/data/alice")), None, "above the home");
        assert_eq!(of("/home/alice/project", None), Some("/home/alice/project"));
    }

    #[test]
    fn home_and_root_are_no_workspace() {
        assert_eq!(of("/home/alice", Some("/home/alice")), None);
        assert_eq!(of("/home/alice/", Some("/home/alice")), None);
        assert_eq!(of("/", Some("/home/alice")), None);
        assert_eq!(of("//", None), None);
        assert_eq!(of("/home", Some("/home/alice")), None);
        assert_eq!(of("/root", Some("/root")), None);
        assert_eq!(of("/root", None), None);
        assert_eq!(of("/home/bob", Some("/root")), None, "another account's home");
        assert_eq!(of("/home/bob", None), None);
        assert_eq!(of("/var/lib/alice", Some("/var/lib/alice")), None, "a home elsewhere");
        assert_eq!(of("", Some("/home/alice")), None);
        assert_eq!(of("relative", None), None);
    }
}
