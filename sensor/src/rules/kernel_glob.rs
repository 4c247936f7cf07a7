//! Path globs in the shapes the kernel can match (docs/enforcement.md).
//!
//! The kernel judges a path by hashes of its directories plus one name test (exact, `prefix*`,
//! `*suffix`, `prefix*suffix`, at most 16 bytes each side), so a kernel rule's glob, after `{a,b}`
//! alternatives are expanded, must be one of:
//!
//! | shape | example |
//! |---|---|
//! | `DIR/NAME` | `~/.aws/credentials`, `~/.ssh/id_*` |
//! | `DIR/**` | `~/.gnupg/private-keys-v1.d/**` |
//! | `DIR/**/NAME` | `~/.config/google-chrome/**/Login Data` |
//! | `DIR/NAME/**` | `/tmp/go-build*/**` |
//!
//! where `DIR` is absolute or starts with `~` (every home directory), and each of its components
//! is literal or a whole `*` (expanded against the filesystem when the policy is loaded).

use std::fmt;

/// Longest prefix or suffix a kernel name test compares.
pub const NAME_EDGE: usize = sensor_common::policy::NAME_EDGE;
/// Most alternatives one glob may expand to.
const MAX_ALTERNATIVES: usize = 1_024;

/// Where a glob starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// `/`.
    Root,
    /// `~` or `$HOME`: every home directory.
    Home,
}

/// A test of one name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameTest {
    /// Any name (`*`).
    Any,
    Exact(String),
    /// `prefix*suffix` (either may be empty, not both).
    Wildcard {
        prefix: String,
        suffix: String,
    },
}

/// Why a path's components do not fit one of the shapes the kernel matches.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("`{text}`: the kernel compares at most {NAME_EDGE} bytes {side} the `*` ({len} here)")]
    EdgeTooLong {
        text: String,
        side: &'static str,
        len: usize,
    },
    #[error("`{0}`: a name the kernel matches may have one `*` at most")]
    TwoWildcards(String),
    #[error("the root directory itself cannot be matched")]
    Root,
    #[error("`**` is only supported as `DIR/**`, `DIR/**/NAME` or `DIR/NAME/**`")]
    DeepWildcard,
    #[error(
        "directory component `{0}`: a directory is matched whole (`*` or a literal name), except just before a final `/**`"
    )]
    PartialDirectory(String),
}

impl NameTest {
    fn parse(text: &str) -> Result<Self, ShapeError> {
        match text.matches('*').count() {
            0 => Ok(NameTest::Exact(text.to_string())),
            1 => {
                let (prefix, suffix) = text.split_once('*').unwrap_or((text, ""));
                if prefix.is_empty() && suffix.is_empty() {
                    return Ok(NameTest::Any);
                }
                for (part, what) in [(prefix, "before"), (suffix, "after")] {
                    if part.len() > NAME_EDGE {
                        return Err(ShapeError::EdgeTooLong {
                            text: text.to_string(),
                            side: what,
                            len: part.len(),
                        });
                    }
                }
                Ok(NameTest::Wildcard {
                    prefix: prefix.to_string(),
                    suffix: suffix.to_string(),
                })
            }
            _ => Err(ShapeError::TwoWildcards(text.to_string())),
        }
    }

    /// True when `name` passes the test (the userspace twin of the kernel's test).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameTest::Any => true,
            NameTest::Exact(exact) => name == exact,
            NameTest::Wildcard { prefix, suffix } => {
                name.len() >= prefix.len() + suffix.len()
                    && name.starts_with(prefix.as_str())
                    && name.ends_with(suffix.as_str())
            }
        }
    }
}

/// A directory component.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DirStep {
    Literal(String),
    /// `*`: every directory there (listed when the policy is loaded).
    AnyName,
}

/// What a glob matches below its directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tail {
    /// `DIR/NAME`: the child itself.
    Child(NameTest),
    /// `DIR/NAME/**`: anything below a matching child.
    BelowChild(NameTest),
    /// `DIR/**/NAME` (or `DIR/**`): a matching last component anywhere below.
    AnyDepth(NameTest),
}

/// A glob the kernel can match, as written (after `{…}` expansion).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelGlob {
    pub text: String,
    pub anchor: Anchor,
    /// The components after the anchor.
    pub parts: Vec<String>,
}

/// A glob's directory and tail, once its anchor is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub dirs: Vec<DirStep>,
    pub tail: Tail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError(pub String);

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl KernelGlob {
    /// Parses every alternative of `text`; the error explains which shape is missing.
    pub fn parse_all(text: &str) -> Result<Vec<KernelGlob>, GlobError> {
        expand_braces(text)?.iter().map(|one| KernelGlob::parse(one)).collect()
    }

    fn parse(text: &str) -> Result<KernelGlob, GlobError> {
        if let Some(bad) = text.chars().find(|c| matches!(c, '?' | '[' | ']' | '\\')) {
            return Err(GlobError(format!(
                "`{text}`: the kernel does not match `{bad}` in globs; write the names out with {{a,b}}"
            )));
        }
        let (anchor, rest) = if let Some(rest) = text.strip_prefix("~") {
            (Anchor::Home, rest)
        } else if let Some(rest) = text.strip_prefix("$HOME") {
            (Anchor::Home, rest)
        } else if text.starts_with('/') {
            (Anchor::Root, text)
        } else {
            return Err(GlobError(format!(
                "`{text}`: a kernel rule's paths are absolute or start with `~`"
            )));
        };
        if anchor == Anchor::Home && !(rest.is_empty() || rest.starts_with('/')) {
            return Err(GlobError(format!(
                "`{text}`: write `~/…` (other users' homes are `/home/*/…`)"
            )));
        }
        let parts: Vec<String> = rest
            .split('/')
            .filter(|part| !part.is_empty())
            .map(String::from)
            .collect();
        let glob = KernelGlob {
            text: text.to_string(),
            anchor,
            parts,
        };
        // A home is a literal directory: check the shape with a stand-in for it.
        let mut check = match anchor {
            Anchor::Root => Vec::new(),
            Anchor::Home => vec!["home".to_string(), "user".to_string()],
        };
        check.extend(glob.parts.iter().cloned());
        shape(&check).map_err(|problem| GlobError(format!("`{text}`: {problem}")))?;
        Ok(glob)
    }
}

