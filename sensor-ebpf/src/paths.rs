//! Reconstructing the absolute path of a `struct path` from its dentries and mounts.
//!
//! The walk goes from the leaf up to the root of the mount tree, crossing mount points, and writes
//! each component (NUL-terminated) in that order: leaf first. Userspace reverses the components.
//! Writing forward keeps every write at a bounded offset, which is what the verifier needs.
//!
//! A walk can also feed the policy in the same pass ([`Hashing`]): each component's hash (eight
//! bytes at a time, straight from the record) and its first and last bytes go into the per-CPU
//! `PathKey`, and the identity of every directory on the way is looked up in `PROTECTED`, so a
//! protected directory counts whatever it is called now. The path is read once per operation.
//!
//! Each step runs as a `bpf_loop` callback, so the verifier checks one step once instead of every
//! iteration of an unrolled walk.

use aya_ebpf::{cty::c_void, helpers::generated::bpf_loop};
use sensor_common::{
    event::{MAX_PATH_DEPTH, SCRATCH_SIZE, STR_COMPONENTS, STR_MISSING, STR_TRUNCATED, StrRef},
    policy::{IdentityKey, component_finish, component_start, component_step},
};

use crate::{
    bounds::bounded,
    kernel::{read, read_ptr},
    maps::PROTECTED,
    policy::path_key::{Component, PathKey},
    record::Record,
    settings::offset,
};

const WALKING: u32 = 0;
const REACHED_ROOT: u32 = 1;
const STOPPED: u32 = 2;

/// What a walk does besides writing the path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// Only the path.
    None,
    /// Also the components' hashes into the per-CPU `PathKey` (which the caller reset).
    Key,
    /// Also the hashes, and the identities of the directories above the leaf in `PROTECTED`
    /// (their `sets_below` go into `PathKey::identity_sets`).
    KeyAndDirectories,
    /// Like `KeyAndDirectories` for a walk that starts at a directory above the target (the
    /// base of a relative path): every step is a directory above it.
    KeyAndBaseDirectories,
}

#[repr(C)]
struct Walk {
    rec: *mut Record,
    key: *mut PathKey,
    dentry: u64,
    vfsmount: u64,
    mount: u64,
    /// A `Hashing` value. (Eight bytes: the verifier keeps the value of an eight-byte stack
    /// slot, not of a narrower one.)
    hashing: u64,
    /// Non-zero until the first step (the leaf) is taken. (A flag, not a count: the verifier
    /// follows stack values precisely, and a count would make every iteration a new state.)
    at_leaf: u64,
    /// Device of the current mount's filesystem (for identity lookups).
    dev: u32,
    state: u32,
}

/// Appends the components of the `struct path` at `path` to the record.
#[inline(always)]
pub fn append_path(rec: &mut Record, path: u64) -> StrRef {
    append_walk(
        rec,
        read_ptr(path + offset!(path_dentry)),
        read_ptr(path + offset!(path_mnt)),
    )
}

/// Appends the components of the `struct path` at `path`, hashing them into `key` as well.
#[inline(always)]
pub fn append_path_hashed(rec: &mut Record, path: u64, key: &mut PathKey, hashing: Hashing) -> StrRef {
    walk(
        rec,
        read_ptr(path + offset!(path_dentry)).unwrap_or(0),
        read_ptr(path + offset!(path_mnt)).unwrap_or(0),
        key as *mut PathKey,
        hashing,
    )
}

/// Appends the components of `dentry`, a file of the mount `vfsmount` (the directory's mount
/// for a file about to be unlinked).
#[inline(always)]
pub fn append_walk(rec: &mut Record, dentry: Option<u64>, vfsmount: Option<u64>) -> StrRef {
    walk(
        rec,
        dentry.unwrap_or(0),
        vfsmount.unwrap_or(0),
        core::ptr::null_mut(),
        Hashing::None,
    )
}

/// Like `append_walk`, hashing the components into `key`.
#[inline(always)]
pub fn append_walk_hashed(
    rec: &mut Record,
    dentry: Option<u64>,
    vfsmount: Option<u64>,
    key: &mut PathKey,
    hashing: Hashing,
) -> StrRef {
    walk(
        rec,
        dentry.unwrap_or(0),
        vfsmount.unwrap_or(0),
        key as *mut PathKey,
        hashing,
    )
}

/// The walk itself (`dentry` and `vfsmount` 0 when unknown: BPF functions take at most five
/// plain arguments).
#[inline(never)]
fn walk(rec: &mut Record, dentry: u64, vfsmount: u64, key: *mut PathKey, hashing: Hashing) -> StrRef {
    let start = rec.offset();
    if dentry == 0 || vfsmount == 0 {
        return StrRef {
            offset: start as u16,
            len: 0,
            flags: STR_COMPONENTS | STR_MISSING,
            reserved: 0,
        };
    };
    if !key.is_null() {
        let key = unsafe { &mut *key };
        key.scan_count = 0;
    }
    let mut walk = Walk {
        rec: rec as *mut Record,
        key,
        dentry,
        vfsmount,
        mount: vfsmount - offset!(mount_mnt),
        dev: if hashing as u64 >= Hashing::KeyAndDirectories as u64 {
            mount_dev(vfsmount)
        } else {
            0
        },
        state: WALKING,
        hashing: hashing as u64,
        at_leaf: 1,
    };
    unsafe {
        bpf_loop(
            MAX_PATH_DEPTH as u32,
            walk_step as *mut c_void,
            &mut walk as *mut Walk as *mut c_void,
            0,
        );
    }
    let mut flags = STR_COMPONENTS;
    if walk.state != REACHED_ROOT {
        flags |= STR_TRUNCATED;
    }
    if !key.is_null() {
        let key = unsafe { &mut *key };
        if walk.state != REACHED_ROOT {
            key.overflow = 1;
        }
        key.chain_scanned();
    }
    StrRef {
        offset: start as u16,
        len: (rec.offset() - start) as u16,
        flags,
        reserved: 0,
    }
}

