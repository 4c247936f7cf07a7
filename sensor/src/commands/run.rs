//! `agent-sensor run`: the daemon. Agent profiles decide what is tracked: execs that match start
//! sessions in the kernel, agents already running at start-up are adopted with their trees, and
//! `--pid` adopts any process by hand.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use super::report_counters;
use crate::{
    capture::{Capture, CaptureOptions, EventStream, KernelCounters, environment, tracking},
    config::Config,
    event::{Enricher, ecs::SensorContext},
    output::{JsonLines, OutputTarget},
    pipeline::Pipeline,
    process::{
        Origin, ProcessTable, Procfs, agent_id,
        cgroup::{CgroupNames, find_cgroup2_mount},
        new_session_id,
    },
    profiles::Profiles,
};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config: Option<PathBuf>,
    pub events: Option<OutputTarget>,
    /// Running processes to adopt as sessions (with their descendants).
    pub pids: Vec<u32>,
    /// Agent name for the `--pid` sessions.
    pub name: Option<String>,
}

pub fn run(options: RunOptions) -> Result<()> {
    let env = environment::check()?;
    let config = Config::load(options.config.as_deref())?;
    let events = Some(JsonLines::open(options.events.clone().unwrap_or(OutputTarget::Stdout))?);
    let mut capture = Capture::load(
        &env,
        &CaptureOptions {
            ring_buffer_bytes: config.capture.ring_buffer_bytes,
            match_profiles: true,
        },
    )?;
    for (hash, entry) in config.profiles.kernel_entries() {
        capture
            .exec_names
            .insert(hash, entry, 0)
            .context("loading agent profiles into the kernel")?;
    }
    let ring = capture.take_ring().context("the ring buffer was already taken")?;
    tracing::info!(
        kernel = %environment::kernel_release(),
        tracepoints = capture.attached.len(),
        missing = ?capture.missing,
        profiles = config.profiles.agents.len(),
        "agent sensor started"
    );

    let procfs = Procfs::default();
    let table = ProcessTable::seeded(procfs.clone());
    let cgroups = CgroupNames::new(find_cgroup2_mount().ok());
    let mut enricher = Enricher::new(table, cgroups, config.profiles.names());
    adopt_running_agents(&mut capture, &mut enricher, &procfs, &config.profiles)?;
    for &pid in &options.pids {
        adopt(
            &mut capture,
            &mut enricher,
            &procfs,
            pid,
            options.name.clone(),
            &config.profiles,
        )?;
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut pipeline = Pipeline::new(enricher, SensorContext::current(), events);
        let mut stream = EventStream::new(ring).context("watching the ring buffer")?;
        let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let stop = async {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("stopping: flushing outputs");
        };
        let watchdog = loss_watchdog(&capture);
        tokio::select! {
            result = pipeline.run_until(&mut stream, stop) => result.context("reading events")?,
            () = watchdog => {}
        }
        report_counters(&capture, &pipeline.stats);
        Ok(())
    })
}

/// Warns, once a minute at most, when the kernel counts lost events.
async fn loss_watchdog(capture: &Capture) {
    let mut last = KernelCounters::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        ticker.tick().await;
        let now = KernelCounters::read(&capture.counters);
        if now.lost() > last.lost() {
            tracing::warn!(
                lost = now.lost() - last.lost(),
                "events lost in the kernel in the last minute (ring buffer full)"
            );
        }
        last = now;
    }
}

/// Adopts agents that were already running when the sensor started: every process matching a
/// profile whose parent does not match one too (the top of each agent tree).
fn adopt_running_agents(
    capture: &mut Capture,
    enricher: &mut Enricher,
    procfs: &Procfs,
    profiles: &Profiles,
) -> Result<()> {
    let sensor = std::process::id();
    let matching: Vec<(u32, u32, usize)> = procfs
        .pids()
        .into_iter()
        .filter(|&pid| pid != sensor)
        .filter_map(|pid| {
            let process = enricher.table.get(pid)?;
            let profile = profiles.match_process(&process.executable, &process.args)?;
            Some((pid, process.ppid, profile))
        })
        .collect();
    for &(pid, ppid, _) in &matching {
        if matching.iter().any(|&(other, _, _)| other == ppid) {
            continue;
        }
        adopt(capture, enricher, procfs, pid, None, profiles)?;
    }
    Ok(())
}

/// Tracks a running process and its descendants as a new session.
fn adopt(
    capture: &mut Capture,
    enricher: &mut Enricher,
    procfs: &Procfs,
    pid: u32,
    name: Option<String>,
    profiles: &Profiles,
) -> Result<()> {
    let process = enricher
        .table
        .get_or_load(pid)
        .cloned()
        .with_context(|| format!("process {pid} does not exist"))?;
    let profile = profiles.match_process(&process.executable, &process.args);
    let agent: Arc<str> = match (name, profile) {
        (Some(name), _) => name.into(),
        (None, Some(index)) => profiles.agents[index].name.as_str().into(),
        (None, None) => process.name().into(),
    };
    let session_id = new_session_id();
    let pids = tracking::adopt_tree(&mut capture.tracked, procfs, pid, session_id, profile.map(|p| p as u32))
        .with_context(|| format!("tracking process {pid}"))?;
    enricher.sessions.start(session_id, agent.clone(), pid, Origin::Adopted);
    for _ in 1..pids.len() {
        enricher.sessions.process_started(session_id);
    }
    for &member in &pids {
        enricher.table.set_session(member, session_id);
    }
    tracing::info!(session = %agent_id(session_id), agent = %agent, pid, processes = pids.len(), "adopted a running agent");
    Ok(())
}
