//! Loads the kernel programs with this kernel's offsets, attaches them to their tracepoints, and
//! hands out the maps userspace works with.

use std::path::Path;

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{ProgramError, TracePoint, trace_point::TracePointLink},
};
use sensor_common::{
    layout::CaptureSettings,
    maps::{
        COUNTERS_MAP, EVENTS_MAP, EXEC_NAMES_MAP, EXEC_POLICY_PROGRAM, ExecMatch, OPEN_POLICY_PROGRAM,
        REMOVE_POLICY_PROGRAM, TAIL_EXEC_POLICY, TAIL_OPEN_POLICY, TAIL_REMOVE_POLICY, TAILS_MAP, TRACKED_MAP,
        TrackedProcess,
    },
    policy::{
        KILLED_MAP, POLICY_CIDRS_MAP, POLICY_CONFIG_MAP, POLICY_DIRS_MAP, POLICY_FILES_MAP, POLICY_PROGRAMS_MAP,
        POLICY_RULES_MAP, WORKSPACES_MAP,
    },
};

use super::{
    enforcement::EnforcementPrograms,
    environment::{Environment, has_tracepoint},
    kernel_layout, tracepoint_format,
};
use crate::enforce::PolicyMaps;

/// The kernel programs, built by `sensor/build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf.o"));

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

/// How to load the programs.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Size of the ring buffer in bytes (a power of two, a multiple of the page size).
    pub ring_buffer_bytes: u32,
    /// Start sessions in the kernel when an exec matches an agent profile.
    pub match_profiles: bool,
    /// Try BPF LSM hooks for enforcement (otherwise the fallbacks judge).
    pub use_lsm: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: 16 * 1024 * 1024,
            match_profiles: false,
            use_lsm: true,
        }
    }
}

/// Syscalls whose entry and exit are captured. `openat` is required (checked by
/// `environment::check`); the others are skipped where the kernel lacks them (arm64 has no
/// `open`, `creat`, `unlink` or `rmdir`; kernels before 5.6 have no `openat2`).
const SYSCALLS: [&str; 10] = [
    "openat", "open", "openat2", "creat", "unlinkat", "unlink", "rmdir", "connect", "chdir", "fchdir",
];

/// Loaded and attached kernel programs, and the maps userspace uses.
pub struct Capture {
    /// Owns the loaded programs.
    ebpf: Ebpf,
    /// The enforcement programs that loaded, and why the others did not.
    pub enforcement: EnforcementPrograms,
    /// The policy maps (taken by the enforcer).
    policy: Option<PolicyMaps>,
    /// A second handle on `tracked` (taken by the enforcer, which looks up sessions' processes).
    tracked_view: Option<HashMap<MapData, u32, TrackedProcess>>,
    /// One link per attached tracepoint; dropping a link detaches it.
    links: Vec<TracePointLink>,
    pub tracked: HashMap<MapData, u32, TrackedProcess>,
    pub exec_names: HashMap<MapData, u64, ExecMatch>,
    pub counters: PerCpuArray<MapData, u64>,
    ring: Option<RingBuf<MapData>>,
    /// `category/name` of every tracepoint attached.
    pub attached: Vec<String>,
    /// Optional tracepoints this kernel lacks.
    pub missing: Vec<String>,
}

