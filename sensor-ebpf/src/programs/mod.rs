pub mod fallback;
pub mod handoff;
pub mod lsm;
pub mod net;
pub mod sock_addr;
pub mod tamper;
