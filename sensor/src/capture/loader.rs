//! Loads the kernel programs with this kernel's offsets, attaches them to their tracepoints, and
//! hands out the maps userspace works with.

use std::path::Path;

use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{RawTracePoint, TracePoint, raw_trace_point::RawTracePointLink, trace_point::TracePointLink},
};
use sensor_common::{
    layout::CaptureSettings,
    maps::{
        COUNTERS_MAP, EVENTS_MAP, EXEC_NAMES_MAP, ExecMatch, PRIORITY_MAP, SESSION_LOSS_MAP, SPAWNERS_MAP, TRACKED_MAP,
        TrackedProcess, WAKE_MAP,
    },
    policy::{
        ESCALATION_MAP, KILLED_MAP, POLICY_CIDRS_MAP, POLICY_CONFIG_MAP, POLICY_DIRS_MAP, POLICY_FILES_MAP,
        POLICY_PROGRAMS_MAP, POLICY_RULES_MAP, PROTECTED_MAP, SCRIPT_HOSTS_MAP, WORKSPACES_MAP,
    },
};

pub use super::load_error::LoadError;
use super::{
    enforcement::{self, AttachError, EnforcementPrograms},
    environment::{Environment, has_tracepoint},
    kernel_layout,
    policy_maps::PolicyMaps,
    preload::Preload,
    tails, tracepoint_format,
};

/// The kernel programs, built by `sensor/build.rs`.
pub(super) static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf.o"));

/// How to load the programs.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Size of the ring buffer in bytes (a power of two, a multiple of the page size).
    pub ring_buffer_bytes: u32,
    /// Start sessions in the kernel when an exec matches an agent profile.
    pub match_profiles: bool,
    /// Try BPF LSM hooks for enforcement (otherwise the fallbacks judge).
    pub use_lsm: bool,
    /// Size of the priority ring (records that hit a kernel rule or a protected file).
    pub priority_ring_bytes: u32,
    /// Identical operations of a thread within this window are counted into one record.
    pub repeat_window: std::time::Duration,
    /// The event ring's reader is woken at most once per interval (0: at every record).
    pub wakeup_interval: std::time::Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: 4 * 1024 * 1024,
            match_profiles: false,
            use_lsm: true,
            priority_ring_bytes: 256 * 1024,
            repeat_window: std::time::Duration::from_secs(1),
            wakeup_interval: std::time::Duration::from_millis(1),
        }
    }
}

/// The 64-bit syscalls whose exit is captured (their entry goes through the `sys_enter` raw
/// tracepoint with every other call). `openat` is required (checked by `environment::check`);
/// the others are skipped where the kernel lacks them (arm64 has no `open`, `creat`, `unlink`,
/// `rmdir`, `rename`, …; kernels before 5.6 have no `openat2`, before 6.6 no `fchmodat2`).
const EXITS: [&str; 45] = [
    "openat",
    "open",
    "openat2",
    "creat",
    "unlinkat",
    "unlink",
    "rmdir",
    "connect",
    "chdir",
    "fchdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
    "ftruncate",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "mount",
    "move_mount",
    "umount2",
    "mkdir",
    "mkdirat",
    "execve",
    "execveat",
    "unshare",
    "setns",
    "memfd_create",
    "bind",
    "listen",
    "ptrace",
    "process_vm_writev",
    "io_uring_setup",
];

/// `VmHWM` of this process in bytes.
fn high_water_mark() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The ring buffers the kernel programs write to.
pub struct Rings {
    pub events: RingBuf<MapData>,
    pub priority: Option<RingBuf<MapData>>,
    /// The reader's clock (`WAKE_MAP`), where the reader says when it will look again.
    pub wake: Option<Array<MapData, u64>>,
}

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
    raw_links: Vec<RawTracePointLink>,
    pub tracked: HashMap<MapData, u32, TrackedProcess>,
    pub exec_names: HashMap<MapData, u64, ExecMatch>,
    /// Spawner programs for the hand-off hook (see `spawners`).
    pub(super) spawners: HashMap<MapData, u64, u32>,
    pub counters: PerCpuArray<MapData, u64>,
    ring: Option<RingBuf<MapData>>,
    priority_ring: Option<RingBuf<MapData>>,
    session_loss: Option<HashMap<MapData, u64, u64>>,
    wake: Option<Array<MapData, u64>>,
    /// `category/name` of every tracepoint attached.
    pub attached: Vec<String>,
    /// Optional tracepoints this kernel lacks.
    pub missing: Vec<String>,
    /// The most memory the process had held (`VmHWM`, bytes) just before the ring buffers were
    /// mapped: start-up's peak (the rings' pages are the kernel's, and count once mapped).
    pub peak_before_rings: Option<u64>,
}

