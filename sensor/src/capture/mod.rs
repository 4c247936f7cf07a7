//! Capture: checking the machine, loading and attaching the kernel programs, tracking sessions
//! in the kernel, and reading what the programs report.

pub mod counters;
pub mod enforcement;
pub mod environment;
pub mod kernel_layout;
pub mod load_error;
pub mod loader;
pub mod lsm_btf;
pub mod lsm_probe;
pub mod policy_maps;
pub mod preload;
pub mod ring;
pub mod spawners;
pub mod tails;
pub mod tracepoint_format;
pub mod tracking;

pub use counters::KernelCounters;
pub use environment::Environment;
pub use loader::{Capture, CaptureOptions, LoadError, Rings};
pub use policy_maps::PolicyMaps;
pub use ring::{EventStream, RING_LINGER};

#[cfg(test)]
mod tests {
    use sensor_common::abi;

    #[test]
    fn abi_values_are_libcs() {
        assert_eq!(abi::EPERM, libc::EPERM);
        assert_eq!(abi::O_WRONLY as i32, libc::O_WRONLY);
        assert_eq!(abi::O_RDWR as i32, libc::O_RDWR);
        assert_eq!(abi::O_CREAT as i32, libc::O_CREAT);
        assert_eq!(abi::O_TRUNC as i32, libc::O_TRUNC);
        assert_eq!(abi::O_DIRECTORY as i32, libc::O_DIRECTORY);
        assert_eq!(abi::O_PATH as i32, libc::O_PATH);
        assert_eq!(i32::from(abi::AF_UNIX), libc::AF_UNIX);
        assert_eq!(i32::from(abi::AF_INET), libc::AF_INET);
        assert_eq!(i32::from(abi::AF_INET6), libc::AF_INET6);
    }
}
