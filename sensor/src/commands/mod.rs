//! The subcommands of `agent-sensor`.

pub mod run;
pub mod session_exec;
pub mod watch;

use crate::{
    capture::{Capture, KernelCounters},
    pipeline::PipelineStats,
};

/// A session id chosen by userspace: random, with the kernel's bit clear.
pub fn new_session_id() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let random = if filled == 8 {
        u64::from_ne_bytes(bytes)
    } else {
        // No entropy source: fall back to the clock and pid, still unique enough per host.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        now ^ ((std::process::id() as u64) << 32)
    };
    random & !sensor_common::maps::KERNEL_SESSION_BIT
}

/// Logs what the kernel and the pipeline counted, and warns about any loss.
pub fn report_counters(capture: &Capture, stats: &PipelineStats) -> KernelCounters {
    let kernel = KernelCounters::read(&capture.counters);
    tracing::info!(
        kernel_emitted = kernel.emitted,
        ring_buffer_full = kernel.ringbuf_full,
        records = stats.records,
        events_written = stats.events_written,
        decode_errors = stats.decode_errors,
        output_errors = stats.output_errors,
        "capture totals"
    );
    if kernel.lost() > 0 {
        tracing::warn!(
            lost = kernel.lost(),
            "events were lost in the kernel because the ring buffer was full; raise capture.ring_buffer_bytes"
        );
    }
    if kernel.tracked_full > 0 {
        tracing::warn!(
            children = kernel.tracked_full,
            "children of tracked processes could not be tracked: the tracked-process map was full"
        );
    }
    kernel
}
