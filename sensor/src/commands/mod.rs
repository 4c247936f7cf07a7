//! The subcommands of `agent-sensor`.

pub mod run;
pub mod session_exec;
pub mod watch;

use crate::{
    capture::{Capture, KernelCounters},
    pipeline::PipelineStats,
};

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
