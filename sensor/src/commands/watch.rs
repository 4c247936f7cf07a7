//! `agent-sensor watch -- COMMAND`: runs one agent as a tracked session in its own cgroup and
//! records its whole process tree.
//!
//! No process of the session can escape by racing the sensor: COMMAND is started through a small
//! trampoline (`agent-sensor __session-exec`). Once the trampoline has started up it says so on a
//! socket pair and waits; the sensor puts it in the kernel's tracked map and in the session's
//! cgroup, answers, and only then does the trampoline execute COMMAND. The trampoline's own
//! start-up (dynamic loading and so on) is therefore not reported, COMMAND's exec is the first
//! event of the session, and nothing COMMAND does can happen before it is tracked.

use std::{
    ffi::OsString,
    io::{Read as _, Write as _},
    os::{fd::AsRawFd, unix::net::UnixStream},
    path::PathBuf,
    process::ExitStatus,
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid, User};
use tokio::signal::unix::{SignalKind, signal};

use super::{Outputs, report_counters};
use crate::{
    capture::{Capture, CaptureOptions, EventStream, environment, tracking},
    config::Config,
    control::{Registration, client},
    event::{Enricher, ecs::SensorContext},
    pipeline::Pipeline,
    process::{
        Origin, ProcessTable, Procfs, Session, SessionHome, agent_id,
        cgroup::{CgroupNames, SessionCgroup, find_cgroup2_mount},
        new_session_id,
    },
};

/// Options of `watch`.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub outputs: Outputs,
    pub name: Option<String>,
    pub user: Option<String>,
    pub command: Vec<OsString>,
}

/// The account COMMAND runs as.
#[derive(Clone, Debug)]
pub struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub name: String,
    pub home: PathBuf,
    pub shell: PathBuf,
}

impl RunAs {
    pub fn lookup(name: &str) -> Result<Self> {
        let user = User::from_name(name)
            .with_context(|| format!("looking up user `{name}`"))?
            .with_context(|| format!("there is no user `{name}` on this machine"))?;
        let c_name = std::ffi::CString::new(name).context("user names cannot contain NUL")?;
        let groups =
            nix::unistd::getgrouplist(&c_name, user.gid).with_context(|| format!("listing the groups of `{name}`"))?;
        Ok(Self {
            uid: user.uid,
            gid: user.gid,
            groups,
            name: user.name,
            home: user.dir,
            shell: user.shell,
        })
    }
}

/// Runs the command; returns the exit code `watch` should exit with.
pub fn run(options: WatchOptions) -> Result<i32> {
    if options.command.is_empty() {
        bail!("watch needs a command to run: agent-sensor watch [OPTIONS] -- COMMAND [ARGS...]");
    }
    let env = environment::check()?;
    let config = Config::load(options.outputs.config.as_deref())?;
    let network = Arc::new(crate::geo::Network::from_config(&config)?);
    let run_as = options.user.as_deref().map(RunAs::lookup).transpose()?;
    let (mut engine, outputs) = options.outputs.open(&config)?;
    let mode = options.outputs.mode.unwrap_or(config.enforcement.mode);

    let mut capture = Capture::load(
        &env,
        &CaptureOptions {
            ring_buffer_bytes: config.capture.ring_buffer_bytes,
            match_profiles: false,
            use_lsm: config.enforcement.lsm,
        },
    )?;
    let ring = capture.take_ring().context("the ring buffer was already taken")?;

    let session_id = new_session_id();
    let agent: Arc<str> = options
        .name
        .clone()
        .unwrap_or_else(|| program_name(&options.command[0]))
        .into();
    let hierarchy = find_cgroup2_mount()?;
    let cgroup = SessionCgroup::create(&hierarchy, &format!("watch-{}", agent_id(session_id)))?;
    if !capture.enforcement.lsm_attached.contains(&"socket_connect")
        && let Err(problem) = capture.attach_connect_programs(cgroup.path())
    {
        tracing::warn!(%problem, "connections of the session cannot be judged");
    }
    let mut enforcer = super::start_enforcement(&mut capture, &mut engine, mode)?;
    super::release_startup_memory();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let (mut control, trampoline_end) = UnixStream::pair().context("creating the start socket pair")?;
        let mut child = spawn_trampoline(&options.command, run_as.as_ref(), trampoline_end)?;
        let pid = child.id().context("the command exited before it started")?;
        let mut waiting = [0u8; 1];
        control
            .read_exact(&mut waiting)
            .context("the command's launcher exited before it was ready")?;

        tracking::track(&mut capture.tracked, pid, session_id, None).context("marking the session in the kernel")?;
        cgroup.attach(pid)?;
        let mut cgroups = CgroupNames::new(Some(hierarchy.clone()));
        if let Ok(id) = cgroup.id() {
            cgroups.insert(id, cgroup.relative());
        }
        let mut enricher = Enricher::new(
            ProcessTable::on_demand(Procfs::default()),
            cgroups,
            Vec::new(),
            SensorContext::current(),
        );
        enricher.set_network(network);
        let mut session = Session::new(session_id, agent.clone(), pid, Origin::Watch);
        session.working_directory = std::env::current_dir()
            .ok()
            .map(|dir| std::sync::Arc::from(dir.to_string_lossy().as_ref()));
        session.home = command_home(run_as.as_ref());
        enforcer.add_session(
            session_id,
            session.working_directory.as_deref(),
            session.home.as_ref().map(|home| &*home.dir),
            Some(cgroup.path().to_path_buf()),
        );
        enricher.sessions.start(session);
        let mut pipeline = Pipeline::new(enricher, Some(engine), outputs);
        pipeline.enforcer = Some(enforcer);
        pipeline.baseline = crate::baseline::Baselines::open(&config);
        let mut stream = EventStream::new(ring).context("watching the ring buffer")?;
        tracing::info!(
            session = %agent_id(session_id),
            agent = %agent,
            pid,
            cgroup = %cgroup.path().display(),
            "watching"
        );

        let _registration = register_with_daemon(
            &options
                .outputs
                .control_socket
                .clone()
                .unwrap_or_else(|| config.control.socket.clone()),
            Registration {
                session: agent_id(session_id),
                agent: agent.to_string(),
                root_pid: pid,
                watcher_pid: std::process::id(),
                cgroup: Some(cgroup.relative().to_string()),
                mode: mode.to_string(),
            },
        );

        // Let the trampoline execute the command now that it is tracked.
        control.write_all(&[1]).context("releasing the command")?;
        drop(control);

        let status = wait_for_command(&mut pipeline, &mut stream, &mut child, pid).await?;
        if let Some(baseline) = pipeline.baseline.as_mut() {
            baseline.finish();
        }
        pipeline.close_outputs();
        report_counters(&capture, &pipeline.stats);
        finish_cgroup(&cgroup);
        Ok(exit_code(status))
    })
}

