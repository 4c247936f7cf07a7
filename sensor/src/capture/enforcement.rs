//! Loading the enforcement programs, where the kernel allows them: BPF LSM hooks (the synchronous
//! backend) and cgroup socket-address programs (the network backend without BPF LSM). Each
//! failure is kept with its reason, so the sensor can say what it enforces with.

use std::{
    fs,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use sensor_common::policy::PolicyOp;

use super::{kernel_layout, lsm_probe};

use aya::{
    Btf, Ebpf,
    programs::{
        CgroupAttachMode, CgroupSockAddr, Lsm, ProgramError, cgroup_sock_addr::CgroupSockAddrLink, lsm::LsmLink,
    },
};

/// The LSM hooks, by program name.
pub const LSM_HOOKS: [(&str, &str); 15] = [
    ("lsm_file_open", "file_open"),
    ("lsm_path_unlink", "path_unlink"),
    ("lsm_path_rmdir", "path_rmdir"),
    ("lsm_path_rename", "path_rename"),
    ("lsm_path_link", "path_link"),
    ("lsm_path_symlink", "path_symlink"),
    ("lsm_path_truncate", "path_truncate"),
    // Kernels since 6.2 truncate through `file_truncate` for ftruncate and O_TRUNC.
    ("lsm_file_truncate", "file_truncate"),
    ("lsm_bprm_check_security", "bprm_check_security"),
    ("lsm_socket_connect", "socket_connect"),
    // The destination of sendto/sendmsg (UDP, TCP Fast Open).
    ("lsm_socket_sendmsg", "socket_sendmsg"),
    // Hand-offs out of the session: a connect to a spawner's socket (ptrace-style access is
    // judged by `ptrace_access_check`, below).
    ("lsm_unix_stream_connect", "unix_stream_connect"),
    // Protecting the sensor itself.
    ("lsm_task_kill", "task_kill"),
    ("lsm_ptrace_access_check", "ptrace_access_check"),
    ("lsm_bpf", "bpf"),
];

/// The LSM hook that judges each operation.
pub fn lsm_hook(op: PolicyOp) -> &'static str {
    match op {
        PolicyOp::OpenRead | PolicyOp::OpenWrite => "file_open",
        PolicyOp::Unlink => "path_unlink",
        PolicyOp::Rmdir => "path_rmdir",
        PolicyOp::Exec => "bprm_check_security",
        PolicyOp::Connect => "socket_connect",
        PolicyOp::Rename | PolicyOp::RenameFrom => "path_rename",
        PolicyOp::Link => "path_link",
        PolicyOp::Symlink => "path_symlink",
        PolicyOp::Truncate => "path_truncate",
        PolicyOp::HandoffConnect => "unix_stream_connect",
        PolicyOp::HandoffAttach => "ptrace_access_check",
    }
}

/// The cgroup socket-address programs.
pub const CGROUP_CONNECT: [&str; 4] = [
    "cgroup_connect4",
    "cgroup_connect6",
    "cgroup_sendmsg4",
    "cgroup_sendmsg6",
];

const ACTIVE_LSMS: &str = "/sys/kernel/security/lsm";

/// Whether the sensor tries BPF LSM: `use_lsm` (`enforcement.lsm`) and the BPF LSM active;
/// otherwise why not.
pub fn lsm_wanted(use_lsm: bool) -> Result<(), String> {
    if use_lsm {
        bpf_lsm_active()
    } else {
        Err("BPF LSM is turned off in the configuration (enforcement.lsm: false)".into())
    }
}

/// Whether the BPF LSM is active (listed in the kernel's LSMs); otherwise why not.
fn bpf_lsm_active() -> Result<(), String> {
    let active = fs::read_to_string(ACTIVE_LSMS).unwrap_or_default();
    if active.trim().split(',').any(|lsm| lsm == "bpf") {
        Ok(())
    } else if active.is_empty() {
        Err(format!(
            "cannot read {ACTIVE_LSMS} (is securityfs mounted?), so BPF LSM cannot be confirmed active"
        ))
    } else {
        Err(format!(
            "the BPF LSM is not active (the kernel's LSMs are `{}`; boot with `lsm=…,bpf` to enable it)",
            active.trim()
        ))
    }
}

