//! Bounds the verifier can see.

/// `value & mask`, with the mask kept: the compiler drops masks it can prove redundant, but the
/// verifier may not know what the compiler knows (older verifiers track less), and needs the
/// bound at the access.
#[inline(always)]
pub fn bounded(value: usize, mask: usize) -> usize {
    unsafe { core::ptr::read_volatile(&value) & mask }
}
