//! Fork (session inheritance) and exit of tracked processes.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::TracePointContext};
use sensor_common::{
    event::{EVENT_EXIT, EVENT_FORK, ExitEvent, ForkEvent},
    layout::FIELD_ABSENT,
    maps::Counter,
};

use crate::{
    counters::count,
    kernel,
    maps::TRACKED,
    pending::{PENDING, PENDING_PATHS},
    policy::act::kill_if_session_killed,
    record::{Ring, fill_header, output_fixed},
    repeat, settings, tracking,
};

const CLONE_THREAD: u64 = 0x0001_0000;

/// `task_newtask`, in the parent before the child first runs: the child inherits the session.
pub fn on_newtask(ctx: &TracePointContext) -> Option<()> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let parent = tracking::of(tgid)?;
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
    let mut event = ForkEvent {
        child_tgid: child as u32,
        untracked: untracked as u32,
        clone_flags,
        ..ForkEvent::default()
    };
    fill_header(
        &mut event.header,
        EVENT_FORK,
        0,
        parent.session_id,
        size_of::<ForkEvent>() as u32,
    );
    output_fixed(Ring::Events, &event, parent.session_id);
    Some(())
}

/// `sched_process_exit`, for every thread: its pending call and repeat count are settled; when
/// the last thread of a tracked process exits, the process is untracked and its exit reported.
pub fn on_exit(ctx: &TracePointContext) -> Option<()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    forget_pending(pid_tgid);
    let process = tracking::of(tgid)?;
    repeat::flush_thread(process.session_id);
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
    let _ = TRACKED.remove(&tgid);
    let mut event = ExitEvent {
        exit_code: kernel::exit_code(task),
        ..ExitEvent::default()
    };
    fill_header(
        &mut event.header,
        EVENT_EXIT,
        0,
        process.session_id,
        size_of::<ExitEvent>() as u32,
    );
    output_fixed(Ring::Events, &event, process.session_id);
    Some(())
}

/// Forgets what a call that never returned left for the exiting thread (tracked or not: the
/// session may have ended since the call began). Looked up first: deleting takes a lock.
#[inline(always)]
fn forget_pending(pid_tgid: u64) {
    if unsafe { PENDING.get(&pid_tgid) }.is_some() {
        let _ = PENDING.remove(&pid_tgid);
        let _ = PENDING_PATHS.remove(&pid_tgid);
    }
}