/// What loaded.
pub struct EnforcementPrograms {
    /// Hooks attached (by hook name).
    pub lsm_attached: Vec<&'static str>,
    /// Why BPF LSM is not used, when some hook is not attached.
    pub lsm_problem: Option<String>,
    /// Whether the cgroup programs loaded (they attach per cgroup, see `attach_cgroup`).
    pub cgroup_loaded: bool,
    pub cgroup_problem: Option<String>,
    /// Why the tracepoint backend cannot judge calls at their entry (unlink, rename, link,
    /// symlink, truncate), when it cannot.
    pub entry_policy_problem: Option<String>,
    lsm_links: Vec<LsmLink>,
    cgroup_links: Vec<CgroupSockAddrLink>,
}

impl EnforcementPrograms {
    /// Loads and attaches the LSM hooks and loads the cgroup programs. `lsm` is what the hooks
    /// need to know of the kernel's BTF, their attach points included, or why BPF LSM is not
    /// tried ([`lsm_wanted`]).
    /// `peer_layout`: the offsets of the `unix_stream_connect` hook were found (it stays off otherwise).
    pub fn load(ebpf: &mut Ebpf, lsm: Result<kernel_layout::LsmFacts, String>, peer_layout: bool) -> Self {
        let mut programs = EnforcementPrograms {
            lsm_attached: Vec::new(),
            lsm_problem: None,
            cgroup_loaded: false,
            cgroup_problem: None,
            entry_policy_problem: None,
            lsm_links: Vec::new(),
            cgroup_links: Vec::new(),
        };
        match lsm {
            Ok(kernel) => programs.load_lsm(ebpf, &kernel, peer_layout),
            Err(problem) => programs.lsm_problem = Some(problem),
        }
        programs.load_cgroup(ebpf);
        programs
    }

    /// Whether BPF LSM judges connections and datagrams (`socket_connect` and `socket_sendmsg`);
    /// otherwise the cgroup programs do.
    pub fn lsm_judges_network(&self) -> bool {
        self.lsm_attached.contains(&"socket_connect") && self.lsm_attached.contains(&"socket_sendmsg")
    }

    /// Whether BPF LSM judges every file operation (open, removal, rename, link, symlink,
    /// truncation), whatever door the call came through (syscall, 32-bit syscall, io_uring):
    /// the tracepoint backend's entry judgement then never runs, and is not loaded.
    pub fn lsm_judges_files(&self) -> bool {
        PolicyOp::ALL
            .into_iter()
            .filter(|op| !matches!(op, PolicyOp::Exec | PolicyOp::Connect) && !op.is_handoff())
            .all(|op| self.lsm_attached.contains(&lsm_hook(op)))
    }

    fn load_lsm(&mut self, ebpf: &mut Ebpf, kernel: &kernel_layout::LsmFacts, peer_layout: bool) {
        // Built for the first hook tried, unless the kernel refuses every LSM program anyway.
        let mut btf = None;
        let refused = kernel
            .attach_points
            .first()
            .is_some_and(|(_, id)| lsm_probe::refused_with_eperm(id))
            .then(|| describe_eperm().to_string());
        // The `bpf` hook's program depends on whether the kernel has BPF tokens (6.9+).
        let bpf_program = if kernel.bpf_has_token {
            "lsm_bpf_token"
        } else {
            "lsm_bpf"
        };
        for (name, hook) in LSM_HOOKS {
            let name = if hook == "bpf" { bpf_program } else { name };
            // A hook of 6.2+ (above).
            if hook == "file_truncate" && !kernel.attach_points.has(hook) {
                continue;
            }
            if hook == "unix_stream_connect" && !peer_layout {
                continue;
            }
            if hook == "socket_sendmsg"
                && let Err(reason) = &kernel.msghdr
            {
                tracing::warn!(%reason, "datagram destinations are judged by the cgroup programs only");
                continue;
            }
            let attached = match &refused {
                Some(reason) => Err(reason.clone()),
                None => attach_lsm(ebpf, name, hook, btf.get_or_insert_with(|| kernel.attach_points.btf()))
                    .map_err(|error| error.to_string()),
            };
            match attached {
                Ok(link) => {
                    self.lsm_links.push(link);
                    self.lsm_attached.push(hook);
                }
                Err(reason) => {
                    tracing::debug!(hook, %reason, "LSM hook unavailable");
                    self.lsm_problem.get_or_insert(reason);
                }
            }
        }
    }

