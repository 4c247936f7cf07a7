//! The prefix hashes of a path (see `sensor_common::policy`), computed from what the capture code
//! produces: the components of a dentry walk (hashed by the walk itself, see `paths`) and path
//! strings as a caller gave them (resolved against a directory's components). Each component
//! also keeps its hash, length and first and last 16 bytes, for name patterns.
//!
//! Byte scans run as `bpf_loop` callbacks, so the verifier checks one step, not every iteration.

use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_probe_read_kernel, generated::bpf_loop},
    macros::map,
    maps::PerCpuArray,
};
use sensor_common::{
    event::{MAX_COMPONENT, MAX_PATH_DEPTH, SCRATCH_SIZE, StrRef},
    maps::Counter,
    policy::{MAX_HASH_DEPTH, component_finish, component_start, component_step, path_child, path_root},
};

use crate::{bounds::bounded, counters::count, record::Record};

const PREFIX_SLOTS: usize = 128;
const PART_SLOTS: usize = 128;
const SCANNED_SLOTS: usize = 64;

/// One path component, as name patterns see it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Component {
    pub hash: u64,
    pub len: u32,
    pub reserved: u32,
    /// The first 16 bytes and the last 16 (right-aligned), as little-endian words.
    pub head: [u64; 2],
    pub tail: [u64; 2],
}

/// A path as the policy sees it.
#[repr(C)]
pub struct PathKey {
    /// Number of components: `prefixes[depth]` is the hash of the whole path.
    pub depth: u32,
    /// The path went deeper than the policy hashes, or its components were cut.
    pub overflow: u32,
    pub seed: u64,
    /// Loop state of the scans below. It lives in map memory, not on the stack, on purpose: the
    /// verifier does not track map memory, so it checks a scan's step once instead of following
    /// every value of a counter (see `record`).
    scan_start: u64,
    scan_len: u64,
    scan_hash: u64,
    scan_at: u64,
    scan_word: u64,
    scan_pos: u32,
    /// Components scanned by a walk so far (leaf first), before they are chained.
    pub scan_count: u32,
    scan_dots: u32,
    reserved: u32,
    /// Path sets found by `path_sets`.
    pub sets: u64,
    /// Path sets found by identity: protected directories above the path (`sets_below`) and the
    /// file itself (`sets_self`), whatever they are called.
    pub identity_sets: u64,
    /// `prefixes[k]`: hash of the first `k` components (`prefixes[0]` is `/`).
    pub prefixes: [u64; PREFIX_SLOTS],
    /// `parts[k]`: the `k`th component (1-based).
    pub parts: [Component; PART_SLOTS],
    /// Components of a leaf-first walk, before they are chained.
    scanned: [Component; SCANNED_SLOTS],
}

/// Per-CPU path hashes of the operation being judged.
#[map]
pub static PATH_KEY: PerCpuArray<PathKey> = PerCpuArray::with_max_entries(1, 0);

impl PathKey {
    /// The per-CPU key, reset to `/`.
    #[inline(always)]
    pub fn root(seed: u64) -> Option<&'static mut PathKey> {
        let key = unsafe { &mut *PATH_KEY.get_ptr_mut(0)? };
        key.depth = 0;
        key.seed = seed;
        key.overflow = 0;
        key.scan_count = 0;
        key.identity_sets = 0;
        key.prefixes[0] = path_root(seed);
        Some(key)
    }

    /// The per-CPU key as it is (its path built by an earlier step).
    #[inline(always)]
    pub fn current() -> Option<&'static mut PathKey> {
        Some(unsafe { &mut *PATH_KEY.get_ptr_mut(0)? })
    }

    /// Hash of the whole path.
    #[inline(always)]
    pub fn full(&self) -> u64 {
        self.prefix(self.depth)
    }

    /// Hash of the first `depth` components.
    #[inline(always)]
    pub fn prefix(&self, depth: u32) -> u64 {
        self.prefixes[bounded(depth as usize, PREFIX_SLOTS - 1)]
    }

    /// The `depth`th component (1-based).
    #[inline(always)]
    pub fn part(&self, depth: u32) -> &Component {
        &self.parts[bounded(depth as usize, PART_SLOTS - 1)]
    }

    /// The last component's hash (0 for `/`).
    #[inline(always)]
    pub fn leaf_hash(&self) -> u64 {
        if self.depth == 0 { 0 } else { self.part(self.depth).hash }
    }

    /// True when the path is the directory with this hash and depth, or lies below it.
    #[inline(always)]
    pub fn is_below(&self, hash: u64, depth: u32) -> bool {
        depth <= self.depth && self.prefix(depth) == hash
    }

    #[inline(always)]
    fn push(&mut self, component: &Component) {
        if self.depth as usize >= MAX_HASH_DEPTH {
            self.overflow = 1;
            return;
        }
        let parent = self.prefix(self.depth);
        self.depth += 1;
        let depth = self.depth as usize;
        self.prefixes[bounded(depth, PREFIX_SLOTS - 1)] = path_child(parent, component.hash);
        self.parts[bounded(depth, PART_SLOTS - 1)] = *component;
    }

    #[inline(always)]
    fn pop(&mut self) {
        if self.depth > 0 {
            self.depth -= 1;
        }
    }

    /// Records one component of a leaf-first walk (see `paths`); `chain_scanned` pushes them.
    #[inline(always)]
    pub fn scan_component(&mut self, component: Component) {
        let count = self.scan_count;
        if count as usize >= SCANNED_SLOTS {
            self.overflow = 1;
            return;
        }
        self.scanned[bounded(count as usize, SCANNED_SLOTS - 1)] = component;
        self.scan_count = count + 1;
    }

    /// Pushes the components a walk scanned, root first.
    #[inline(never)]
    pub fn chain_scanned(&mut self) {
        let mut scan = Scan {
            key: self as *mut PathKey,
            buf: 0,
        };
        unsafe {
            bpf_loop(
                MAX_PATH_DEPTH as u32,
                chain_step as *mut c_void,
                &mut scan as *mut Scan as *mut c_void,
                0,
            );
        }
        self.scan_count = 0;
        if self.overflow != 0 {
            count_overflow();
        }
    }

    /// Appends a path string held in `rec` at `s`, as `openat(2)` would resolve it from the
    /// path already in the key: an absolute string starts again from `/`, `.` stays, `..` goes up
    /// (symbolic links are not followed: the kernel resolves those when the call runs).
    #[inline(never)]
    pub fn push_string(&mut self, rec: &Record, s: StrRef) {
        if s.len > 0 && rec.byte_at(s.offset as usize) == b'/' {
            self.depth = 0;
        }
        self.scan_start = s.offset as u64;
        self.scan_len = s.len as u64;
        self.scan_hash = component_start(self.seed);
        self.scan_word = 0;
        self.scan_pos = 0;
        self.scan_dots = 0;
        self.scan_at = s.offset as u64;
        let mut scan = Scan {
            key: self as *mut PathKey,
            buf: rec.base(),
        };
        unsafe {
            bpf_loop(
                (SCRATCH_SIZE / 2) as u32,
                string_step as *mut c_void,
                &mut scan as *mut Scan as *mut c_void,
                0,
            );
        }
        if self.overflow != 0 {
            count_overflow();
        }
    }
}

