//! The hash the kernel uses to look up program names when it matches agent profiles at exec.
//!
//! Userspace hashes each profile command name with the same function and stores the hash in the
//! `EXEC_NAMES` map; the kernel hashes the base name of the executed file and looks it up.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Starts a 64-bit FNV-1a hash.
pub const fn fnv1a_start() -> u64 {
    FNV_OFFSET
}

/// Feeds one byte to a 64-bit FNV-1a hash.
#[inline(always)]
pub const fn fnv1a_step(hash: u64, byte: u8) -> u64 {
    (hash ^ byte as u64).wrapping_mul(FNV_PRIME)
}

/// 64-bit FNV-1a of `bytes`.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = fnv1a_start();
    let mut i = 0;
    while i < bytes.len() {
        hash = fnv1a_step(hash, bytes[i]);
        i += 1;
    }
    hash
}
