//! Capturing what tracked processes do: syscall entry and exit, exec, fork and exit, io_uring
//! submissions. Each program writes records (see `record`); the policy judges what the kernel
//! rules cover (see `policy`).

pub mod enter;
pub mod exec;
pub mod exit;
pub mod io_uring;
pub mod lifecycle;
pub mod magic;
pub mod open;
pub mod ops;
pub mod strings;
