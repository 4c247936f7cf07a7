//! The guest's file tree, assembled in memory before it is written as one cpio archive.
//!
//! Host files keep their paths: adding `/lib64/ld-linux-x86-64.so.2` adds the `/lib64 -> usr/lib64`
//! link, the loader's own link and the file it names, as on the host, so programs and libraries
//! find each other in the guest exactly where they do here.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};

pub enum Node {
    Dir {
        mode: u32,
        owner: u32,
    },
    /// A host file copied as it is.
    File {
        source: PathBuf,
        mode: u32,
    },
    Data {
        bytes: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
}

#[derive(Default)]
pub struct Tree {
    /// Absolute guest paths; `BTreeMap` order puts every directory before what it holds.
    pub nodes: BTreeMap<PathBuf, Node>,
}

/// How many symbolic links one path may go through.
const MAX_LINKS: usize = 40;

impl Tree {
    pub fn dir(&mut self, path: impl AsRef<Path>, mode: u32, owner: u32) {
        let path = path.as_ref();
        self.parents(path);
        self.nodes.insert(path.to_path_buf(), Node::Dir { mode, owner });
    }

    pub fn data(&mut self, path: impl AsRef<Path>, bytes: impl Into<Vec<u8>>, mode: u32) {
        let path = path.as_ref();
        self.parents(path);
        self.nodes.insert(
            path.to_path_buf(),
            Node::Data {
                bytes: bytes.into(),
                mode,
            },
        );
    }

    /// Host file `source` at guest path `path` (a directory on the path must not be a link).
    pub fn file_from(&mut self, path: impl AsRef<Path>, source: impl AsRef<Path>) -> Result<()> {
        let (path, source) = (path.as_ref(), source.as_ref());
        let meta = fs::metadata(source).with_context(|| format!("cannot read {}", source.display()))?;
        self.parents(path);
        self.nodes.insert(
            path.to_path_buf(),
            Node::File {
                source: source.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    pub fn symlink(&mut self, path: impl AsRef<Path>, target: impl AsRef<Path>) {
        let path = path.as_ref();
        self.parents(path);
        self.nodes.insert(
            path.to_path_buf(),
            Node::Symlink {
                target: target.as_ref().to_path_buf(),
            },
        );
    }

    /// True when something is at `path` in the guest, following the guest's links.
    pub fn exists(&self, path: &Path) -> bool {
        self.resolve(path).is_some_and(|path| self.nodes.contains_key(&path))
    }

    /// `path` with every link among its components followed (the last component included).
    pub fn resolve(&self, path: &Path) -> Option<PathBuf> {
        let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
        let mut links = 0;
        'restart: while let Some(path) = pending.pop() {
            let mut resolved = PathBuf::from("/");
            let components: Vec<Component> = path.components().collect();
            for (index, component) in components.iter().enumerate() {
                match component {
                    Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::Normal(name) => {
                        resolved.push(name);
                        if let Some(Node::Symlink { target }) = self.nodes.get(&resolved) {
                            links += 1;
                            if links > MAX_LINKS {
                                return None;
                            }
                            let mut next = resolved.parent().map(Path::to_path_buf).unwrap_or_default();
                            next.push(target);
                            next.extend(&components[index + 1..]);
                            pending.push(next);
                            continue 'restart;
                        }
                    }
                }
            }
            return Some(resolved);
        }
        None
    }

    /// Host path `path` at the same guest path, with every link on the way (in the directories and
    /// at the end) and what the links name.
    pub fn host(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let mut pending = path.as_ref().to_path_buf();
        for _ in 0..MAX_LINKS {
            match self.host_step(&pending)? {
                Some(next) => pending = next,
                None => return Ok(()),
            }
        }
        bail!("too many symbolic links under {}", path.as_ref().display())
    }

    /// Adds `path` up to its first link, or entirely when it has none; returns what the link makes
    /// of the path.
    fn host_step(&mut self, path: &Path) -> Result<Option<PathBuf>> {
        if !path.is_absolute() {
            bail!("{} is not an absolute path", path.display());
        }
        let components: Vec<Component> = path.components().collect();
        let mut resolved = PathBuf::from("/");
        for (index, component) in components.iter().enumerate() {
            match component {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
                Component::ParentDir => {
                    resolved.pop();
                    continue;
                }
                Component::Normal(name) => resolved.push(name),
            }
            let meta =
                fs::symlink_metadata(&resolved).with_context(|| format!("cannot read {}", resolved.display()))?;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&resolved).with_context(|| format!("cannot read {}", resolved.display()))?;
                self.symlink(&resolved, &target);
                let mut next = resolved.parent().map(Path::to_path_buf).unwrap_or_default();
                next.push(&target);
                next.extend(&components[index + 1..]);
                return Ok(Some(next));
            }
            if index + 1 == components.len() {
                if meta.is_dir() {
                    self.dir(&resolved, meta.mode() & 0o7777, 0);
                } else {
                    self.file_from(&resolved, &resolved)?;
                }
            }
        }
        Ok(None)
    }

    /// Host directory `root` and everything under it, at the same guest paths, leaving out the
    /// entries whose name `skip` accepts. Links inside are added with what they name.
    pub fn host_tree(&mut self, root: impl AsRef<Path>, skip: &dyn Fn(&str) -> bool) -> Result<()> {
        let root = root.as_ref();
        self.host(root)?;
        let entries = fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", root.display()))?;
            let name = entry.file_name();
            if skip(&name.to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if kind.is_dir() {
                self.host_tree(&path, skip)?;
            } else {
                self.host(&path)?;
            }
        }
        Ok(())
    }

    /// Adds the missing parent directories of `path` (mode 755, root's).
    fn parents(&mut self, path: &Path) {
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if dir == Path::new("/") || self.nodes.contains_key(dir) {
                break;
            }
            self.nodes
                .insert(dir.to_path_buf(), Node::Dir { mode: 0o755, owner: 0 });
            parent = dir.parent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_guest_tree() {
        let mut tree = Tree::default();
        tree.symlink("/bin", "usr/bin");
        tree.data("/usr/bin/busybox", b"x".to_vec(), 0o755);
        tree.symlink("/usr/bin/sh", "busybox");
        assert!(tree.exists(Path::new("/bin/busybox")));
        assert!(tree.exists(Path::new("/bin/sh")));
        assert!(!tree.exists(Path::new("/bin/ls")));
        assert!(tree.nodes.contains_key(Path::new("/usr")), "parents are added");
    }
}
