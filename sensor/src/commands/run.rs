//! `agent-sensor run`: the daemon. Agent profiles decide what is tracked: execs that match start
//! sessions in the kernel, agents already running at start-up are adopted with their trees, and
//! `--pid` adopts any process by hand.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use super::{Outputs, load_rules, report_counters};
use crate::{
    capture::{Capture, CaptureOptions, EventStream, KernelCounters, environment, tracking},
    config::Config,
    event::{Enricher, ecs::SensorContext},
    pipeline::Pipeline,
    process::{
        Origin, ProcessTable, Procfs, Session, agent_id,
        cgroup::{CgroupNames, find_cgroup2_mount},
        new_session_id,
    },
    profiles::Profiles,
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
    let env = environment::check()?;
    let config = Config::load(options.outputs.config.as_deref())?;
    let (mut engine, events, alerts) = options.outputs.open()?;
    let mode = options.outputs.mode.unwrap_or(config.enforcement.mode);
    let mut capture = Capture::load(
        &env,
        &CaptureOptions {
            ring_buffer_bytes: config.capture.ring_buffer_bytes,
            match_profiles: true,
            use_lsm: config.enforcement.lsm,
        },
    )?;
    for (hash, entry) in config.profiles.kernel_entries() {
        capture
            .exec_names
            .insert(hash, entry, 0)
            .context("loading agent profiles into the kernel")?;
    }
    let ring = capture.take_ring().context("the ring buffer was already taken")?;
    attach_connect_programs(&mut capture, &config);
    let enforcer = super::start_enforcement(&mut capture, &mut engine, mode)?;
    let hashes = |exe: &str| enforcer.program_hashes(exe);
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
    let mut enricher = Enricher::new(table, cgroups, config.profiles.names(), SensorContext::current());
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

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut pipeline = Pipeline::new(enricher, Some(engine), events, Some(alerts));
        pipeline.enforcer = Some(enforcer);
        let mut refresh = tokio::time::interval(Duration::from_secs(config.enforcement.refresh_seconds.max(1)));
        let mut stream = EventStream::new(ring).context("watching the ring buffer")?;
        let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let mut hangup = signal(SignalKind::hangup()).context("handling SIGHUP")?;
        let mut loss = LossWatch::default();
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                pumped = pipeline.pump(&mut stream) => pumped.context("reading events")?,
                _ = hangup.recv() => reload_rules(&mut pipeline, &options.outputs.rules),
                _ = ticker.tick() => loss.check(&capture),
                _ = refresh.tick() => refresh_policy(&mut pipeline),
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        tracing::info!("stopping: flushing outputs");
        pipeline.drain(&mut stream);
        report_counters(&capture, &pipeline.stats);
        Ok(())
    })
}

/// Attaches the network enforcement programs to the configured cgroup (default: the root of the
/// cgroup v2 hierarchy, so every agent is covered), unless BPF LSM judges connections.
fn attach_connect_programs(capture: &mut Capture, config: &Config) {
    if capture.enforcement.lsm_attached.contains(&"socket_connect") {
        return;
    }
    let target = match &config.enforcement.cgroup {
        Some(path) => Ok(path.clone()),
        None => find_cgroup2_mount().map_err(|error| error.to_string()),
    };
    let attached = target.and_then(|path| capture.attach_connect_programs(&path));
    if let Err(problem) = attached {
        tracing::warn!(%problem, "connections cannot be judged (no BPF LSM, no cgroup socket programs)");
    }
}

/// SIGHUP: reads the rule packs again; a broken pack is reported and the running rules stay.
fn reload_rules(pipeline: &mut Pipeline, paths: &[std::path::PathBuf]) {
    let rules = match load_rules(paths) {
        Ok(rules) => Arc::new(rules),
        Err(error) => {
            tracing::error!("rule reload failed; the previous rules stay active: {error:#}");
            return;
        }
    };
    if let Some(enforcer) = pipeline.enforcer.as_mut()
        && let Err(error) = enforcer.replace_rules(rules.clone())
    {
        tracing::error!(%error, "the new rules cannot be enforced; the previous rules stay active");
        return;
    }
    let Some(engine) = pipeline.engine.as_mut() else {
        return;
    };
    tracing::info!(rules = rules.rules.len(), packs = rules.files.len(), "rules reloaded");
    engine.replace_rules(rules);
    if let Some(enforcer) = pipeline.enforcer.as_ref() {
        engine.skip_rules(enforcer.skipped_rules());
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

/// Warns when the kernel counted lost events since the last check.
#[derive(Default)]
struct LossWatch {
    last: KernelCounters,
}

impl LossWatch {
    fn check(&mut self, capture: &Capture) {
        let now = KernelCounters::read(&capture.counters);
        if now.lost() > self.last.lost() {
            tracing::warn!(
                lost = now.lost() - self.last.lost(),
                "events lost in the kernel (ring buffer full)"
            );
        }
        self.last = now;
    }
}

/// Adopts agents that were already running when the sensor started: every process matching a
/// profile whose parent does not match one too (the top of each agent tree).
fn adopt_running_agents(
    capture: &mut Capture,
    enricher: &mut Enricher,
    procfs: &Procfs,
    profiles: &Profiles,
    hashes: &dyn Fn(&str) -> (u64, u64),
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
        adopt(capture, enricher, procfs, pid, None, profiles, hashes)?;
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
    hashes: &dyn Fn(&str) -> (u64, u64),
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
    let mut session = Session::new(session_id, agent.clone(), pid, Origin::Adopted);
    session.working_directory = Some(process.cwd.clone()).filter(|cwd| !cwd.is_empty());
    session.home = enricher.table.home_of(pid, process.uid);
    enricher.sessions.start(session);
    for _ in 1..pids.len() {
        enricher.sessions.process_started(session_id);
    }
    for &member in &pids {
        enricher.table.set_session(member, session_id);
        if let Some(process) = enricher.table.get_or_load(member) {
            let (exe_hash, name_hash) = hashes(&process.executable);
            tracking::set_program(&mut capture.tracked, member, exe_hash, name_hash);
        }
    }
    tracing::info!(session = %agent_id(session_id), agent = %agent, pid, processes = pids.len(), "adopted a running agent");
    Ok(())
}
