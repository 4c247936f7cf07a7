//! io_uring submissions of tracked processes (`io_uring:io_uring_submit_req`): an operation
//! submitted through a ring never passes a syscall tracepoint, so it is read here, from the
//! request the kernel prepared (paths already copied into the kernel: no thread can change
//! them any more), reported with the record of the equivalent call (`SYSCALL_IO_URING`), and
//! judged by the tracepoint backend like that call. The worker threads that run requests
//! belong to the submitting process, so they are tracked with it.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::map, maps::PerCpuArray, programs::TracePointContext};
use sensor_common::{
    event::{EVENT_SYSCALL, MAX_PATH, PolicyEvent, SYSCALL_IO_URING, StrRef, Syscall, SyscallEvent},
    maps::{Counter, TrackedProcess},
    policy::{BACKEND_TRACEPOINT, PolicyOp},
};

use super::{open::is_write, strings::append_base};
use crate::{
    counters::count,
    kernel::{read, read_ptr},
    paths::Hashing,
    policy::{
        self,
        act::kill_if_session_killed,
        check::{FileOperation, Judging, judge_key, key_of_argument},
        emit::PathRefs,
    },
    record::{POLICY_SCRATCH, Record, Ring},
    settings::{io_uring_layout_valid, uring_offset},
    tracking,
};

const OP_OPENAT: u8 = 18;
const OP_OPENAT2: u8 = 28;
const OP_RENAMEAT: u8 = 35;
const OP_UNLINKAT: u8 = 36;
const OP_SYMLINKAT: u8 = 38;
const OP_LINKAT: u8 = 39;
const AT_REMOVEDIR: u64 = 0x200;

/// A prepared request's operation, as the equivalent call (kept per CPU in map memory between
/// the program that reports it and the one that judges it).
#[repr(C)]
pub struct Request {
    session: u64,
    syscall: Syscall,
    dirfd: i32,
    dirfd2: i32,
    /// `struct filename *` of the first and second paths (0: none).
    first: u64,
    second: u64,
    /// The first path is a symlink's target (text), not a path.
    first_is_text: bool,
    flags: u64,
    mode: u64,
}

/// Per-CPU io_uring request between its report and its judgement (see `capture::io_uring`).
#[map]
pub static URING_REQUEST: PerCpuArray<Request> = PerCpuArray::with_max_entries(1, 0);

/// `io_uring_submit_req`: reports the request; returns true when the policy program must judge
/// it next (the caller tail-calls it).
pub fn on_submit(ctx: &TracePointContext) -> Option<bool> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let process = tracking::of(tgid)?;
    kill_if_session_killed(process.session_id);
    count(Counter::IoUringSubmissions);
    if !io_uring_layout_valid() {
        return None;
    }
    let req_at = uring_offset!(tp_req) as usize;
    let opcode_at = uring_offset!(tp_opcode) as usize;
    let req: u64 = unsafe { ctx.read_at(req_at) }.ok()?;
    let opcode: u8 = unsafe { ctx.read_at(opcode_at) }.ok()?;
    let request = unsafe { &mut *URING_REQUEST.get_ptr_mut(0)? };
    if !read_request(request, req, opcode) {
        return None;
    }
    request.session = process.session_id;
    report(request, opcode);
    Some(true)
}

/// The policy program of a request (tail-called by `io_uring_submit_req`).
pub fn judge_submitted() -> Option<()> {
    let process = crate::tracking::current()?;
    let request = unsafe { &*URING_REQUEST.get_ptr(0)? };
    judge(&process, request);
    Some(())
}

#[inline(always)]
fn field<T: Copy + Default>(cmd: u64, offset: u64) -> T {
    read::<T>(cmd + offset).unwrap_or_default()
}

