//! The kernel's per-CPU counters, summed.

use aya::maps::{MapData, PerCpuArray};
use sensor_common::maps::Counter;

/// Totals of the kernel counters since the programs were loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelCounters {
    /// Events lost because the ring buffer was full.
    pub ringbuf_full: u64,
    /// Children not tracked because the tracked-process map was full.
    pub tracked_full: u64,
    /// Syscalls whose exit could not be matched with their entry (pending map full).
    pub pending_full: u64,
    /// Events not assembled because the scratch buffer was unavailable.
    pub scratch_missing: u64,
    /// Events written to the ring buffer.
    pub emitted: u64,
    /// Operations kernel rules fired on.
    pub policy_fired: u64,
    /// Signals the kernel could not send for a kill.
    pub signal_failed: u64,
    /// Paths too deep for the policy to match.
    pub policy_depth: u64,
    /// Records lost because the priority ring buffer was full.
    pub priority_full: u64,
    /// Operations counted into an earlier record instead of getting their own.
    pub repeats: u64,
    /// 32-bit (ia32) syscalls of tracked processes.
    pub compat_calls: u64,
    /// io_uring submissions of tracked processes.
    pub io_uring_submissions: u64,
    /// Path arguments the entry policy could not read (judged closed).
    pub unreadable_arguments: u64,
}

impl KernelCounters {
    pub fn read(map: &PerCpuArray<MapData, u64>) -> Self {
        let sum = |counter: Counter| {
            map.get(&(counter as u32), 0)
                .map(|values| values.iter().sum::<u64>())
                .unwrap_or(0)
        };
        Self {
            ringbuf_full: sum(Counter::RingbufFull),
            tracked_full: sum(Counter::TrackedFull),
            pending_full: sum(Counter::PendingFull),
            scratch_missing: sum(Counter::ScratchMissing),
            emitted: sum(Counter::Emitted),
            policy_fired: sum(Counter::PolicyFired),
            signal_failed: sum(Counter::SignalFailed),
            policy_depth: sum(Counter::PolicyDepth),
            priority_full: sum(Counter::PriorityFull),
            repeats: sum(Counter::Repeats),
            compat_calls: sum(Counter::CompatCalls),
            io_uring_submissions: sum(Counter::IoUringSubmissions),
            unreadable_arguments: sum(Counter::UnreadableArgument),
        }
    }

    /// Events the kernel could not deliver, for whatever reason.
    pub fn lost(&self) -> u64 {
        self.ringbuf_full + self.priority_full + self.scratch_missing
    }
}