impl Capture {
    /// `preload`: the loader, created before the rules were compiled.
    pub fn load(env: &Environment, options: &CaptureOptions, preload: Preload) -> Result<Self, LoadError> {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u32;
        let size = options.ring_buffer_bytes;
        if !size.is_power_of_two() || size < page {
            return Err(LoadError::RingSize(size));
        }
        let started = std::time::Instant::now();
        let kernel = kernel_layout::read(Path::new(kernel_layout::VMLINUX_BTF))?;
        let layout = kernel_layout::load(&kernel)?;
        let tracepoints = tracepoint_format::load(&env.tracefs)?;
        let (tp_req, tp_opcode) = tracepoint_format::io_uring_submit(&env.tracefs);
        let io_uring = kernel_layout::io_uring(&kernel, tp_req, tp_opcode);
        let peer = kernel_layout::peer(&kernel).unwrap_or_else(|error| {
            tracing::warn!(%error, "hand-offs over unix sockets cannot be judged in the kernel");
            sensor_common::layout::PeerLayout::default()
        });
        // Asked of the BTF only where the hooks will be tried.
        let lsm_facts = enforcement::lsm_wanted(options.use_lsm).map(|()| kernel_layout::LsmFacts::of(&kernel));
        // Unmapped before the programs load: its pages count in the sensor's memory while mapped.
        drop(kernel);
        let mut raw_links = Vec::new();
        tracing::debug!(elapsed = ?started.elapsed(), "kernel layout derived");
        let settings = CaptureSettings {
            match_profiles: options.match_profiles as u32,
            sensor_tgid: std::process::id(),
            repeat_window_ns: options.repeat_window.as_nanos() as u64,
            wakeup_interval_ns: options.wakeup_interval.as_nanos() as u64,
        };
        let Preload { mut loader } = preload;
        loader
            .override_global("KERNEL_LAYOUT", &layout, true)
            .override_global("TRACEPOINT_LAYOUT", &tracepoints, true)
            .override_global("IO_URING_LAYOUT", &io_uring, true)
            .override_global("PEER_LAYOUT", &peer, true)
            .override_global("CAPTURE_SETTINGS", &settings, true)
            .map_max_entries(EVENTS_MAP, size)
            .map_max_entries(PRIORITY_MAP, options.priority_ring_bytes);
        if let Some(entries) = tracked_map_size_for_tests() {
            tracing::warn!(entries, "test-only: the tracked-process map is shrunk");
            loader.map_max_entries(TRACKED_MAP, entries);
        }
        let mut ebpf = loader.load(OBJECT).map_err(LoadError::Maps)?;
        drop(loader);

        // The enforcement programs first: where BPF LSM judges every file operation, the
        // tracepoint backend's judgements are not needed. Tail-called programs go in before the
        // programs that call them are attached.
        let mut enforcement = EnforcementPrograms::load(&mut ebpf, lsm_facts, peer.valid != 0);
        let mut entry_policy_problem = None;
        for (tail, outcome) in tails::load(&mut ebpf, &tails::wanted(enforcement.lsm_judges_files())) {
            match outcome {
                Err(error) if tails::ENTRY_POLICY_PROGRAMS.contains(&tail.name) => {
                    tracing::warn!(program = tail.name, %error, "the kernel refused the entry judgement of the tracepoint backend");
                    entry_policy_problem.get_or_insert_with(|| {
                        format!(
                            "this kernel's verifier refused the program `{}` (too complex for it)",
                            tail.name
                        )
                    });
                }
                other => other?,
            }
        }
        enforcement.entry_policy_problem = entry_policy_problem;
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
        raw_links.push(attach_raw(&mut ebpf, "sys_enter", "sys_enter")?);
        attached.push("raw_syscalls/sys_enter (raw)".to_string());
        let mut exits = Vec::new();
        for syscall in EXITS {
            let exit = format!("sys_exit_{syscall}");
            if has_tracepoint(&env.tracefs, "syscalls", &exit) {
                exits.push(exit);
            } else {
                missing.push(format!("syscalls/{exit}"));
            }
        }
        let exit_points: Vec<(&str, &str)> = exits.iter().map(|exit| ("syscalls", exit.as_str())).collect();
        links.extend(attach(&mut ebpf, "sys_exit", &exit_points)?);
        attached.push(format!("syscalls/sys_exit_* ({} calls)", exits.len()));
        if io_uring.tp_req != sensor_common::layout::FIELD_ABSENT {
            links.extend(attach(
                &mut ebpf,
                "io_uring_submit_req",
                &[("io_uring", "io_uring_submit_req")],
            )?);
            attached.push("io_uring/io_uring_submit_req".to_string());
        } else {
            missing.push("io_uring/io_uring_submit_req".to_string());
        }

        // Protecting the sensor: where the LSM hook judges signals, the tracepoint would only
        // report the same call twice (ptrace and bpf() are seen at syscall entry).
        if !enforcement.lsm_attached.contains(&"task_kill") {
            if has_tracepoint(&env.tracefs, "signal", "signal_generate") {
                links.extend(attach(&mut ebpf, "signal_generate", &[("signal", "signal_generate")])?);
                attached.push("signal/signal_generate".to_string());
            } else {
                missing.push("signal/signal_generate".to_string());
            }
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
            protected: take_map(&mut ebpf, PROTECTED_MAP)?,
            escalation: take_map(&mut ebpf, ESCALATION_MAP)?,
            script_hosts: take_map(&mut ebpf, SCRIPT_HOSTS_MAP)?,
        };
        let tracked_map = ebpf.take_map(TRACKED_MAP).ok_or(LoadError::MissingMap(TRACKED_MAP))?;
        let tracked_view = second_handle(&tracked_map)?;
        let tracked = HashMap::try_from(tracked_map).map_err(|source| LoadError::Map {
            name: TRACKED_MAP,
            source,
        })?;
        let exec_names = take_map(&mut ebpf, EXEC_NAMES_MAP)?;
        let spawners = take_map(&mut ebpf, SPAWNERS_MAP)?;
        let counters = take_map(&mut ebpf, COUNTERS_MAP)?;
        let peak_before_rings = high_water_mark();
        let ring = take_map(&mut ebpf, EVENTS_MAP)?;
        let priority_ring = take_map(&mut ebpf, PRIORITY_MAP)?;
        let session_loss = take_map(&mut ebpf, SESSION_LOSS_MAP)?;
        let wake = take_map(&mut ebpf, WAKE_MAP)?;
        Ok(Self {
            ebpf,
            enforcement,
            policy: Some(policy),
            tracked_view: Some(tracked_view),
            links,
            raw_links,
            tracked,
            exec_names,
            spawners,
            counters,
            ring: Some(ring),
            priority_ring: Some(priority_ring),
            session_loss: Some(session_loss),
            wake: Some(wake),
            attached,
            missing,
            peak_before_rings,
        })
    }

