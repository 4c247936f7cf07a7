//! Writing a [`Tree`] as a cpio archive in the "newc" format, the one the kernel unpacks into its
//! initial root file system. Everything belongs to root unless the tree says otherwise.

use std::{
    fs,
    io::{self, Write},
    os::unix::ffi::OsStrExt,
    path::Path,
};

use anyhow::{Context, Result};

use super::tree::{Node, Tree};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

pub fn write(tree: &Tree, out: &mut impl Write) -> Result<()> {
    for (inode, (path, node)) in (1..).zip(&tree.nodes) {
        let name = path.strip_prefix("/").unwrap_or(path);
        let (mode, owner, data): (u32, u32, Vec<u8>) = match node {
            Node::Dir { mode, owner } => (S_IFDIR | mode, *owner, Vec::new()),
            Node::File { source, mode } => (
                S_IFREG | mode,
                0,
                fs::read(source).with_context(|| format!("cannot read {}", source.display()))?,
            ),
            Node::Data { bytes, mode } => (S_IFREG | mode, 0, bytes.clone()),
            Node::Symlink { target } => (S_IFLNK | 0o777, 0, target.as_os_str().as_bytes().to_vec()),
        };
        entry(out, name, inode, mode, owner, &data).context("cannot write the initramfs")?;
    }
    entry(out, Path::new("TRAILER!!!"), 0, 0, 0, &[]).context("cannot write the initramfs")?;
    Ok(())
}

fn entry(out: &mut impl Write, name: &Path, inode: u32, mode: u32, owner: u32, data: &[u8]) -> io::Result<()> {
    let name = name.as_os_str().as_bytes();
    let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
    let size = u32::try_from(data.len()).map_err(|_| io::Error::other("a file of 4 GiB or more"))?;
    let fields = [
        inode,
        mode,
        owner,
        owner,
        nlink,
        0, // mtime
        size,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0, // check
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08X}"));
    }
    out.write_all(header.as_bytes())?;
    out.write_all(name)?;
    out.write_all(&[0])?;
    pad(out, header.len() + name.len() + 1)?;
    out.write_all(data)?;
    pad(out, data.len())
}

/// Zeros up to the next multiple of four.
fn pad(out: &mut impl Write, written: usize) -> io::Result<()> {
    out.write_all(&[0; 3][..(4 - written % 4) % 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_newc_records() {
        let mut tree = Tree::default();
        tree.data("/a", b"hello".to_vec(), 0o644);
        let mut out = Vec::new();
        write(&tree, &mut out).expect("write");
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("a\0") && text.contains("hello") && text.contains("TRAILER!!!\0"));
    }
}
