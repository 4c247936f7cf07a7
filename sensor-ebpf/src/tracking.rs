//! The tracked-process entry of a process: every program looks a process up in `TRACKED`
//! through these, so the map's unsafe reads are here only.

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use sensor_common::maps::TrackedProcess;

use crate::maps::TRACKED;

/// The current thread group's id (the process id userspace knows).
#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// The entry of the process `tgid`, in place: for programs whose stack is tight.
#[inline(always)]
pub fn of_in_place(tgid: u32) -> Option<&'static TrackedProcess> {
    // SAFETY: a hash map value stays readable for the program's run, even if the entry is
    // deleted meanwhile (the kernel frees it after an RCU grace period); it is only read.
    unsafe { TRACKED.get(&tgid) }
}

/// A copy of the entry of the process `tgid`, when it is part of a tracked session.
#[inline(always)]
pub fn of(tgid: u32) -> Option<TrackedProcess> {
    of_in_place(tgid).copied()
}

/// The current process's entry in `TRACKED`, in place (see [`of_in_place`]).
#[inline(always)]
pub fn current_in_place() -> Option<&'static TrackedProcess> {
    of_in_place(current_tgid())
}

/// A copy of the current process's entry, when it is part of a tracked session.
#[inline(always)]
pub fn current() -> Option<TrackedProcess> {
    of(current_tgid())
}
