//! The tracked-process entry of the current process.

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use sensor_common::maps::TrackedProcess;

use crate::maps::TRACKED;

/// The current process's entry in `TRACKED`, in place: for programs whose stack is tight (the
/// entry stays readable for the program's run even if the process exits meanwhile).
#[inline(always)]
pub fn current_in_place() -> Option<&'static TrackedProcess> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    unsafe { TRACKED.get(&tgid) }
}

/// A copy of the current process's entry, when it is part of a tracked session.
#[inline(always)]
pub fn current() -> Option<TrackedProcess> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    unsafe { TRACKED.get(&tgid) }.copied()
}
