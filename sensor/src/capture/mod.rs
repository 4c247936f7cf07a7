//! Capture: checking the machine, loading and attaching the kernel programs, tracking sessions
//! in the kernel, and reading what the programs report.

pub mod counters;
pub mod enforcement;
pub mod environment;
pub mod kernel_layout;
pub mod loader;
pub mod policy_maps;
pub mod ring;
pub mod tails;
pub mod tracepoint_format;
pub mod tracking;

pub use counters::KernelCounters;
pub use environment::Environment;
pub use loader::{Capture, CaptureOptions, LoadError, Rings};
pub use policy_maps::PolicyMaps;
pub use ring::{EventStream, RING_LINGER};
