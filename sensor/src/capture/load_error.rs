//! Why loading the kernel programs failed, for the loader and the tail-called programs alike.

use aya::programs::ProgramError;

use super::{kernel_layout, tracepoint_format};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Layout(#[from] kernel_layout::LayoutError),
    #[error(transparent)]
    Format(#[from] tracepoint_format::FormatError),
    #[error("the ring buffer size {0} is not a power of two multiple of the page size")]
    RingSize(u32),
    #[error(
        "the kernel refused to load the sensor's eBPF maps ({0}); check that the kernel has BPF \
         enabled (CONFIG_BPF_SYSCALL) and that no lockdown or seccomp policy forbids bpf()"
    )]
    Maps(#[source] aya::EbpfError),
    #[error("the eBPF object lacks program `{0}` (a build mismatch; rebuild the sensor)")]
    MissingProgram(String),
    #[error("the eBPF object lacks map `{0}` (a build mismatch; rebuild the sensor)")]
    MissingMap(&'static str),
    #[error("cannot duplicate the tracked-process map's descriptor: {0}")]
    Duplicate(std::io::Error),
    #[error("map `{name}`: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    /// The verifier log is summarised in the message; the error itself is not chained, so the
    /// whole log is not printed twice.
    #[error("{}", describe_program_error(.program, .error))]
    Program { program: String, error: Box<ProgramError> },
    #[error("attaching `{program}` to tracepoint {category}/{name} failed: {source}")]
    Attach {
        program: String,
        category: String,
        name: String,
        source: Box<ProgramError>,
    },
}

fn describe_program_error(program: &str, error: &ProgramError) -> String {
    match error {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if io_error.raw_os_error() == Some(libc::EPERM) {
                format!(
                    "the kernel refused to load eBPF program `{program}` (EPERM): BPF may be \
                     restricted on this machine (lockdown, sysctl kernel.unprivileged_bpf_disabled \
                     does not apply to root, or a security module); verifier said:\n{}",
                    tail.join("\n")
                )
            } else {
                format!(
                    "the kernel's verifier rejected eBPF program `{program}` ({io_error}):\n{}",
                    tail.join("\n")
                )
            }
        }
        other => format!("loading eBPF program `{program}` failed: {other}"),
    }
}