impl Capture {
    pub fn load(env: &Environment, options: &CaptureOptions) -> Result<Self, LoadError> {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u32;
        let size = options.ring_buffer_bytes;
        if !size.is_power_of_two() || size < page {
            return Err(LoadError::RingSize(size));
        }
        let started = std::time::Instant::now();
        let layout = kernel_layout::load(Path::new(kernel_layout::VMLINUX_BTF))?;
        let tracepoints = tracepoint_format::load(&env.tracefs)?;
        tracing::debug!(elapsed = ?started.elapsed(), "kernel layout derived");
        let settings = CaptureSettings {
            match_profiles: options.match_profiles as u32,
            sensor_tgid: std::process::id(),
        };
        let mut ebpf = EbpfLoader::new()
            .override_global("KERNEL_LAYOUT", &layout, true)
            .override_global("TRACEPOINT_LAYOUT", &tracepoints, true)
            .override_global("CAPTURE_SETTINGS", &settings, true)
            .map_max_entries(EVENTS_MAP, size)
            .load(OBJECT)
            .map_err(LoadError::Maps)?;

        // Tail-called programs go in before the programs that call them.
        load_tail(&mut ebpf, EXEC_POLICY_PROGRAM, TAIL_EXEC_POLICY)?;
        load_tail(&mut ebpf, REMOVE_POLICY_PROGRAM, TAIL_REMOVE_POLICY)?;
        load_tail(&mut ebpf, OPEN_POLICY_PROGRAM, TAIL_OPEN_POLICY)?;
        let mut attached = Vec::new();
        let mut missing = Vec::new();
        let mut links = Vec::new();
        for (program, category, name) in [
            ("sched_process_exec", "sched", "sched_process_exec"),
            ("task_newtask", "task", "task_newtask"),
            ("sched_process_exit", "sched", "sched_process_exit"),
        ] {
            links.extend(attach(&mut ebpf, program, &[(category, name)])?);
            attached.push(format!("{category}/{name}"));
        }
        let mut exits = Vec::new();
        for syscall in SYSCALLS {
            let enter = format!("sys_enter_{syscall}");
            let exit = format!("sys_exit_{syscall}");
            let present =
                has_tracepoint(&env.tracefs, "syscalls", &enter) && has_tracepoint(&env.tracefs, "syscalls", &exit);
            if !present {
                missing.push(format!("syscalls/{enter}"));
                continue;
            }
            links.extend(attach(&mut ebpf, &enter, &[("syscalls", &enter)])?);
            attached.push(format!("syscalls/{enter}"));
            exits.push(exit);
        }
        let exit_points: Vec<(&str, &str)> = exits.iter().map(|exit| ("syscalls", exit.as_str())).collect();
        links.extend(attach(&mut ebpf, "sys_exit", &exit_points)?);
        attached.extend(exits.iter().map(|exit| format!("syscalls/{exit}")));

        let enforcement = EnforcementPrograms::load(&mut ebpf, options.use_lsm);
        // Protecting the sensor: where an LSM hook judges signals, ptrace or bpf(), its
        // tracepoint would only report the same call twice.
        for (program, category, name, hook) in [
            ("signal_generate", "signal", "signal_generate", Some("task_kill")),
            (
                "sys_enter_ptrace",
                "syscalls",
                "sys_enter_ptrace",
                Some("ptrace_access_check"),
            ),
            ("sys_enter_bpf", "syscalls", "sys_enter_bpf", Some("bpf")),
        ] {
            if hook.is_some_and(|hook| enforcement.lsm_attached.contains(&hook)) {
                continue;
            }
            if !has_tracepoint(&env.tracefs, category, name) {
                missing.push(format!("{category}/{name}"));
                continue;
            }
            links.extend(attach(&mut ebpf, program, &[(category, name)])?);
            attached.push(format!("{category}/{name}"));
        }
        tracing::debug!(elapsed = ?started.elapsed(), "programs loaded and attached");
        let policy = PolicyMaps {
            config: take_map(&mut ebpf, POLICY_CONFIG_MAP)?,
            rules: take_map(&mut ebpf, POLICY_RULES_MAP)?,
            files: take_map(&mut ebpf, POLICY_FILES_MAP)?,
            dirs: take_map(&mut ebpf, POLICY_DIRS_MAP)?,
            programs: take_map(&mut ebpf, POLICY_PROGRAMS_MAP)?,
            cidrs: take_map(&mut ebpf, POLICY_CIDRS_MAP)?,
            workspaces: take_map(&mut ebpf, WORKSPACES_MAP)?,
            killed: take_map(&mut ebpf, KILLED_MAP)?,
        };
        let tracked_map = ebpf.take_map(TRACKED_MAP).ok_or(LoadError::MissingMap(TRACKED_MAP))?;
        let tracked_view = second_handle(&tracked_map)?;
        let tracked = HashMap::try_from(tracked_map).map_err(|source| LoadError::Map {
            name: TRACKED_MAP,
            source,
        })?;
        let exec_names = take_map(&mut ebpf, EXEC_NAMES_MAP)?;
        let counters = take_map(&mut ebpf, COUNTERS_MAP)?;
        let ring = take_map(&mut ebpf, EVENTS_MAP)?;
        Ok(Self {
            ebpf,
            enforcement,
            policy: Some(policy),
            tracked_view: Some(tracked_view),
            links,
            tracked,
            exec_names,
            counters,
            ring: Some(ring),
            attached,
            missing,
        })
    }

