//! Types shared by the Agent Sensor kernel programs (`sensor-ebpf`) and userspace (`agent-sensor`).
//!
//! Everything here is `#[repr(C)]` plain data: the kernel writes it into the ring buffer or reads it
//! from maps, userspace reads and writes the same bytes. Keep the layouts stable and explicit
//! (no implicit padding) so both sides agree without guessing.
#![no_std]

pub mod event;
pub mod hash;
pub mod layout;
pub mod maps;
pub mod policy;

#[cfg(feature = "user")]
mod pod {
    //! `aya::Pod` marks types that userspace may copy to and from kernel maps.
    use crate::{layout, maps, policy};

    unsafe impl aya::Pod for maps::TrackedProcess {}
    unsafe impl aya::Pod for maps::ExecMatch {}
    unsafe impl aya::Pod for layout::KernelLayout {}
    unsafe impl aya::Pod for layout::TracepointLayout {}
    unsafe impl aya::Pod for layout::CaptureSettings {}
    unsafe impl aya::Pod for policy::PolicyRule {}
    unsafe impl aya::Pod for policy::PolicyConfig {}
    unsafe impl aya::Pod for policy::DirPatterns {}
    unsafe impl aya::Pod for policy::Workspace {}
    unsafe impl aya::Pod for policy::IdentityKey {}
    unsafe impl aya::Pod for policy::Protection {}
    unsafe impl aya::Pod for policy::Escalation {}
    unsafe impl aya::Pod for layout::IoUringLayout {}
}
