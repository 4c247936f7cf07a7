pub mod fallback;
pub mod lsm;
pub mod net;
pub mod process;
pub mod sock_addr;
pub mod syscalls;
pub mod tamper;
