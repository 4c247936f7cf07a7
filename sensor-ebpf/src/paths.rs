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
//! iteration of an unrolled walk. A step costs one read of the dentry (parent, name and inode
//! together) and one of its name; the mount's root is read once per mount.

use aya_ebpf::{
    cty::c_void,
    helpers::generated::{self, bpf_loop},
    macros::map,
    maps::PerCpuArray,
};
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

impl Hashing {
    /// A keyed mode from its number (a global BPF function's argument): `Key` unless it names
    /// one of the modes that also look directories up.
    #[inline(always)]
    pub fn from_bits(bits: u64) -> Self {
        if bits == Self::KeyAndDirectories as u64 {
            Self::KeyAndDirectories
        } else if bits == Self::KeyAndBaseDirectories as u64 {
            Self::KeyAndBaseDirectories
        } else {
            Self::Key
        }
    }
}

/// What a walk carries from step to step. It lives per CPU in map memory, not on the stack: the
/// open's call chain (exit program, record, walk, step, component hash) already uses the 512
/// bytes the verifier allows, and map memory is free. The verifier does not track map memory
/// either, so each step is checked once with unknown values (see `record`).
#[repr(C)]
struct WalkState {
    dentry: u64,
    vfsmount: u64,
    /// The `struct mount` around `vfsmount`.
    mount: u64,
    /// The root dentry of the current mount: read when the walk enters a mount, not at every step.
    mnt_root: u64,
    /// A `Hashing` value.
    hashing: u64,
    /// Non-zero until the first step (the leaf) is taken.
    at_leaf: u64,
    /// Device of the current mount's filesystem (for identity lookups).
    dev: u32,
    state: u32,
    /// The current dentry's parent, name and inode (see `read_dentry`).
    parent: u64,
    name: u64,
    inode: u64,
    /// Non-zero when `d_name.name` and `d_inode` lie in the span from `d_parent` (as in every
    /// kernel the sensor knows): then one read per step fetches all three, else three reads.
    one_read: u64,
    /// Where `d_name.name` and `d_inode` are in the span, in words.
    name_word: u64,
    inode_word: u64,
    /// The words of `struct dentry` from `d_parent` on, copied in one read.
    span: [u64; SPAN_WORDS],
}

/// Words of `struct dentry` copied per step: `d_parent`, `d_name` (hash and length, then the name
/// pointer) and `d_inode` follow each other.
const SPAN_WORDS: usize = 4;

/// Per-CPU state of the walk under way.
#[map]
static WALK: PerCpuArray<WalkState> = PerCpuArray::with_max_entries(1, 0);

