//! Agent profile matching at exec, in the kernel, so no child of a new agent can escape by racing
//! userspace.
//!
//! An exec starts a session when the base name of the executed path (for a script, the script) is
//! an agent command in `EXEC_NAMES`, or when it is an interpreter there and the base name of one of
//! its first arguments is an agent command (`node …/gemini`, `python3 -m aider`).
//!
//! The byte scans run as `bpf_loop` callbacks so the verifier checks one step, not every
//! iteration.

use aya_ebpf::{cty::c_void, helpers::generated::bpf_loop};
use sensor_common::{
    event::StrRef,
    hash::{fnv1a_start, fnv1a_step},
    maps::{EXEC_MATCH_AGENT, EXEC_MATCH_INTERPRETER, ExecMatch, NO_PROFILE},
};

use crate::{maps::EXEC_NAMES, record::Record};

/// How many bytes of the executed path are scanned for its base name.
const NAME_SCAN: usize = 256;
/// How many bytes of the argument vector are scanned for agent names after an interpreter.
pub const ARGS_SCAN: usize = 512;
/// Arguments after argv[0] looked at.
const ARGS_LOOKED_AT: u32 = 3;

#[inline(always)]
fn lookup(hash: u64) -> Option<ExecMatch> {
    unsafe { EXEC_NAMES.get(&hash) }.copied()
}

#[repr(C)]
struct NameScan {
    rec: *const Record,
    begin: u64,
    end: u64,
    hash: u64,
}

/// The match for the base name of the path held in `s`.
#[inline(never)]
pub fn match_path(rec: &Record, s: StrRef) -> Option<ExecMatch> {
    let end = s.offset as u64 + s.len as u64;
    let begin = if s.len as usize > NAME_SCAN {
        end - NAME_SCAN as u64
    } else {
        s.offset as u64
    };
    let mut scan = NameScan {
        rec: rec as *const Record,
        begin,
        end,
        hash: fnv1a_start(),
    };
    unsafe {
        bpf_loop(
            NAME_SCAN as u32,
            name_step as *mut c_void,
            &mut scan as *mut NameScan as *mut c_void,
            0,
        );
    }
    lookup(scan.hash)
}

extern "C" fn name_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut NameScan) };
    let at = scan.begin + index;
    if at >= scan.end {
        return 1;
    }
    let byte = unsafe { &*scan.rec }.byte_at(at as usize);
    scan.hash = if byte == b'/' {
        fnv1a_start()
    } else {
        fnv1a_step(scan.hash, byte)
    };
    0
}

#[repr(C)]
struct ArgScan {
    rec: *const Record,
    start: u64,
    len: u64,
    hash: u64,
    token: u32,
    profile: u32,
}

/// The profile of the first agent name among argv[1..=3], whose bytes start at `start`.
#[inline(never)]
pub fn match_args(rec: &Record, start: usize, len: usize) -> Option<u32> {
    let mut scan = ArgScan {
        rec: rec as *const Record,
        start: start as u64,
        len: len as u64,
        hash: fnv1a_start(),
        token: 0,
        profile: NO_PROFILE,
    };
    unsafe {
        bpf_loop(
            ARGS_SCAN as u32,
            arg_step as *mut c_void,
            &mut scan as *mut ArgScan as *mut c_void,
            0,
        );
    }
    (scan.profile != NO_PROFILE).then_some(scan.profile)
}

extern "C" fn arg_step(index: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut ArgScan) };
    if index >= scan.len || scan.token > ARGS_LOOKED_AT {
        return 1;
    }
    let byte = unsafe { &*scan.rec }.byte_at((scan.start + index) as usize);
    if byte == 0 {
        if scan.token > 0 {
            if let Some(found) = lookup(scan.hash) {
                if found.kind & EXEC_MATCH_AGENT != 0 {
                    scan.profile = found.profile_id;
                    return 1;
                }
            }
        }
        scan.token += 1;
        scan.hash = fnv1a_start();
    } else if byte == b'/' {
        scan.hash = fnv1a_start();
    } else {
        scan.hash = fnv1a_step(scan.hash, byte);
    }
    0
}

#[inline(always)]
pub fn is_agent(found: &ExecMatch) -> bool {
    found.kind & EXEC_MATCH_AGENT != 0
}

#[inline(always)]
pub fn is_interpreter(found: &ExecMatch) -> bool {
    found.kind & EXEC_MATCH_INTERPRETER != 0
}
