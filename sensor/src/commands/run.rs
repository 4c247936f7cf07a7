//! `agent-sensor run`: the daemon. Agent profiles decide what is tracked: execs that match start
//! sessions in the kernel, agents already running at start-up are adopted with their trees, and
//! `--pid` adopts any process by hand.

mod adopt;
mod operations;
mod reload;
mod sessions;

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use self::{
    adopt::{adopt, adopt_running_agents},
    operations::Operations,
    reload::Reload,
    sessions::SessionOperator,
};
use super::{
    Outputs,
    startup::{self, Prepared},
};
use crate::{
    capture::{Capture, EventStream, RING_LINGER, environment},
    config::Config,
    control::server::ControlServer,
    enforce::SessionLink,
    event::{Enricher, ecs::SensorContext},
    inventory::daemon::InventoryTask,
    pipeline::Pipeline,
    process::{
        ProcessTable, Procfs,
        cgroup::{CgroupNames, Happening, SessionStateChange, find_cgroup2_mount},
    },
    telemetry::{Metrics, metrics_server},
};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub outputs: Outputs,
    /// Running processes to adopt as sessions (with their descendants).
    pub pids: Vec<u32>,
    /// Agent name for the `--pid` sessions.
    pub name: Option<String>,
}

pub fn run(options: RunOptions) -> Result<()> {
    // Signals are ours from the first instant: a SIGHUP or SIGTERM during start-up waits for the
    // event loop instead of killing the daemon before it could flush anything.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let signals = {
        let _context = runtime.enter();
        Signals::install()?
    };
    let mut prepared = Prepared::load(&options.outputs)?;
    let (mut capture, rings) = prepared.capture(true)?;
    for (hash, entry) in prepared.config.profiles.kernel_entries() {
        capture
            .exec_names
            .insert(hash, entry, 0)
            .context("loading agent profiles into the kernel")?;
    }
    attach_connect_programs(&mut capture, &prepared.config);
    let enforcer = prepared.enforce(&mut capture)?;
    let Prepared {
        mut config,
        network,
        engine,
        outputs,
        ..
    } = prepared;
    let hashes = |exe: &str| enforcer.program_hashes(exe);

    let procfs = Procfs::default();
    let table = ProcessTable::seeded(procfs.clone());
    let cgroups = CgroupNames::new(find_cgroup2_mount().ok());
    let mut enricher = Enricher::new(table, cgroups, config.profiles.names(), SensorContext::current());
    enricher.set_network(network);
    enricher.set_handoff(&config.handoff);
    adopt_running_agents(&mut capture, &mut enricher, &procfs, &config.profiles, &hashes)?;
    for &pid in &options.pids {
        adopt(
            &mut capture,
            &mut enricher,
            &procfs,
            pid,
            options.name.clone(),
            &config.profiles,
            &hashes,
        )?;
    }

    runtime.block_on(async {
        let mut pipeline = startup::pipeline(enricher, engine, outputs, Some(enforcer), &config, true);
        let mut metrics_url = None;
        if let Some(listen) = config.metrics.listen {
            let metrics = Arc::new(Metrics::new());
            let bound = metrics_server::serve(listen, metrics.clone()).await?;
            metrics_url = Some(format!("http://{bound}/metrics"));
            tracing::info!(address = %bound, "metrics at http://{bound}/metrics");
            pipeline.metrics = Some(metrics);
        }
        let socket = options
            .outputs
            .control_socket
            .clone()
            .unwrap_or_else(|| config.control.socket.clone());
        let mut control = ControlServer::start(&socket)?;
        let mut commands = control.take_commands().context("the control socket's commands were already taken")?;
        tracing::info!(socket = %socket.display(), "control socket ready (agent-sensor status)");
        let mut operations = Operations::new(&config, Some(control), metrics_url);
        let mut operator = match find_cgroup2_mount() {
            Ok(hierarchy) => Some(SessionOperator::new(hierarchy, &config)),
            Err(error) => {
                tracing::warn!(%error, "sessions cannot be frozen or killed by an operator");
                None
            }
        };
        let mut changes = operator.as_mut().map(|operator| operator.cgroups.subscribe());
        if let (Some(operator), Some(enforcer)) = (operator.as_mut(), pipeline.enforcer.as_mut()) {
            enforcer.link_sessions(SessionLink {
                requests: operator.cgroups.requester(),
                changes: operator.cgroups.subscribe(),
            });
        }
        // Start-up is over: what it alone used goes back to the system.
        super::startup_memory::release(capture.peak_before_rings);
        // Everything answers from here on: the control socket, metrics, signals.
        tracing::info!(
            kernel = %environment::kernel_release(),
            tracepoints = capture.attached.len(),
            missing = ?capture.missing,
            profiles = config.profiles.agents.len(),
            "agent sensor started"
        );
        let mut refresh = tokio::time::interval(Duration::from_secs(config.enforcement.refresh_seconds.max(1)));
        let mut stream =
            EventStream::new(rings, RING_LINGER).context("watching the ring buffers")?;
        let Signals {
            mut terminate,
            mut interrupt,
            mut hangup,
        } = signals;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let mut inventory =
            InventoryTask::start(&config.inventory, &config.state_dir, pipeline.enricher.context().clone());
        loop {
            tokio::select! {
                pumped = pipeline.pump(&mut stream) => pumped.context("reading events")?,
                _ = hangup.recv() => Reload {
                    pipeline: &mut pipeline,
                    capture: &mut capture,
                    config: &mut config,
                    flags: &options.outputs,
                    health: &mut operations.health,
                }
                .run(),
                _ = ticker.tick() => {
                    pipeline.tick();
                    if let Some(operator) = operator.as_mut() {
                        operator.tidy(&pipeline);
                    }
                    operations.tick(&mut pipeline, &capture, &config, operator.as_ref());
                }
                _ = refresh.tick() => refresh_policy(&mut pipeline),
                Some(command) = commands.recv() => {
                    let registrations = operations.control.as_ref().map(ControlServer::registrations).unwrap_or_default();
                    sessions::answer(command, operator.as_mut(), &mut pipeline, &mut capture, &registrations);
                    operations.publish(&pipeline, &capture, &config, operator.as_ref());
                }
                happened = session_cgroups(&mut operator) => {
                    sessions::carry_out(happened, operator.as_mut(), &mut pipeline, &mut capture);
                    operations.publish(&pipeline, &capture, &config, operator.as_ref());
                }
                Some(change) = next_change(&mut changes) => SessionOperator::log_change(&change),
                lines = InventoryTask::next(&mut inventory) => pipeline.write_lines(&lines),
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        tracing::info!("stopping: flushing outputs");
        pipeline.drain(&mut stream);
        // Loss the last second saw is reported too.
        operations.tick(&mut pipeline, &capture, &config, operator.as_ref());
        if let Some(operator) = operator.as_mut() {
            operator.shutdown(&pipeline);
        }
        startup::finish(&mut pipeline, &capture);
        Ok(())
    })
}

/// The next thing the session cgroups need (see [`SessionCgroups::next`]).
async fn session_cgroups(operator: &mut Option<SessionOperator>) -> Happening {
    match operator {
        Some(operator) => operator.cgroups.next().await,
        None => std::future::pending().await,
    }
}

async fn next_change(
    changes: &mut Option<tokio::sync::mpsc::UnboundedReceiver<SessionStateChange>>,
) -> Option<SessionStateChange> {
    match changes {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// Attaches the cgroup socket programs to the configured cgroup (default: the root of the cgroup
/// v2 hierarchy, so every agent is covered): they report the routes to the network no connect
/// call shows, and judge connections unless BPF LSM does.
fn attach_connect_programs(capture: &mut Capture, config: &Config) {
    let target = match &config.enforcement.cgroup {
        Some(path) => Ok(path.clone()),
        None => find_cgroup2_mount().map_err(|error| error.to_string()),
    };
    let attached = target.and_then(|path| {
        capture
            .attach_connect_programs(&path)
            .map_err(|error| error.to_string())
    });
    if let Err(problem) = attached {
        tracing::warn!(%problem, "datagrams, Fast Open and io_uring connects are not reported (and without BPF LSM not judged): no cgroup socket programs");
    }
}

/// Re-expands `~` and `*` of the kernel rules for homes and directories that appeared.
fn refresh_policy(pipeline: &mut Pipeline) {
    if let Some(enforcer) = pipeline.enforcer.as_mut()
        && let Err(error) = enforcer.refresh()
    {
        tracing::error!(%error, "refreshing the kernel policy failed; the previous policy stays");
    }
}

/// The signals the daemon answers: SIGTERM and SIGINT stop it (after a flush), SIGHUP reloads.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            hangup: signal(SignalKind::hangup()).context("handling SIGHUP")?,
        })
    }
}
