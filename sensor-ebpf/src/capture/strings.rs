//! The path arguments of a call, as records carry them: the copy made at entry (or, when it did
//! not fit, the caller's memory read at exit), and for a relative path the directory it starts
//! from.

use sensor_common::event::{MAX_PATH, StrRef};

use super::magic::{Magic, magic, rest as magic_rest};
use crate::{
    kernel,
    paths::{Hashing, append_walk, append_walk_hashed},
    pending::{FIRST_COMPLETE, INLINE_SIZE, PendingPaths, SECOND_COMPLETE},
    policy::path_key::{PATH_KEY, PathKey},
    record::{Record, record_slot},
    settings::offset,
};

/// Which path argument of a call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    First,
    Second,
}

/// Appends path argument `which`: the copy made at entry, or the string at `user` in the
/// caller's memory when there is no complete copy.
#[inline(always)]
pub fn append_argument(rec: &mut Record, paths: Option<&PendingPaths>, which: Which, user: u64) -> StrRef {
    if let Some(paths) = paths {
        let (complete, bytes, len) = match which {
            Which::First => (paths.flags & FIRST_COMPLETE != 0, paths.first.as_ptr(), paths.first_len),
            Which::Second => (
                paths.flags & SECOND_COMPLETE != 0,
                paths.second.as_ptr(),
                paths.second_len,
            ),
        };
        if complete {
            return rec.copy::<INLINE_SIZE>(bytes, len as usize);
        }
    }
    if user == 0 {
        return StrRef::default();
    }
    rec.user_str::<MAX_PATH>(user)
}

/// True when the string at `s` in `rec` is an absolute path.
#[inline(always)]
pub fn is_absolute(rec: &Record, s: StrRef) -> bool {
    s.len > 0 && rec.byte_at(s.offset as usize) == b'/'
}

/// Appends the directory the path `s` starts from: `dirfd` (or the working directory for
/// `AT_FDCWD`) for a relative path, the directory behind a magic `/proc/self/…` or `/dev/fd/…`
/// prefix (see `magic`), nothing for an absolute path. With `key`, the directory's components
/// are hashed into it (and, with `Hashing::KeyAndBaseDirectories`, protected directories on the
/// way are looked up). Userspace splits magic prefixes the same way.
#[inline(always)]
pub fn append_base(rec: &mut Record, s: StrRef, dirfd: i32, key: Option<&mut PathKey>, hashing: Hashing) -> StrRef {
    match key {
        None => append_base_plain(rec, s, dirfd),
        // The key is the per-CPU `PATH_KEY`, which the global function finds itself.
        Some(_) => StrRef::from_bits(append_base_keyed(
            s.to_bits(),
            dirfd as u64,
            hashing as u64,
            rec.slot() as u64,
        )),
    }
}

#[inline(never)]
fn append_base_plain(rec: &mut Record, s: StrRef, dirfd: i32) -> StrRef {
    base_of(rec, s, dirfd, None, Hashing::None)
}

/// `append_base` without a key, through a global BPF function: for a program that calls it from
/// several places (a global function is verified once per program, a static one once per call
/// and caller state).
#[inline(always)]
pub fn append_base_shared(rec: &mut Record, s: StrRef, dirfd: i32) -> StrRef {
    StrRef::from_bits(append_base_global(s.to_bits(), dirfd as u64, rec.slot() as u64))
}

/// The global function behind `append_base_shared`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn append_base_global(s: u64, dirfd: u64, slot: u64) -> u64 {
    let Some(mut rec) = Record::resume(record_slot(slot)) else {
        return 0;
    };
    base_of(&mut rec, StrRef::from_bits(s), dirfd as i32, None, Hashing::None).to_bits()
}

/// The global function behind `append_base` with a key: the directory's components go into the
/// per-CPU `PATH_KEY` (the callers' key) with `hashing` (a `Hashing` other than `None`).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn append_base_keyed(s: u64, dirfd: u64, hashing: u64, slot: u64) -> u64 {
    let Some(mut rec) = Record::resume(record_slot(slot)) else {
        return 0;
    };
    let Some(key) = PATH_KEY.get_ptr_mut(0) else {
        return 0;
    };
    base_of(
        &mut rec,
        StrRef::from_bits(s),
        dirfd as i32,
        Some(unsafe { &mut *key }),
        Hashing::from_bits(hashing),
    )
    .to_bits()
}

#[inline(always)]
pub fn base_of(rec: &mut Record, s: StrRef, dirfd: i32, key: Option<&mut PathKey>, hashing: Hashing) -> StrRef {
    let (kind, _) = split(rec, s);
    let task = kernel::current_task();
    let dir = match kind {
        Magic::Fd { fd, .. } => kernel::fd_file(task, fd as i64).map(kernel::file_path),
        Magic::Cwd { .. } => kernel::cwd_path(task),
        Magic::Root { .. } => None,
        Magic::None if is_absolute(rec, s) => None,
        Magic::None => kernel::base_dir_path(task, dirfd),
    };
    let Some(dir) = dir else {
        return StrRef::default();
    };
    let dentry = kernel::read_ptr(dir + offset!(path_dentry));
    let mount = kernel::read_ptr(dir + offset!(path_mnt));
    match key {
        Some(key) => append_walk_hashed(rec, dentry, mount, key, hashing),
        None => append_walk(rec, dentry, mount),
    }
}

/// The magic prefix of `s` (see `magic`) and the rest of the string after it: what is resolved
/// against the directory `append_base` found.
#[inline(always)]
pub fn split(rec: &Record, s: StrRef) -> (Magic, StrRef) {
    let mut kind = magic(rec, s);
    let mut rest = magic_rest(s, kind);
    if let Magic::Root { .. } = kind {
        // `/proc/self/root/proc/self/fd/3/…`: one more level.
        let inner = magic(rec, rest);
        if inner != Magic::None {
            kind = inner;
            rest = magic_rest(rest, inner);
        }
    }
    (kind, rest)
}
