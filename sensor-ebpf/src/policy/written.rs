//! The files each session opened for writing, so exec rules can tell "a file this session wrote"
//! (a download, a payload dropped in /tmp). Remembered by inode, which survives renames and
//! hard links, and by path hash, for the tracepoint fallback that only has the path of a script.

use aya_ebpf::{macros::map, maps::LruHashMap};

use crate::{
    kernel::{read, read_ptr},
    settings::offset,
};

const BY_INODE: u32 = 1;
const BY_PATH: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct WrittenKey {
    pub session: u64,
    pub kind: u32,
    /// The device of the inode (`BY_INODE`).
    pub dev: u32,
    /// The inode number, or the path hash.
    pub value: u64,
}

/// Files each session opened for writing.
#[map]
pub static WRITTEN: LruHashMap<WrittenKey, u64> = LruHashMap::with_max_entries(65_536, 0);

/// The device and inode number of a `struct file`.
#[inline(always)]
pub fn inode_of(file: u64) -> Option<(u32, u64)> {
    let inode = read_ptr(file + offset!(file_f_inode))?;
    let ino = read::<u64>(inode + offset!(inode_i_ino))?;
    let sb = read_ptr(inode + offset!(inode_i_sb))?;
    let dev = read::<u32>(sb + offset!(sb_s_dev))?;
    Some((dev, ino))
}

#[inline(always)]
fn inode_key(session: u64, file: u64) -> Option<WrittenKey> {
    let (dev, ino) = inode_of(file)?;
    Some(WrittenKey {
        session,
        kind: BY_INODE,
        dev,
        value: ino,
    })
}

#[inline(always)]
fn path_key(session: u64, hash: u64) -> WrittenKey {
    WrittenKey {
        session,
        kind: BY_PATH,
        dev: 0,
        value: hash,
    }
}

/// Adds `key`, unless it is there already: an update of a present key in an LRU map still takes
/// a free node and swaps it in, while a lookup only marks the node as used (which keeps it from
/// eviction just as well). Files are written again and again; the first time is rare.
#[inline(always)]
fn add(key: &WrittenKey) {
    if unsafe { WRITTEN.get(key) }.is_none() {
        let _ = WRITTEN.insert(key, &1, 0);
    }
}

/// Remembers that `session` opened `file` (and, when known, the path with hash `path`) for writing.
#[inline(always)]
pub fn remember(session: u64, file: u64, path: Option<u64>) {
    if let Some(key) = inode_key(session, file) {
        add(&key);
    }
    if let Some(hash) = path {
        add(&path_key(session, hash));
    }
}

/// Remembers that `session` wrote the file with path hash `hash`.
#[inline(always)]
pub fn remember_path(session: u64, hash: u64) {
    add(&path_key(session, hash));
}

#[inline(always)]
pub fn file_written(session: u64, file: u64) -> bool {
    inode_key(session, file).is_some_and(|key| unsafe { WRITTEN.get(&key) }.is_some())
}

#[inline(always)]
pub fn path_written(session: u64, hash: u64) -> bool {
    unsafe { WRITTEN.get(&path_key(session, hash)) }.is_some()
}
