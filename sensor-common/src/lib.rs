//! Types shared by the Agent Sensor kernel programs (`sensor-ebpf`) and userspace (`agent-sensor`).
//!
//! Everything here is `#[repr(C)]` plain data: the kernel writes it into the ring buffer or reads it
//! from maps, userspace reads and writes the same bytes. Keep the layouts stable and explicit
//! (no implicit padding) so both sides agree without guessing.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod abi;
pub mod decide;
pub mod event;
pub mod hash;
pub mod layout;
pub mod maps;
pub mod policy;
mod sizes;

#[cfg(feature = "user")]
mod pod {
    //! `aya::Pod` marks types that userspace may copy to and from kernel maps.
    use crate::{layout, maps, policy};

    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for maps::TrackedProcess {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for maps::ExecMatch {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for layout::KernelLayout {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for layout::TracepointLayout {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for layout::CaptureSettings {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::PolicyRule {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::PolicyConfig {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::DirPatterns {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::Workspace {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::IdentityKey {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::Protection {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for policy::Escalation {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for layout::IoUringLayout {}
    // SAFETY: `#[repr(C)]` plain data (integers and arrays of them), every bit pattern valid.
    unsafe impl aya::Pod for layout::PeerLayout {}
}