    /// The ring buffers (events, priority), once (the event loop owns them).
    pub fn take_rings(&mut self) -> Option<Rings> {
        Some(Rings {
            events: self.ring.take()?,
            priority: self.priority_ring.take(),
            wake: self.wake.take(),
        })
    }

    /// Records the kernel dropped per session since start (session id, count).
    pub fn session_losses(&self) -> Vec<(u64, u64)> {
        let Some(map) = &self.session_loss else {
            return Vec::new();
        };
        map.iter().filter_map(Result::ok).collect()
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
    pub fn attach_connect_programs(&mut self, path: &Path) -> Result<(), AttachError> {
        self.enforcement.attach_cgroup(&mut self.ebpf, path)
    }
}

impl Drop for Capture {
    /// Detaches every tracepoint at once: each detach waits for an RCU grace period, so one
    /// after the other they take over a second; in parallel the waits overlap.
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        let raw_links = std::mem::take(&mut self.raw_links);
        let enforcement = &mut self.enforcement;
        std::thread::scope(|scope| {
            for link in links {
                scope.spawn(move || drop(link));
            }
            for link in raw_links {
                scope.spawn(move || drop(link));
            }
            scope.spawn(|| enforcement.detach());
        });
    }
}

/// Loads the raw tracepoint program `name` and attaches it to `tracepoint`.
fn attach_raw(ebpf: &mut Ebpf, name: &str, tracepoint: &str) -> Result<RawTracePointLink, LoadError> {
    let failed = |error| LoadError::Program {
        program: name.to_string(),
        error: Box::new(error),
    };
    let program: &mut RawTracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| LoadError::MissingProgram(name.to_string()))?
        .try_into()
        .map_err(failed)?;
    program.load().map_err(failed)?;
    let attach_failed = |source| LoadError::Attach {
        program: name.to_string(),
        category: "raw_syscalls".to_string(),
        name: tracepoint.to_string(),
        source: Box::new(source),
    };
    let id = program.attach(tracepoint).map_err(attach_failed)?;
    program.take_link(id).map_err(attach_failed)
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

/// Test-only (docs/reliability.md): `AGENT_SENSOR_TEST_MAX_TRACKED=N` shrinks the tracked-process
/// map to N entries at load time, so the end-to-end tests can fill it with a few processes.
fn tracked_map_size_for_tests() -> Option<u32> {
    std::env::var("AGENT_SENSOR_TEST_MAX_TRACKED")
        .ok()?
        .parse()
        .ok()
        .filter(|&entries| entries > 0)
}
