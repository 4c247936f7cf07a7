//! Adopting agents that are already running: at start-up every process matching a profile
//! (the top of each agent tree), and `--pid` by hand.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::{
    capture::{Capture, tracking},
    event::Enricher,
    process::{Origin, Procfs, Session, agent_id, new_session_id},
    profiles::Profiles,
};

/// Adopts agents that were already running when the sensor started: every process matching a
/// profile whose parent does not match one too (the top of each agent tree).
pub fn adopt_running_agents(
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
pub fn adopt(
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