/// The `bpf_loop` context of a walk: its callback's context must point to the stack, so the
/// pointers live here (a spilled pointer keeps its type; one stored in map memory would not).
#[repr(C)]
struct Walk {
    rec: *mut Record,
    key: *mut PathKey,
    state: *mut WalkState,
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
    let Some(state) = WALK.get_ptr_mut(0) else {
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
    {
        let state = unsafe { &mut *state };
        state.dentry = dentry;
        state.vfsmount = vfsmount;
        state.mount = vfsmount - offset!(mount_mnt);
        state.mnt_root = mount_root(vfsmount);
        state.hashing = hashing as u64;
        state.at_leaf = 1;
        state.dev = if hashing as u64 >= Hashing::KeyAndDirectories as u64 {
            mount_dev(vfsmount)
        } else {
            0
        };
        state.state = WALKING;
        let name_at = (offset!(dentry_d_name) + offset!(qstr_name)).wrapping_sub(offset!(dentry_d_parent));
        let inode_at = offset!(dentry_d_inode).wrapping_sub(offset!(dentry_d_parent));
        let span = (SPAN_WORDS * 8) as u64;
        state.one_read = (name_at < span && inode_at < span && (name_at | inode_at) % 8 == 0) as u64;
        state.name_word = name_at / 8;
        state.inode_word = inode_at / 8;
    }
    let mut walk = Walk {
        rec: rec as *mut Record,
        key,
        state,
    };
    unsafe {
        bpf_loop(
            MAX_PATH_DEPTH as u32,
            walk_step as *mut c_void,
            &mut walk as *mut Walk as *mut c_void,
            0,
        );
    }
    let reached_root = unsafe { (*state).state } == REACHED_ROOT;
    let mut flags = STR_COMPONENTS;
    if !reached_root {
        flags |= STR_TRUNCATED;
    }
    if !key.is_null() {
        let key = unsafe { &mut *key };
        if !reached_root {
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

/// The root dentry of the filesystem mounted at `vfsmount` (0 when unreadable: no dentry is 0,
/// so the walk then never sees a mount root and goes on through the dentries).
#[inline(always)]
fn mount_root(vfsmount: u64) -> u64 {
    read::<u64>(vfsmount + offset!(vfsmount_mnt_root)).unwrap_or(0)
}

/// Reads the parent, name and inode of `dentry` into the state (one read when they share the
/// span, see `WalkState::one_read`). An unreadable parent is the dentry itself: the walk ends
/// there, as at a root, before it looks at the name or inode. An unreadable name or inode is 0.
#[inline(always)]
fn read_dentry(state: &mut WalkState, dentry: u64) {
    let at = dentry + offset!(dentry_d_parent);
    if state.one_read != 0 {
        let copied = unsafe {
            generated::bpf_probe_read_kernel(
                state.span.as_mut_ptr() as *mut c_void,
                (SPAN_WORDS * 8) as u32,
                at as *const c_void,
            )
        };
        if copied < 0 {
            state.parent = dentry;
            return;
        }
        // The indexes are masked: the verifier knows nothing of values in map memory.
        state.parent = state.span[0];
        state.name = state.span[(state.name_word & (SPAN_WORDS as u64 - 1)) as usize];
        state.inode = state.span[(state.inode_word & (SPAN_WORDS as u64 - 1)) as usize];
        return;
    }
    state.parent = read::<u64>(at).unwrap_or(dentry);
    state.name = read::<u64>(dentry + offset!(dentry_d_name) + offset!(qstr_name)).unwrap_or(0);
    state.inode = read::<u64>(dentry + offset!(dentry_d_inode)).unwrap_or(0);
}

/// One step up the tree: returns 1 to stop the loop.
extern "C" fn walk_step(_index: u64, ctx: *mut c_void) -> i64 {
    let walk = unsafe { &mut *(ctx as *mut Walk) };
    let state = unsafe { &mut *walk.state };
    if state.dentry == state.mnt_root {
        // At the root of this mount: continue from the mount point in the parent mount.
        let parent = read::<u64>(state.mount + offset!(mount_mnt_parent)).unwrap_or(state.mount);
        if parent == state.mount {
            state.state = REACHED_ROOT;
            return 1;
        }
        let Some(mountpoint) = read_ptr(state.mount + offset!(mount_mnt_mountpoint)) else {
            state.state = STOPPED;
            return 1;
        };
        state.dentry = mountpoint;
        state.mount = parent;
        state.vfsmount = parent + offset!(mount_mnt);
        state.mnt_root = mount_root(state.vfsmount);
        if state.hashing >= Hashing::KeyAndDirectories as u64 {
            state.dev = mount_dev(state.vfsmount);
        }
        return 0;
    }
    let dentry = state.dentry;
    read_dentry(state, dentry);
    if state.parent == state.dentry {
        state.state = REACHED_ROOT;
        return 1;
    }
    if state.name == 0 {
        state.state = STOPPED;
        return 1;
    }
    let rec = unsafe { &mut *walk.rec };
    let at = rec.offset();
    if !rec.component(state.name) {
        state.state = STOPPED;
        return 1;
    }
    if state.hashing != Hashing::None as u64 && !walk.key.is_null() {
        let key = unsafe { &mut *walk.key };
        let len = (rec.offset() - at).saturating_sub(1) as u32;
        key.scan_component(hash_component(rec.base(), at as u64, len, key.seed));
        let above_target = state.hashing == Hashing::KeyAndBaseDirectories as u64
            || (state.hashing == Hashing::KeyAndDirectories as u64 && state.at_leaf == 0);
        if above_target {
            key.identity_sets |= protected_below(state.inode, state.dev);
        }
    }
    state.at_leaf = 0;
    state.dentry = state.parent;
    0
}

/// The `sets_below` of the directory whose inode is `inode`, on device `dev`, when it is
/// protected.
#[inline(always)]
fn protected_below(inode: u64, dev: u32) -> u64 {
    if inode == 0 {
        return 0;
    }
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
/// `sensor_common::policy::component_hash`), length, and first and last 16 bytes. The first two
/// words of the hash are the head's; only a name longer than 16 bytes needs a loop for the rest.
#[inline(never)]
pub fn hash_component(buf: u64, at: u64, len: u32, seed: u64) -> Component {
    let len = len as u64;
    let mut hash = component_start(seed);
    if len > 0 {
        hash = component_step(hash, word_prefix(word_at(buf, at), len));
    }
    if len > 8 {
        hash = component_step(hash, word_prefix(word_at(buf, at + 8), len - 8));
    }
    if len > 16 {
        let mut scan = WordScan {
            buf,
            at: at + 16,
            len: len - 16,
            hash,
        };
        unsafe {
            bpf_loop(
                ((len - 16) as u32).div_ceil(8),
                word_step as *mut c_void,
                &mut scan as *mut WordScan as *mut c_void,
                0,
            );
        }
        hash = scan.hash;
    }
    // Read after the loop (again, for the first two words): values kept across it would take
    // stack, and this frame is on the open's call chain, at the verifier's limit.
    let head = [word_at(buf, at), word_at(buf, at + 8)];
    let tail_at = (at + len).wrapping_sub(16);
    let tail = [word_at(buf, tail_at), word_at(buf, tail_at + 8)];
    Component {
        hash: component_finish(hash, len as u32),
        len: len as u32,
        reserved: 0,
        head,
        tail,
    }
}

/// The first `left` bytes of `word` (all of it when `left` is 8 or more), zero-padded.
#[inline(always)]
fn word_prefix(word: u64, left: u64) -> u64 {
    if left < 8 {
        word & ((1u64 << (left * 8)) - 1)
    } else {
        word
    }
}

extern "C" fn word_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut WordScan) };
    let done = index * 8;
    if done >= scan.len {
        return 1;
    }
    let word = word_at(scan.buf, scan.at + done);
    scan.hash = component_step(scan.hash, word_prefix(word, scan.len - done));
    0
}

/// The little-endian word at `offset` of the scratch buffer at `buf` (offsets are bounded so
/// the verifier sees the read stay inside the buffer; records put a fixed part of more than 16
/// bytes before any string, so a tail read never starts before the record). Built from the one
/// or two aligned words it overlaps: an unaligned load compiles to eight byte loads and shifts.
/// Names lie below `SCRATCH_HALF` plus one component, far from the end the bound cuts off.
#[inline(always)]
fn word_at(buf: u64, offset: u64) -> u64 {
    let offset = bounded(offset as usize, SCRATCH_SIZE - 1);
    // The bound is checked on the aligned offset itself, the value the verifier sees added to
    // the pointer. (The scratch buffer is a map value: eight-byte aligned.)
    let aligned = offset & !7;
    if aligned > SCRATCH_SIZE - 16 {
        return 0;
    }
    let words = (buf + aligned as u64) as *const u64;
    let low = unsafe { *words };
    let shift = (offset & 7) as u64 * 8;
    if shift == 0 {
        return low;
    }
    let high = unsafe { *words.add(1) };
    (low >> shift) | (high << (64 - shift))
}
