//! Process lifecycle: exec (and session start by profile), fork (session inheritance), exit.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns},
    programs::TracePointContext,
};
use sensor_common::{
    event::{
        EVENT_EXEC, EVENT_EXIT, EVENT_FORK, ExecEvent, ExitEvent, ForkEvent, HEADER_SESSION_START, MAX_ARGS, MAX_PATH,
        StrRef,
    },
    layout::FIELD_ABSENT,
    maps::{Counter, KERNEL_SESSION_BIT, TRACKED_NEW_SESSION, TrackedProcess},
};

use super::fallback;
use crate::{
    counters::count,
    kernel,
    maps::{EVENTS, PENDING, TRACKED},
    matching::{self, ARGS_SCAN},
    paths::append_path,
    policy::act::kill_if_session_killed,
    record::{Record, fill_header},
    settings,
};

const CLONE_THREAD: u64 = 0x0001_0000;

#[inline(always)]
fn tracked(tgid: u32) -> Option<TrackedProcess> {
    unsafe { TRACKED.get(&tgid) }.copied()
}

/// A fresh session id for a session the kernel starts.
#[inline(always)]
fn new_session_id(tgid: u32) -> u64 {
    let now = unsafe { bpf_ktime_get_boot_ns() };
    KERNEL_SESSION_BIT | (((now << 8) ^ tgid as u64) & (KERNEL_SESSION_BIT - 1))
}

pub fn on_exec(ctx: &TracePointContext) -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if tgid == settings::sensor_tgid() {
        return None;
    }
    let known = tracked(tgid);
    if known.is_none() && !settings::match_profiles() {
        return None;
    }
    let mut rec = Record::start::<ExecEvent>()?;
    let task = kernel::current_task();
    let mm = kernel::mm(task);
    let args_area = mm.and_then(kernel::arg_area);

    let loc: u32 = unsafe { ctx.read_at(settings::exec_filename_offset() as usize) }.ok()?;
    let filename = rec.kernel_str::<MAX_PATH>(filename_at(ctx, loc));

    let (session_id, profile_id, flags) = match known {
        Some(process) => {
            kill_if_session_killed(process.session_id);
            (process.session_id, process.profile_id, 0)
        }
        None => {
            let profile_id = match_profile(&mut rec, filename, args_area)?;
            let session_id = new_session_id(tgid);
            let entry = TrackedProcess {
                session_id,
                profile_id,
                flags: TRACKED_NEW_SESSION,
                exe_hash: 0,
                name_hash: 0,
            };
            if TRACKED.insert(tgid, entry, 0).is_err() {
                count(Counter::TrackedFull);
            }
            (session_id, profile_id, HEADER_SESSION_START)
        }
    };

    let executable = match mm.and_then(kernel::exe_path) {
        Some(path) => append_path(&mut rec, path),
        None => StrRef::default(),
    };
    let cwd = match kernel::cwd_path(task) {
        Some(path) => append_path(&mut rec, path),
        None => StrRef::default(),
    };
    let (args, args_size) = match args_area {
        Some((start, end)) => (rec.user_bytes::<MAX_ARGS>(start, end - start), end - start),
        None => (StrRef::default(), 0),
    };

    let event = rec.fixed::<ExecEvent>();
    event.ppid = kernel::parent_tgid(task);
    event.profile_id = profile_id;
    event.start_boottime_ns = kernel::start_boottime(task);
    event.args_size = args_size as u32;
    event.reserved = 0;
    event.filename = filename;
    event.executable = executable;
    event.cwd = cwd;
    event.args = args;
    rec.submit(EVENT_EXEC, flags, session_id);
    Some(())
}

/// Where the `filename` string of `sched_process_exec` is (its `__data_loc` is `loc`).
#[inline(always)]
pub fn filename_at(ctx: &TracePointContext, loc: u32) -> u64 {
    ctx.as_ptr() as u64 + (loc & 0xffff) as u64
}

/// The exec policy program's work: runs as a tail call of `sched_process_exec`.
pub fn exec_policy(ctx: &TracePointContext) -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let loc: u32 = unsafe { ctx.read_at(settings::exec_filename_offset() as usize) }.ok()?;
    fallback::at_exec(tgid, filename_at(ctx, loc));
    Some(())
}

/// The profile an untracked exec matches, if any.
#[inline(always)]
fn match_profile(rec: &mut Record, filename: StrRef, args_area: Option<(u64, u64)>) -> Option<u32> {
    let found = matching::match_path(rec, filename)?;
    if matching::is_agent(&found) {
        return Some(found.profile_id);
    }
    if !matching::is_interpreter(&found) {
        return None;
    }
    // Peek at the first arguments without keeping them: the full vector is appended later.
    let (start, end) = args_area?;
    let at = rec.offset();
    let peek = rec.user_bytes::<ARGS_SCAN>(start, end - start);
    let result = matching::match_args(rec, peek.offset as usize, peek.len as usize);
    rec.rewind(at);
    result
}

pub fn on_newtask(ctx: &TracePointContext) -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let parent = tracked(tgid)?;
    kill_if_session_killed(parent.session_id);
    let (flags_offset, flags_size) = settings::newtask_clone_flags();
    let clone_flags: u64 = if flags_size == 8 {
        unsafe { ctx.read_at::<u64>(flags_offset as usize) }.ok()?
    } else {
        unsafe { ctx.read_at::<u32>(flags_offset as usize) }.ok()? as u64
    };
    if clone_flags & CLONE_THREAD != 0 {
        return None;
    }
    let child: i32 = unsafe { ctx.read_at(settings::newtask_pid_offset() as usize) }.ok()?;
    let untracked = TRACKED.insert(child as u32, parent, 0).is_err();
    if untracked {
        count(Counter::TrackedFull);
    }
    let Some(mut entry) = EVENTS.reserve::<ForkEvent>(0) else {
        count(Counter::RingbufFull);
        return None;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut event.header,
        EVENT_FORK,
        0,
        parent.session_id,
        size_of::<ForkEvent>() as u32,
    );
    event.child_tgid = child as u32;
    event.untracked = untracked as u32;
    event.clone_flags = clone_flags;
    entry.submit(0);
    count(Counter::Emitted);
    Some(())
}

pub fn on_exit(ctx: &TracePointContext) -> Option<()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let process = tracked(tgid)?;
    let _ = PENDING.remove(pid_tgid);
    let task = kernel::current_task();
    let dead_offset = settings::exit_group_dead_offset();
    let group_dead = if dead_offset != FIELD_ABSENT {
        unsafe { ctx.read_at::<u8>(dead_offset as usize) }.ok()? != 0
    } else {
        kernel::group_dead(task)
    };
    if !group_dead {
        return None;
    }
    let _ = TRACKED.remove(tgid);
    let Some(mut entry) = EVENTS.reserve::<ExitEvent>(0) else {
        count(Counter::RingbufFull);
        return None;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut event.header,
        EVENT_EXIT,
        0,
        process.session_id,
        size_of::<ExitEvent>() as u32,
    );
    event.exit_code = kernel::exit_code(task);
    event.reserved = 0;
    entry.submit(0);
    count(Counter::Emitted);
    Some(())
}
