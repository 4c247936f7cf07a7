//! Paths through the process's own `/proc` entries: `/proc/self/fd/N/…`, `/dev/fd/N/…`,
//! `/proc/self/cwd/…`, `/proc/self/root/…` (and the same through `/proc/thread-self` and
//! `/proc/<own pid>`). The kernel follows these magic links to the directory of descriptor N,
//! the working directory or the root; so must the sensor when it judges a path argument, or a
//! protected file could be reached under a name that matches nothing. (Agents use them:
//! Claude Code writes every file as `/proc/self/fd/N/NAME.tmp…` and renames it the same way.)
//!
//! Another process's entries (`/proc/<pid>/cwd/…`) cannot be followed here: the programs have
//! no way to find that process's task (docs/enforcement.md lists the gap).

use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_get_current_pid_tgid, generated::bpf_loop},
    macros::map,
    maps::PerCpuArray,
};
use sensor_common::event::StrRef;

use crate::record::Record;

/// Where a path argument really starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// An ordinary path.
    None,
    /// Relative to descriptor `fd`; the rest starts `skip` bytes in.
    Fd { fd: i32, skip: u16 },
    /// Relative to the working directory.
    Cwd { skip: u16 },
    /// Absolute from the root: the rest starts `skip` bytes in, at its `/`.
    Root { skip: u16 },
}

/// Reads `s` (in `rec`) for a magic prefix of the current process.
#[inline(never)]
pub fn magic(rec: &Record, s: StrRef) -> Magic {
    let at = s.offset as usize;
    let len = s.len as usize;
    let byte = |i: usize| if i < len { rec.byte_at(at + i) } else { 0 };
    let starts = |i: usize, text: &[u8]| {
        let mut same = true;
        for (k, expected) in text.iter().enumerate() {
            same &= byte(i + k) == *expected;
        }
        same
    };
    // `/dev/fd/N`
    if starts(0, b"/dev/fd/") {
        return descriptor(rec, s, 8);
    }
    if !starts(0, b"/proc/") {
        return Magic::None;
    }
    let after = if starts(6, b"self/") {
        11
    } else if starts(6, b"thread-self/") {
        18
    } else {
        // `/proc/<digits>/` naming this process.
        let (pid, digits) = number(rec, s, 6);
        if digits == 0 || byte(6 + digits) != b'/' || pid != (bpf_get_current_pid_tgid() >> 32) {
            return Magic::None;
        }
        6 + digits + 1
    };
    if starts(after, b"fd/") {
        return descriptor(rec, s, after + 3);
    }
    if starts(after, b"cwd") && matches!(byte(after + 3), b'/' | 0) {
        return Magic::Cwd {
            skip: (after + 3 + (byte(after + 3) == b'/') as usize) as u16,
        };
    }
    if starts(after, b"root") && matches!(byte(after + 4), b'/' | 0) {
        return Magic::Root {
            skip: (after + 4) as u16,
        };
    }
    Magic::None
}

/// `N/…` or `N` at byte `from` of `s`: descriptor N.
#[inline(always)]
fn descriptor(rec: &Record, s: StrRef, from: usize) -> Magic {
    let (fd, digits) = number(rec, s, from);
    if digits == 0 || fd > i32::MAX as u64 {
        return Magic::None;
    }
    let end = from + digits;
    let next = if end < s.len as usize {
        rec.byte_at(s.offset as usize + end)
    } else {
        0
    };
    match next {
        b'/' => Magic::Fd {
            fd: fd as i32,
            skip: (end + 1) as u16,
        },
        0 => Magic::Fd {
            fd: fd as i32,
            skip: end as u16,
        },
        _ => Magic::None,
    }
}

/// The state of a number's scan, in map memory: the verifier follows stack values precisely,
/// and a value built digit by digit there would make every digit a new state.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NumberScan {
    start: u64,
    end: u64,
    value: u64,
    digits: u64,
}

/// Per-CPU state of the scan of a number in a magic path prefix (see `capture::magic`).
#[map]
pub static MAGIC_SCAN: PerCpuArray<NumberScan> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct NumberLoop {
    rec: *const Record,
    state: *mut NumberScan,
}

/// The decimal number at byte `from` of `s`, and how many digits it has (at most 10).
#[inline(never)]
fn number(rec: &Record, s: StrRef, from: usize) -> (u64, usize) {
    let Some(state) = MAGIC_SCAN.get_ptr_mut(0) else {
        return (0, 0);
    };
    unsafe {
        *state = NumberScan {
            start: s.offset as u64 + from as u64,
            end: s.offset as u64 + s.len as u64,
            value: 0,
            digits: 0,
        };
    }
    let mut scan = NumberLoop {
        rec: rec as *const Record,
        state,
    };
    unsafe {
        bpf_loop(
            10,
            number_step as *mut c_void,
            &mut scan as *mut NumberLoop as *mut c_void,
            0,
        );
    }
    let state = unsafe { &*state };
    (state.value, state.digits as usize)
}

extern "C" fn number_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut NumberLoop) };
    let state = unsafe { &mut *scan.state };
    let at = state.start + index;
    if at >= state.end {
        return 1;
    }
    let byte = unsafe { &*scan.rec }.byte_at(at as usize);
    if !byte.is_ascii_digit() {
        return 1;
    }
    state.value = state.value * 10 + (byte - b'0') as u64;
    state.digits += 1;
    0
}

/// The part of `s` after a magic prefix.
#[inline(always)]
pub fn rest(s: StrRef, magic: Magic) -> StrRef {
    let skip = match magic {
        Magic::None => 0,
        Magic::Fd { skip, .. } | Magic::Cwd { skip } | Magic::Root { skip } => skip,
    };
    let skip = if skip > s.len { s.len } else { skip };
    StrRef {
        offset: s.offset + skip,
        len: s.len - skip,
        flags: s.flags,
        reserved: 0,
    }
}
