//! The Linux ABI values the kernel programs test (x86-64 and arm64 agree on all of them). One
//! home, so no program carries its own copy; userspace uses libc's and a test in `agent-sensor`
//! (`abi_values_are_libcs`) checks that the two agree.

/// `EPERM`: what a denied operation fails with.
pub const EPERM: i32 = 1;

/// `open(2)` flags.
pub const O_WRONLY: u32 = 0o1;
/// See [`O_WRONLY`].
pub const O_RDWR: u32 = 0o2;
/// See [`O_WRONLY`].
pub const O_CREAT: u32 = 0o100;
/// See [`O_WRONLY`].
pub const O_TRUNC: u32 = 0o1000;
/// See [`O_WRONLY`].
pub const O_DIRECTORY: u32 = 0o200000;
/// A handle that cannot read or write.
pub const O_PATH: u32 = 0o10000000;

/// Address families.
pub const AF_UNIX: u16 = 1;
/// See [`AF_UNIX`].
pub const AF_INET: u16 = 2;
/// See [`AF_UNIX`].
pub const AF_INET6: u16 = 10;