#[inline(never)]
fn count_overflow() {
    count(Counter::PolicyDepth);
}

/// The component of `len` bytes at `offset` in the scratch buffer at `buf`, with hash `hash`.
/// (Offsets are masked into the buffer so the verifier can bound the addresses; records put a
/// fixed part of more than 16 bytes before any string, so the tail read never starts before the
/// buffer.)
#[inline(always)]
fn component_at(buf: u64, offset: u64, len: u32, hash: u64) -> Component {
    let mask = SCRATCH_SIZE as u64 - 1;
    let len = len & (MAX_COMPONENT as u32 - 1);
    let head_at = buf + (offset & mask);
    let tail_at = buf + ((offset + len as u64).wrapping_sub(16) & mask);
    let head = unsafe { bpf_probe_read_kernel(head_at as *const [u64; 2]) }.unwrap_or([0; 2]);
    // The 16 bytes ending where the name ends; for a short name, the bytes before it are whatever
    // precedes it in the buffer, which suffix masks never look at (a suffix is at most as long
    // as the name).
    let tail = unsafe { bpf_probe_read_kernel(tail_at as *const [u64; 2]) }.unwrap_or([0; 2]);
    Component {
        hash,
        len,
        reserved: 0,
        head,
        tail,
    }
}

/// What every scan step needs besides the key's loop state: never changes during a scan.
#[repr(C)]
struct Scan {
    key: *mut PathKey,
    buf: u64,
}

#[inline(always)]
fn byte_at(buf: u64, offset: u64) -> u8 {
    unsafe { *((buf + (offset & (SCRATCH_SIZE as u64 - 1))) as *const u8) }
}

/// Pushes the scanned components root first (they were scanned leaf first).
extern "C" fn chain_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut Scan) };
    let key = unsafe { &mut *scan.key };
    let count = key.scan_count as u64;
    if index >= count || index >= MAX_PATH_DEPTH as u64 {
        return 1;
    }
    let component = key.scanned[bounded((count - 1 - index) as usize, SCANNED_SLOTS - 1)];
    key.push(&component);
    0
}

/// One byte of a path string (and one past its end, which ends the last component).
extern "C" fn string_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut Scan) };
    let key = unsafe { &mut *scan.key };
    if index > key.scan_len {
        return 1;
    }
    let offset = key.scan_start + index;
    let byte = if index == key.scan_len {
        b'/'
    } else {
        byte_at(scan.buf, offset)
    };
    if byte != b'/' {
        let pos = key.scan_pos;
        if pos == 0 {
            key.scan_at = offset;
        }
        key.scan_word |= (byte as u64) << ((pos & 7) * 8);
        key.scan_pos = pos + 1;
        if key.scan_pos & 7 == 0 {
            key.scan_hash = component_step(key.scan_hash, key.scan_word);
            key.scan_word = 0;
        }
        if byte == b'.' {
            key.scan_dots += 1;
        }
        return 0;
    }
    let pos = key.scan_pos;
    let dots = key.scan_dots;
    if pos == 2 && dots == 2 {
        key.pop();
    } else if pos > 0 && !(pos == 1 && dots == 1) {
        if pos & 7 != 0 {
            key.scan_hash = component_step(key.scan_hash, key.scan_word);
        }
        let hash = component_finish(key.scan_hash, pos);
        let component = component_at(scan.buf, key.scan_at, pos, hash);
        key.push(&component);
    }
    key.scan_hash = component_start(key.seed);
    key.scan_word = 0;
    key.scan_pos = 0;
    key.scan_dots = 0;
    0
}
