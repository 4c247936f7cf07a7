//! Turning a rule's kernel globs into concrete kernel patterns: `~` becomes every home directory,
//! a `*` directory component becomes every directory that exists there now (so the policy is
//! rebuilt from time to time, see `Enforcer::refresh`).

use std::path::Path;

use crate::rules::kernel_glob::{Anchor, DirStep, KernelGlob, NameTest, Tail, shape};

/// One concrete pattern: a directory (absolute, normalised) and what below it matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    pub dir: String,
    pub tail: Tail,
}

impl Pattern {
    /// The exact path this pattern names, when it names one (`DIR/NAME`).
    pub fn exact_path(&self) -> Option<String> {
        match &self.tail {
            Tail::Child(NameTest::Exact(name)) => Some(join(&self.dir, name)),
            _ => None,
        }
    }
}

/// How `*` directory components are listed (the real filesystem, or a test's stand-in).
pub trait ListDirs {
    /// The names of the directories in `dir` (none when it cannot be read).
    fn subdirectories(&self, dir: &Path) -> Vec<String>;
}

/// Lists directories of the real filesystem.
pub struct Filesystem;

impl ListDirs for Filesystem {
    fn subdirectories(&self, dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

/// The concrete patterns of `glob`, for the home directories `homes`.
pub fn expand(glob: &KernelGlob, homes: &[String], dirs: &dyn ListDirs) -> Vec<Pattern> {
    let bases: Vec<Vec<String>> = match glob.anchor {
        Anchor::Root => vec![Vec::new()],
        Anchor::Home => homes.iter().map(|home| components(home)).collect(),
    };
    let mut out = Vec::new();
    for base in bases {
        let mut parts = base;
        parts.extend(glob.parts.iter().cloned());
        let Ok(shape) = shape(&parts) else {
            continue;
        };
        let mut prefixes = vec![String::from("/")];
        for step in &shape.dirs {
            prefixes = match step {
                DirStep::Literal(name) => prefixes.iter().map(|dir| join(dir, name)).collect(),
                DirStep::AnyName => prefixes
                    .iter()
                    .flat_map(|dir| {
                        dirs.subdirectories(Path::new(dir))
                            .into_iter()
                            .map(|name| join(dir, &name))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            };
        }
        out.extend(prefixes.into_iter().map(|dir| Pattern {
            dir,
            tail: shape.tail.clone(),
        }));
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out.dedup();
    out
}

/// The non-empty components of an absolute path, with `.` dropped and `..` applied.
pub fn components(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_string()),
        }
    }
    out
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Fake(HashMap<&'static str, Vec<&'static str>>);

    impl ListDirs for Fake {
        fn subdirectories(&self, dir: &Path) -> Vec<String> {
            self.0
                .get(dir.to_str().unwrap_or(""))
                .map(|names| names.iter().map(|n| n.to_string()).collect())
                .unwrap_or_default()
        }
    }

    fn glob(text: &str) -> KernelGlob {
        KernelGlob::parse_all(text).unwrap().remove(0)
    }

    #[test]
    fn homes_and_wildcard_directories_are_expanded() {
        let fake = Fake(HashMap::from([("/home", vec!["alice", "bob"])]));
        let homes = vec!["/home/alice".to_string(), "/root".to_string()];
        let found = expand(&glob("~/.ssh/id_*"), &homes, &fake);
        let dirs: Vec<&str> = found.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, vec!["/home/alice/.ssh", "/root/.ssh"]);

        let found = expand(&glob("/home/*/.netrc"), &homes, &fake);
        let exact: Vec<String> = found.iter().filter_map(Pattern::exact_path).collect();
        assert_eq!(exact, vec!["/home/alice/.netrc", "/home/bob/.netrc"]);
    }

    #[test]
    fn a_glob_on_the_home_itself_names_the_home() {
        let found = expand(&glob("~"), &["/home/alice".to_string()], &Fake(HashMap::new()));
        assert_eq!(found[0].exact_path().as_deref(), Some("/home/alice"));
    }
}