/// Reads request `req` into `r`; false for operations the sensor does not read.
#[inline(never)]
fn read_request(r: &mut Request, req: u64, opcode: u8) -> bool {
    let cmd = req + uring_offset!(kiocb_cmd);
    r.syscall = Syscall::Openat;
    r.dirfd = -100;
    r.dirfd2 = -100;
    r.first = 0;
    r.second = 0;
    r.first_is_text = false;
    r.flags = 0;
    r.mode = 0;
    match opcode {
        OP_OPENAT | OP_OPENAT2 => {
            r.syscall = if opcode == OP_OPENAT {
                Syscall::Openat
            } else {
                Syscall::Openat2
            };
            r.dirfd = field::<i32>(cmd, uring_offset!(open_dfd));
            r.first = field::<u64>(cmd, uring_offset!(open_filename));
            r.flags = field::<u64>(cmd, uring_offset!(open_how));
            r.mode = field::<u64>(cmd, uring_offset!(open_how) + 8);
        }
        OP_UNLINKAT => {
            r.syscall = Syscall::Unlinkat;
            r.dirfd = field::<i32>(cmd, uring_offset!(unlink_dfd));
            r.first = field::<u64>(cmd, uring_offset!(unlink_filename));
            r.flags = field::<i32>(cmd, uring_offset!(unlink_flags)) as u64;
        }
        OP_RENAMEAT => {
            r.syscall = Syscall::Renameat2;
            r.dirfd = field::<i32>(cmd, uring_offset!(rename_old_dfd));
            r.dirfd2 = field::<i32>(cmd, uring_offset!(rename_new_dfd));
            r.first = field::<u64>(cmd, uring_offset!(rename_oldpath));
            r.second = field::<u64>(cmd, uring_offset!(rename_newpath));
            r.flags = field::<i32>(cmd, uring_offset!(rename_flags)) as u64;
        }
        OP_LINKAT | OP_SYMLINKAT => {
            r.syscall = if opcode == OP_LINKAT {
                Syscall::Linkat
            } else {
                Syscall::Symlinkat
            };
            r.first_is_text = opcode == OP_SYMLINKAT;
            r.dirfd = field::<i32>(cmd, uring_offset!(link_old_dfd));
            r.dirfd2 = field::<i32>(cmd, uring_offset!(link_new_dfd));
            r.first = field::<u64>(cmd, uring_offset!(link_oldpath));
            r.second = field::<u64>(cmd, uring_offset!(link_newpath));
            r.flags = field::<i32>(cmd, uring_offset!(link_flags)) as u64;
        }
        _ => return false,
    }
    true
}

/// The path a `struct filename` holds (already in kernel memory).
#[inline(always)]
fn filename(rec: &mut Record, filename: u64) -> StrRef {
    match read_ptr(filename + uring_offset!(filename_name)) {
        Some(name) if filename != 0 => rec.kernel_str::<MAX_PATH>(name),
        _ => StrRef::default(),
    }
}

#[inline(never)]
fn report(r: &Request, opcode: u8) {
    let Some(mut rec) = Record::start::<SyscallEvent>() else {
        return;
    };
    let first = filename(&mut rec, r.first);
    let (path, text, base) = if r.first_is_text {
        (StrRef::default(), first, StrRef::default())
    } else {
        let base = append_base(&mut rec, first, r.dirfd, None, Hashing::None);
        (first, StrRef::default(), base)
    };
    let path2 = filename(&mut rec, r.second);
    let base2 = if r.second != 0 {
        append_base(&mut rec, path2, r.dirfd2, None, Hashing::None)
    } else {
        StrRef::default()
    };
    let event = rec.fixed::<SyscallEvent>();
    *event = SyscallEvent::default();
    event.syscall = r.syscall as u16;
    event.flags = SYSCALL_IO_URING;
    event.dirfd = r.dirfd;
    event.dirfd2 = r.dirfd2;
    event.args = [r.flags, r.mode, 0, opcode as u64];
    event.path = path;
    event.base = base;
    event.path2 = path2;
    event.base2 = base2;
    event.text = text;
    rec.submit_to(Ring::Events, EVENT_SYSCALL, 0, r.session);
}

/// The tracepoint backend's judgement of the request, like the equivalent call's.
#[inline(always)]
fn judge(process: &TrackedProcess, r: &Request) {
    match r.syscall {
        Syscall::Openat | Syscall::Openat2 => {
            let op = if is_write(r.flags) {
                PolicyOp::OpenWrite
            } else {
                PolicyOp::OpenRead
            };
            judge_path(process, op, r.first, r.dirfd);
        }
        Syscall::Unlinkat => {
            let op = if r.flags & AT_REMOVEDIR != 0 {
                PolicyOp::Rmdir
            } else {
                PolicyOp::Unlink
            };
            judge_path(process, op, r.first, r.dirfd);
        }
        Syscall::Renameat2 => {
            judge_path(process, PolicyOp::RenameFrom, r.first, r.dirfd);
            judge_path(process, PolicyOp::Rename, r.second, r.dirfd2);
        }
        Syscall::Linkat => judge_path(process, PolicyOp::Link, r.second, r.dirfd2),
        Syscall::Symlinkat => judge_path(process, PolicyOp::Symlink, r.second, r.dirfd2),
        _ => {}
    }
}

#[inline(never)]
fn judge_path(process: &TrackedProcess, op: PolicyOp, name: u64, dirfd: i32) {
    let Some(config) = policy::judging(op, BACKEND_TRACEPOINT) else {
        return;
    };
    let Some(mut rec) = Record::start_in::<PolicyEvent>(POLICY_SCRATCH) else {
        return;
    };
    let path = filename(&mut rec, name);
    let Some((key, base)) = key_of_argument(config, path, dirfd, op) else {
        return;
    };
    let Some(operation) = FileOperation::new(op, PathRefs { path, base }) else {
        return Default::default();
    };
    let judging = Judging {
        config,
        process,
        backend: BACKEND_TRACEPOINT,
    };
    judge_key(&judging, operation, key, rec);
}