/// The device of the filesystem mounted at `vfsmount`.
#[inline(always)]
fn mount_dev(vfsmount: u64) -> u32 {
    read_ptr(vfsmount + offset!(vfsmount_mnt_sb))
        .and_then(|sb| read::<u32>(sb + offset!(sb_s_dev)))
        .unwrap_or(0)
}

/// One step up the tree: returns 1 to stop the loop.
extern "C" fn walk_step(_index: u64, ctx: *mut c_void) -> i64 {
    let walk = unsafe { &mut *(ctx as *mut Walk) };
    let mnt_root = read::<u64>(walk.vfsmount + offset!(vfsmount_mnt_root)).unwrap_or(0);
    if walk.dentry == mnt_root {
        // At the root of this mount: continue from the mount point in the parent mount.
        let parent = read::<u64>(walk.mount + offset!(mount_mnt_parent)).unwrap_or(walk.mount);
        if parent == walk.mount {
            walk.state = REACHED_ROOT;
            return 1;
        }
        let Some(mountpoint) = read_ptr(walk.mount + offset!(mount_mnt_mountpoint)) else {
            walk.state = STOPPED;
            return 1;
        };
        walk.dentry = mountpoint;
        walk.mount = parent;
        walk.vfsmount = parent + offset!(mount_mnt);
        if walk.hashing >= Hashing::KeyAndDirectories as u64 {
            walk.dev = mount_dev(walk.vfsmount);
        }
        return 0;
    }
    let parent = read::<u64>(walk.dentry + offset!(dentry_d_parent)).unwrap_or(walk.dentry);
    if parent == walk.dentry {
        walk.state = REACHED_ROOT;
        return 1;
    }
    let Some(name) = read_ptr(walk.dentry + offset!(dentry_d_name) + offset!(qstr_name)) else {
        walk.state = STOPPED;
        return 1;
    };
    let rec = unsafe { &mut *walk.rec };
    let at = rec.offset();
    if !rec.component(name) {
        walk.state = STOPPED;
        return 1;
    }
    if walk.hashing != Hashing::None as u64 && !walk.key.is_null() {
        let key = unsafe { &mut *walk.key };
        let len = (rec.offset() - at).saturating_sub(1) as u32;
        key.scan_component(hash_component(rec.base(), at as u64, len, key.seed));
        let above_target = walk.hashing == Hashing::KeyAndBaseDirectories as u64
            || (walk.hashing == Hashing::KeyAndDirectories as u64 && walk.at_leaf == 0);
        if above_target {
            key.identity_sets |= protected_below(walk.dentry, walk.dev);
        }
    }
    walk.at_leaf = 0;
    walk.dentry = parent;
    0
}

/// The `sets_below` of the directory `dentry` on device `dev`, when it is protected.
#[inline(always)]
fn protected_below(dentry: u64, dev: u32) -> u64 {
    let Some(inode) = read_ptr(dentry + offset!(dentry_d_inode)) else {
        return 0;
    };
    let Some(ino) = read::<u64>(inode + offset!(inode_i_ino)) else {
        return 0;
    };
    let key = IdentityKey { dev, reserved: 0, ino };
    unsafe { PROTECTED.get(&key) }.map_or(0, |protection| protection.sets_below)
}

#[repr(C)]
struct WordScan {
    buf: u64,
    at: u64,
    len: u64,
    hash: u64,
}

/// The component of `len` bytes at `at` in the record buffer at `buf`: its hash (see
/// `sensor_common::policy::component_hash`), length, and first and last 16 bytes.
#[inline(never)]
pub fn hash_component(buf: u64, at: u64, len: u32, seed: u64) -> Component {
    let mut scan = WordScan {
        buf,
        at,
        len: len as u64,
        hash: component_start(seed),
    };
    unsafe {
        bpf_loop(
            (len as u32).div_ceil(8),
            word_step as *mut c_void,
            &mut scan as *mut WordScan as *mut c_void,
            0,
        );
    }
    let head = [word_at(buf, at), word_at(buf, at + 8)];
    let tail_at = (at + len as u64).wrapping_sub(16);
    let tail = [word_at(buf, tail_at), word_at(buf, tail_at + 8)];
    Component {
        hash: component_finish(scan.hash, len),
        len,
        reserved: 0,
        head,
        tail,
    }
}

extern "C" fn word_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut WordScan) };
    let done = index * 8;
    if done >= scan.len {
        return 1;
    }
    let mut word = word_at(scan.buf, scan.at + done);
    let left = scan.len - done;
    if left < 8 {
        word &= (1u64 << (left * 8)) - 1;
    }
    scan.hash = component_step(scan.hash, word);
    0
}

/// The little-endian word at `offset` of the scratch buffer at `buf` (offsets are bounded so
/// the verifier sees the read stay inside the buffer; records put a fixed part of more than 16
/// bytes before any string, so a tail read never starts before the record).
#[inline(always)]
fn word_at(buf: u64, offset: u64) -> u64 {
    let offset = bounded(offset as usize, SCRATCH_SIZE - 1);
    if offset > SCRATCH_SIZE - 8 {
        return 0;
    }
    unsafe { core::ptr::read_unaligned((buf + offset as u64) as *const u64) }
}
