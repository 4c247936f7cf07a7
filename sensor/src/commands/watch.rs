//! `agent-sensor watch -- COMMAND`: runs one agent as a tracked session in its own cgroup and
//! records its whole process tree.
//!
//! No process of the session can escape by racing the sensor: COMMAND is started through a small
//! trampoline (`agent-sensor __session-exec`). Once the trampoline has started up it says so on a
//! socket pair and waits; the sensor puts it in the kernel's tracked map and in the session's
//! cgroup, answers, and only then does the trampoline execute COMMAND. The trampoline's own
//! start-up (dynamic loading and so on) is therefore not reported, COMMAND's exec is the first
//! event of the session, and nothing COMMAND does can happen before it is tracked.
//!
//! When COMMAND exits, processes it left in the session's cgroup are still tracked: `watch` waits
//! for them or kills them (`supervise`), so no work of the agent runs on unwatched.

mod supervise;

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

use self::supervise::{Ended, Supervised};
use super::{
    Outputs,
    startup::{self, Prepared},
};
use crate::{
    capture::{EventStream, KernelCounters, RING_LINGER, tracking},
    cli::OnExit,
    control::{Registration, client},
    enforce::SessionLink,
    event::{Enricher, ecs::SensorContext},
    pipeline::Pipeline,
    process::{
        Origin, ProcessTable, Procfs, Session, SessionHome, agent_id,
        cgroup::{CgroupKind, CgroupNames, SessionCgroup, SessionCgroups, find_cgroup2_mount},
        new_session_id,
    },
};

/// Options of `watch`.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub outputs: Outputs,
    pub name: Option<String>,
    pub user: Option<String>,
    /// What happens to processes COMMAND leaves running.
    pub on_exit: OnExit,
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
    let mut prepared = Prepared::load(&options.outputs)?;
    let run_as = options.user.as_deref().map(RunAs::lookup).transpose()?;
    let (mut capture, rings) = prepared.capture(false)?;

    let session_id = new_session_id();
    let agent: Arc<str> = options
        .name
        .clone()
        .unwrap_or_else(|| program_name(&options.command[0]))
        .into();
    let hierarchy = find_cgroup2_mount()?;
    let cgroup = SessionCgroup::for_session(&hierarchy, CgroupKind::Watch, session_id)?;
    if let Err(problem) = capture.attach_connect_programs(cgroup.path()) {
        tracing::warn!(%problem, "the session's datagrams, Fast Open and io_uring connects are not reported (and without BPF LSM not judged)");
    }
    let mut enforcer = prepared.enforce(&mut capture)?;
    super::startup_memory::release(capture.peak_before_rings);
    let Prepared {
        config,
        network,
        engine,
        outputs,
        mode,
        ..
    } = prepared;

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
        let mut names = CgroupNames::new(Some(hierarchy.clone()));
        if let Ok(id) = cgroup.id() {
            names.insert(id, cgroup.relative());
        }
        let mut cgroups = SessionCgroups::new(hierarchy.clone());
        cgroups.insert(session_id, CgroupKind::Watch, cgroup.clone());
        let changes = cgroups.subscribe();
        enforcer.link_sessions(SessionLink {
            requests: cgroups.requester(),
            changes: cgroups.subscribe(),
        });
        let mut enricher = Enricher::new(
            ProcessTable::on_demand(Procfs::default()),
            names,
            Vec::new(),
            SensorContext::current(),
        );
        enricher.set_network(network);
        enricher.set_handoff(&config.handoff);
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
        let mut pipeline = startup::pipeline(enricher, engine, outputs, Some(enforcer), &config, true);
        let mut stream = EventStream::new(rings, RING_LINGER).context("watching the ring buffers")?;
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

        let ended = Supervised {
            child: &mut child,
            pid,
            session: session_id,
            cgroups: &mut cgroups,
            changes,
            tracked: &capture.tracked,
            on_exit: options.on_exit,
        };
        let mut health = super::health::Health::new(&config.loss_alert);
        let mut check_health = |pipeline: &mut Pipeline| {
            let kernel = KernelCounters::read(&capture.counters);
            let outputs = pipeline.outputs.stats();
            health.tick(pipeline, &capture, &kernel, &outputs);
        };
        let ended = run_until_ended(&mut pipeline, &mut stream, ended, &mut check_health).await?;
        // Records lost in the session's last moments are alerted too, before the outputs close.
        check_health(&mut pipeline);
        tracing::info!(
            session = %agent_id(session_id),
            exit_code = exit_code(ended.status),
            left_running = ended.left_running,
            killed = ended.killed,
            on_exit = ?options.on_exit,
            "session summary"
        );
        startup::finish(&mut pipeline, &capture);
        if !cgroups.remove_if_empty(session_id) {
            tracing::warn!(cgroup = %cgroup.path().display(), "the session cgroup could not be removed");
        }
        Ok(exit_code(ended.status))
    })
}

/// Pumps events while the session is supervised, then drains what is left. Both get a turn on
/// every round (`select!` polls its branches in random order), so signals and the session's
/// cgroup are handled however far behind the events are.
async fn run_until_ended(
    pipeline: &mut Pipeline,
    stream: &mut EventStream,
    supervised: Supervised<'_>,
    mut each_second: impl FnMut(&mut Pipeline),
) -> Result<Ended> {
    let supervisor = supervised.run();
    tokio::pin!(supervisor);
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    let ended = loop {
        tokio::select! {
            pumped = pipeline.pump(stream) => pumped.context("reading events")?,
            ended = &mut supervisor => break ended?,
            _ = ticker.tick() => {
                pipeline.tick();
                each_second(pipeline);
            }
        }
    };
    pipeline.drain(stream);
    each_second(pipeline);
    Ok(ended)
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

/// The shell convention: the exit status, or 128 + the signal that killed the command.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}