    fn load_cgroup(&mut self, ebpf: &mut Ebpf) {
        for name in CGROUP_CONNECT {
            let loaded = ebpf
                .program_mut(name)
                .ok_or_else(|| format!("the eBPF object lacks `{name}`"))
                .and_then(|program| {
                    let program: &mut CgroupSockAddr = program.try_into().map_err(|e: ProgramError| e.to_string())?;
                    program.load().map_err(|error| describe(&error))
                });
            if let Err(reason) = loaded {
                let problem = format!("cgroup socket programs do not load: {reason}");
                // Said here as well: where BPF LSM judges connections, the start-up table does
                // not mention the cgroup programs.
                tracing::warn!("{problem}");
                self.cgroup_problem = Some(problem);
                return;
            }
        }
        self.cgroup_loaded = true;
    }

    /// Attaches the cgroup socket-address programs to the cgroup at `path` (they then judge every
    /// process in it and below). Links live as long as this value.
    pub fn attach_cgroup(&mut self, ebpf: &mut Ebpf, path: &Path) -> Result<(), AttachError> {
        if !self.cgroup_loaded {
            return Err(AttachError::NotLoaded(
                self.cgroup_problem.clone().unwrap_or_else(|| "not loaded".into()),
            ));
        }
        let cgroup = fs::File::open(path).map_err(|source| AttachError::OpenCgroup {
            path: path.to_path_buf(),
            source,
        })?;
        for name in CGROUP_CONNECT {
            let program: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or(AttachError::MissingProgram(name))?
                .try_into()?;
            let id = program
                .attach(cgroup.as_fd(), CgroupAttachMode::Single)
                .map_err(|error| AttachError::AttachCgroup {
                    name,
                    path: path.to_path_buf(),
                    reason: describe(&error),
                })?;
            let link = program.take_link(id)?;
            self.cgroup_links.push(link);
        }
        Ok(())
    }

    /// True when some cgroup has the socket programs attached.
    pub fn cgroup_attached(&self) -> bool {
        !self.cgroup_links.is_empty()
    }

    /// Detaches everything (each detach waits for an RCU grace period: in parallel, they overlap).
    pub fn detach(&mut self) {
        std::thread::scope(|scope| {
            for link in self.lsm_links.drain(..) {
                scope.spawn(move || drop(link));
            }
            for link in self.cgroup_links.drain(..) {
                scope.spawn(move || drop(link));
            }
        });
    }
}

/// Why an enforcement program did not load or attach.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The cgroup socket programs did not load (the reason is the load's).
    #[error("{0}")]
    NotLoaded(String),
    #[error("cannot open cgroup {}: {source}", path.display())]
    OpenCgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the eBPF object lacks `{0}`")]
    MissingProgram(&'static str),
    #[error("attaching {name} to {}: {reason}", path.display())]
    AttachCgroup {
        name: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The kernel refused the program (`describe` says why in one line).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Program(#[from] ProgramError),
}

fn attach_lsm(ebpf: &mut Ebpf, name: &'static str, hook: &str, btf: &Btf) -> Result<LsmLink, AttachError> {
    let program: &mut Lsm = ebpf
        .program_mut(name)
        .ok_or(AttachError::MissingProgram(name))?
        .try_into()?;
    let started = std::time::Instant::now();
    program
        .load(hook, btf)
        .map_err(|error| AttachError::Refused(describe(&error)))?;
    let verified = program.info().ok().and_then(|info| info.verified_instruction_count());
    tracing::debug!(program = name, elapsed = ?started.elapsed(), ?verified, "program verified and loaded");
    let id = program
        .attach()
        .map_err(|error| AttachError::Refused(describe(&error)))?;
    Ok(program.take_link(id)?)
}

/// Why no LSM program loads on a kernel that refuses them with EPERM.
fn describe_eperm() -> &'static str {
    "the kernel refuses to load BPF LSM programs here (EPERM)"
}

/// A one-line reason for a program that would not load or attach.
fn describe(error: &ProgramError) -> String {
    match error {
        ProgramError::LoadError { io_error, verifier_log } => {
            if io_error.raw_os_error() == Some(libc::EPERM) {
                describe_eperm().to_string()
            } else {
                let log = verifier_log.to_string();
                tracing::debug!(%log, "verifier log");
                // The verifier ends with statistics; its complaint is the line before them.
                let complaint = log
                    .lines()
                    .rev()
                    .map(str::trim)
                    .find(|line| {
                        !line.is_empty()
                            && !line.starts_with("processed ")
                            && !line.starts_with("verification time")
                            && !line.starts_with("stack depth")
                    })
                    .unwrap_or("");
                format!("the verifier rejected it ({io_error}): {complaint}")
            }
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}