    /// The ring buffer, once (the event loop owns it).
    pub fn take_ring(&mut self) -> Option<RingBuf<MapData>> {
        self.ring.take()
    }

    /// The policy maps, once (the enforcer owns them).
    pub fn take_policy_maps(&mut self) -> Option<PolicyMaps> {
        self.policy.take()
    }

    /// A second handle on the tracked-process map, once.
    pub fn take_tracked_view(&mut self) -> Option<HashMap<MapData, u32, TrackedProcess>> {
        self.tracked_view.take()
    }

    /// Attaches the network enforcement programs to the cgroup at `path`.
    pub fn attach_connect_programs(&mut self, path: &Path) -> Result<(), String> {
        self.enforcement.attach_cgroup(&mut self.ebpf, path)
    }
}

impl Drop for Capture {
    /// Detaches every tracepoint at once: each detach waits for an RCU grace period, so one
    /// after the other they take over a second; in parallel the waits overlap.
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        let enforcement = &mut self.enforcement;
        std::thread::scope(|scope| {
            for link in links {
                scope.spawn(move || drop(link));
            }
            scope.spawn(|| enforcement.detach());
        });
    }
}

/// Loads tracepoint program `name` without attaching it, as entry `index` of the tail-call map.
fn load_tail(ebpf: &mut Ebpf, name: &str, index: u32) -> Result<(), LoadError> {
    let failed = |error| LoadError::Program {
        program: name.to_string(),
        error: Box::new(error),
    };
    let program: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| LoadError::MissingProgram(name.to_string()))?
        .try_into()
        .map_err(failed)?;
    program.load().map_err(failed)?;
    let fd = program
        .fd()
        .map_err(failed)?
        .try_clone()
        .map_err(LoadError::Duplicate)?;
    let map = ebpf.map_mut(TAILS_MAP).ok_or(LoadError::MissingMap(TAILS_MAP))?;
    let mut tails = aya::maps::ProgramArray::try_from(map).map_err(|source| LoadError::Map {
        name: TAILS_MAP,
        source,
    })?;
    tails.set(index, &fd, 0).map_err(|source| LoadError::Map {
        name: TAILS_MAP,
        source,
    })
}

/// Another handle on the tracked-process map (a duplicated file descriptor).
fn second_handle(map: &aya::maps::Map) -> Result<HashMap<MapData, u32, TrackedProcess>, LoadError> {
    use std::os::fd::AsFd as _;
    let failed = |source| LoadError::Map {
        name: TRACKED_MAP,
        source,
    };
    let aya::maps::Map::HashMap(data) = map else {
        return Err(LoadError::MissingMap(TRACKED_MAP));
    };
    let fd = data.fd().as_fd().try_clone_to_owned().map_err(LoadError::Duplicate)?;
    let data = MapData::from_fd(fd).map_err(failed)?;
    HashMap::try_from(aya::maps::Map::HashMap(data)).map_err(failed)
}

fn take_map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, LoadError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or(LoadError::MissingMap(name))?;
    T::try_from(map).map_err(|source| LoadError::Map { name, source })
}

/// Loads program `name` (once) and attaches it to every tracepoint in `points`; returns the links.
fn attach(ebpf: &mut Ebpf, name: &str, points: &[(&str, &str)]) -> Result<Vec<TracePointLink>, LoadError> {
    let program: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| LoadError::MissingProgram(name.to_string()))?
        .try_into()
        .map_err(|error| LoadError::Program {
            program: name.to_string(),
            error: Box::new(error),
        })?;
    let started = std::time::Instant::now();
    program.load().map_err(|error| LoadError::Program {
        program: name.to_string(),
        error: Box::new(error),
    })?;
    tracing::debug!(program = name, elapsed = ?started.elapsed(), "program verified and loaded");
    let mut links = Vec::with_capacity(points.len());
    for (category, point) in points {
        let failed = |source| LoadError::Attach {
            program: name.to_string(),
            category: category.to_string(),
            name: point.to_string(),
            source: Box::new(source),
        };
        let id = program.attach(category, point).map_err(failed)?;
        links.push(program.take_link(id).map_err(failed)?);
    }
    Ok(links)
}