/// The `HOME` COMMAND gets: the `--user`'s, or the one `watch` itself runs with.
fn command_home(run_as: Option<&RunAs>) -> Option<SessionHome> {
    let (uid, dir) = match run_as {
        Some(user) => (user.uid.as_raw(), user.home.to_string_lossy().into_owned()),
        None => (nix::unistd::getuid().as_raw(), std::env::var("HOME").ok()?),
    };
    let dir = dir.trim_end_matches('/');
    (!dir.is_empty()).then(|| SessionHome {
        uid,
        dir: std::sync::Arc::from(dir),
    })
}

/// The base name of the command, as the default agent name.
/// Lists the session with the running daemon, if there is one (until this watch ends).
fn register_with_daemon(socket: &std::path::Path, registration: Registration) -> Option<client::Registered> {
    if !socket.exists() {
        return None;
    }
    match client::register(socket, registration) {
        Ok(registered) => {
            tracing::info!(socket = %socket.display(), "session registered with the daemon");
            Some(registered)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot register the session with the daemon; watching anyway");
            None
        }
    }
}

fn program_name(command: &OsString) -> String {
    let text = command.to_string_lossy();
    text.rsplit('/').next().unwrap_or(&text).to_string()
}

fn spawn_trampoline(command: &[OsString], run_as: Option<&RunAs>, ready: UnixStream) -> Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("finding the agent-sensor executable")?;
    let mut trampoline = tokio::process::Command::new(exe);
    trampoline.arg("__session-exec").arg("--control-fd").arg("3");
    if let Some(user) = run_as {
        let groups: Vec<String> = user.groups.iter().map(|g| g.as_raw().to_string()).collect();
        trampoline
            .arg("--uid")
            .arg(user.uid.as_raw().to_string())
            .arg("--gid")
            .arg(user.gid.as_raw().to_string())
            .arg("--groups")
            .arg(groups.join(","))
            .env("HOME", &user.home)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name)
            .env("SHELL", &user.shell);
    }
    trampoline.arg("--").args(command);
    let fd = ready.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) run between fork and exec.
    unsafe {
        trampoline.pre_exec(move || {
            if fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = trampoline.spawn().context("starting the command")?;
    drop(ready);
    Ok(child)
}

/// Pumps events until the command exits; Ctrl-C goes to the command (same terminal process
/// group), not to the sensor, and SIGTERM/SIGHUP sent to the sensor are passed on to it.
async fn wait_for_command(
    pipeline: &mut Pipeline,
    stream: &mut EventStream,
    child: &mut tokio::process::Child,
    pid: u32,
) -> Result<ExitStatus> {
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut quit = signal(SignalKind::quit()).context("handling SIGQUIT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("handling SIGHUP")?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let stop = async {
        let _ = done_rx.await;
    };
    let waiter = async {
        loop {
            tokio::select! {
                status = child.wait() => {
                    let _ = done_tx.send(());
                    return status;
                }
                _ = interrupt.recv() => {}
                _ = quit.recv() => {}
                _ = terminate.recv() => forward(pid, nix::sys::signal::Signal::SIGTERM),
                _ = hangup.recv() => forward(pid, nix::sys::signal::Signal::SIGHUP),
            }
        }
    };
    let (pumped, status) = tokio::join!(pipeline.run_until(stream, stop), waiter);
    pumped.context("reading events")?;
    status.context("waiting for the command")
}

fn forward(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

fn finish_cgroup(cgroup: &SessionCgroup) {
    // Processes killed a moment ago (a kill-tree) leave the cgroup as they finish dying.
    let mut left = cgroup.pids();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = cgroup.pids();
    }
    if left.is_empty() {
        if let Err(error) = cgroup.remove() {
            tracing::debug!(%error, "could not remove the session cgroup");
        }
    } else {
        tracing::warn!(
            processes = left.len(),
            cgroup = %cgroup.path().display(),
            "processes of the session are still running after the command exited; they are no longer watched"
        );
    }
}

/// The shell convention: the exit status, or 128 + the signal that killed the command.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}