/// The directory steps and tail of an absolute path's components.
pub fn shape(parts: &[String]) -> Result<Shape, ShapeError> {
    let Some((last, before)) = parts.split_last() else {
        return Err(ShapeError::Root);
    };
    let (dir_parts, tail) = if last == "**" {
        match before.split_last() {
            Some((child, dirs)) if child.contains('*') && child != "**" => {
                (dirs, Tail::BelowChild(NameTest::parse(child)?))
            }
            _ => (before, Tail::AnyDepth(NameTest::Any)),
        }
    } else {
        match before.split_last() {
            Some((deep, dirs)) if deep == "**" => (dirs, Tail::AnyDepth(NameTest::parse(last)?)),
            _ => (before, Tail::Child(NameTest::parse(last)?)),
        }
    };
    let mut dirs = Vec::with_capacity(dir_parts.len());
    for part in dir_parts {
        if part == "**" {
            return Err(ShapeError::DeepWildcard);
        }
        if part == "*" {
            dirs.push(DirStep::AnyName);
        } else if part.contains('*') {
            return Err(ShapeError::PartialDirectory(part.clone()));
        } else {
            dirs.push(DirStep::Literal(part.clone()));
        }
    }
    Ok(Shape { dirs, tail })
}

/// Expands `{a,b}` alternatives (nested ones too), like the glob engine does.
pub fn expand_braces(text: &str) -> Result<Vec<String>, GlobError> {
    let Some(open) = text.find('{') else {
        if text.contains('}') {
            return Err(GlobError(format!("`{text}`: `}}` without `{{`")));
        }
        return Ok(vec![text.to_string()]);
    };
    let mut depth = 0usize;
    let mut close = None;
    let mut splits = Vec::new();
    for (index, c) in text[open..].char_indices() {
        let at = open + index;
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(at);
                    break;
                }
            }
            ',' if depth == 1 => splits.push(at),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(GlobError(format!("`{text}`: `{{` without `}}`")));
    };
    let mut bounds = vec![open];
    bounds.extend(splits);
    bounds.push(close);
    let prefix = &text[..open];
    let suffix = &text[close + 1..];
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let choice = &text[pair[0] + 1..pair[1]];
        for expanded in expand_braces(&format!("{prefix}{choice}{suffix}"))? {
            out.push(expanded);
            if out.len() > MAX_ALTERNATIVES {
                return Err(GlobError(format!(
                    "`{text}` expands to more than {MAX_ALTERNATIVES} alternatives"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Vec<String> {
        text.split('/').filter(|p| !p.is_empty()).map(String::from).collect()
    }

    #[test]
    fn braces_expand_in_order_and_nest() {
        assert_eq!(
            expand_braces("~/.{a,b{c,d}}/x").unwrap(),
            vec!["~/.a/x", "~/.bc/x", "~/.bd/x"]
        );
        assert!(expand_braces("~/{a,b").is_err());
    }

    #[test]
    fn shapes() {
        let s = shape(&parts("/home/u/.ssh/id_*")).unwrap();
        assert_eq!(s.dirs.len(), 3);
        assert_eq!(
            s.tail,
            Tail::Child(NameTest::Wildcard {
                prefix: "id_".into(),
                suffix: String::new()
            })
        );
        assert_eq!(shape(&parts("/a/**")).unwrap().tail, Tail::AnyDepth(NameTest::Any));
        assert_eq!(
            shape(&parts("/a/**/Cookies")).unwrap().tail,
            Tail::AnyDepth(NameTest::Exact("Cookies".into()))
        );
        assert_eq!(
            shape(&parts("/tmp/go-build*/**")).unwrap().tail,
            Tail::BelowChild(NameTest::Wildcard {
                prefix: "go-build".into(),
                suffix: String::new()
            })
        );
        assert_eq!(shape(&parts("/home/*/.netrc")).unwrap().dirs[1], DirStep::AnyName);
        assert!(shape(&parts("/a/**/b/c")).is_err());
        assert!(shape(&parts("/a/b*c*d")).is_err());
        assert!(shape(&parts("/a/x*/y")).is_err());
    }

    #[test]
    fn parse_rejects_what_the_kernel_cannot_match() {
        assert!(KernelGlob::parse_all("relative/path").is_err());
        assert!(KernelGlob::parse_all("/etc/ssh/ssh_host_?_key").is_err());
        assert!(KernelGlob::parse_all("~/.ssh/[a-z]*").is_err());
        assert!(KernelGlob::parse_all("~/*/0123456789abcdefXYZ*").is_err());
        let globs = KernelGlob::parse_all("~/.{bashrc,profile}").unwrap();
        assert_eq!(globs.len(), 2);
        assert_eq!(globs[0].anchor, Anchor::Home);
        assert_eq!(globs[0].parts, vec![".bashrc"]);
    }

    #[test]
    fn name_tests_match_like_globs() {
        let test = NameTest::parse("id_*.pub").unwrap();
        assert!(test.matches("id_rsa.pub"));
        assert!(!test.matches("id_rsa"));
        assert!(!NameTest::parse("ab*ba").unwrap().matches("aba"));
    }
}
