//! `agent-sensor session list|freeze|thaw|kill`: an operator acting on agent sessions.
//!
//! When a daemon answers on the control socket, everything goes through it: it knows its own
//! sessions (and moves their processes into a cgroup to freeze them), the `watch` sessions that
//! registered with it, and the session cgroups on disk. When none answers (no socket, or nothing
//! listening on it), the command acts on the session's cgroup under
//! `<cgroup2>/agent-sensor/` itself: `watch-<id>` for a `watch` session, `session-<id>` for a
//! session a daemon froze before it stopped. Either way the `watch` process notices a freeze or
//! thaw of its session from its cgroup's `cgroup.events`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    cli::{ControlArgs, SessionCommand},
    config::Config,
    control::{
        StatusReport,
        client::{self, ClientError},
        protocol::{SessionReply, SessionRequest},
    },
    process::{
        agent_id,
        cgroup::{CgroupOnly, SessionAction, SessionCgroup, SessionState, find_cgroup2_mount, freezer::act},
        sessions::{find_session, session_query},
    },
};

pub fn run(command: SessionCommand) -> Result<i32> {
    let (action, id, control) = match command {
        SessionCommand::List { control } => return list(&control),
        SessionCommand::Freeze { id, control } => (SessionAction::Freeze, id, control),
        SessionCommand::Thaw { id, control } => (SessionAction::Thaw, id, control),
        SessionCommand::Kill { id, control } => (SessionAction::Kill, id, control),
    };
    let id = session_query(&id)?;
    let socket = socket(&control)?;
    let request = SessionRequest {
        action,
        session: id.clone(),
    };
    let reply = match client::session(&socket, request) {
        Ok(reply) => reply,
        Err(ClientError::Connect { .. }) => act_directly(action, &id, &socket)?,
        Err(error) => return Err(error.into()),
    };
    if control.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else {
        println!("{}", describe(&reply));
    }
    Ok(0)
}

fn socket(control: &ControlArgs) -> Result<PathBuf> {
    match &control.control_socket {
        Some(path) => Ok(path.clone()),
        None => Ok(Config::load(control.config.as_deref())?.control.socket),
    }
}

/// No daemon: acts on the session's cgroup.
fn act_directly(action: SessionAction, id: &str, socket: &Path) -> Result<SessionReply> {
    let hierarchy = find_cgroup2_mount()?;
    let cgroups = SessionCgroup::list(&hierarchy)
        .into_iter()
        .map(|(kind, id, cgroup)| (id, (kind, cgroup)));
    let (session, (kind, cgroup)) = find_session(id, cgroups).with_context(|| {
        format!(
            "no daemon answers on {}, so the session's cgroup was looked for under {}",
            socket.display(),
            hierarchy.join("agent-sensor").display()
        )
    })?;
    let outcome = act(&cgroup, session, action, &CgroupOnly)
        .with_context(|| format!("{} session {}", action.as_str(), agent_id(session)))?;
    Ok(SessionReply::new(outcome, kind.as_str(), None, "cgroup"))
}

/// One line saying what was done.
fn describe(reply: &SessionReply) -> String {
    let who = match &reply.agent {
        Some(agent) => format!("session {} ({}, {})", reply.session, reply.kind, agent),
        None => format!("session {} ({})", reply.session, reply.kind),
    };
    let cgroup = reply
        .cgroup
        .as_deref()
        .map(|cgroup| format!(" in {cgroup}"))
        .unwrap_or_default();
    let via = if reply.via == "daemon" {
        "through the daemon"
    } else {
        "on its cgroup directly (no daemon answers)"
    };
    let what = match (reply.action, reply.state) {
        (SessionAction::Kill, SessionState::Killed) => format!("killed {} processes", reply.processes),
        (SessionAction::Kill, _) => format!(
            "killed {} processes; some have not exited yet ({})",
            reply.processes,
            reply.state.as_str()
        ),
        (SessionAction::Freeze, SessionState::Frozen) => format!("frozen, {} processes{cgroup}", reply.processes),
        (SessionAction::Freeze, state) => format!(
            "freezing, {} processes{cgroup} ({}: some have not stopped yet)",
            reply.processes,
            state.as_str()
        ),
        (SessionAction::Thaw, _) => format!("thawed, {} processes running{cgroup}", reply.processes),
    };
    let mut line = format!("{who}: {what}, {via}");
    if !reply.unmoved.is_empty() {
        line.push_str(&format!(
            "\nwarning: processes {:?} of the session could not be moved into its cgroup",
            reply.unmoved
        ));
    }
    line
}

/// A session as `session list` shows it.
#[derive(Debug, Serialize)]
struct Listed {
    session: String,
    /// `daemon` or `watch`.
    kind: String,
    state: SessionState,
    processes: u64,
    agent: Option<String>,
    root_pid: Option<u32>,
    /// `profile`, `adopted` or `watch` (known to a daemon only).
    origin: Option<String>,
    cgroup: Option<String>,
}

fn list(control: &ControlArgs) -> Result<i32> {
    let socket = socket(control)?;
    let (sessions, source) = match client::status(&socket) {
        Ok(report) => (from_daemon(&report), format!("the daemon on {}", socket.display())),
        Err(ClientError::Connect { .. }) => {
            let hierarchy = find_cgroup2_mount()?;
            (
                from_cgroups(&hierarchy),
                format!(
                    "no daemon answers on {}: session cgroups under {}",
                    socket.display(),
                    hierarchy.join("agent-sensor").display()
                ),
            )
        }
        Err(error) => return Err(error.into()),
    };
    if control.json {
        println!("{}", serde_json::to_string_pretty(&sessions)?);
        return Ok(0);
    }
    eprintln!("sessions from {source}");
    println!(
        "{:<16}  {:<6}  {:<8}  {:>5}  {:>8}  {:<14}  CGROUP",
        "SESSION", "KIND", "STATE", "PROCS", "ROOT PID", "AGENT"
    );
    for session in &sessions {
        println!(
            "{:<16}  {:<6}  {:<8}  {:>5}  {:>8}  {:<14}  {}",
            session.session,
            session.kind,
            session.state.as_str(),
            session.processes,
            session
                .root_pid
                .map(|pid| pid.to_string())
                .unwrap_or_else(|| "-".into()),
            session.agent.as_deref().unwrap_or("-"),
            session.cgroup.as_deref().unwrap_or("-"),
        );
    }
    Ok(0)
}

fn from_daemon(report: &StatusReport) -> Vec<Listed> {
    let own = report.sessions.iter().map(|session| Listed {
        session: session.session.clone(),
        kind: "daemon".into(),
        state: session.state,
        processes: session.live_processes,
        agent: Some(session.agent.clone()),
        root_pid: Some(session.root_pid),
        origin: Some(session.origin.clone()),
        cgroup: session.cgroup.clone(),
    });
    let watched = report.watch_sessions.iter().map(|watch| Listed {
        session: watch.registration.session.clone(),
        kind: "watch".into(),
        state: watch.state,
        processes: watch.processes as u64,
        agent: Some(watch.registration.agent.clone()),
        root_pid: Some(watch.registration.root_pid),
        origin: Some("watch".into()),
        cgroup: watch.registration.cgroup.clone(),
    });
    own.chain(watched).collect()
}

fn from_cgroups(hierarchy: &Path) -> Vec<Listed> {
    SessionCgroup::list(hierarchy)
        .into_iter()
        .map(|(kind, id, cgroup)| Listed {
            session: agent_id(id),
            kind: kind.as_str().into(),
            state: SessionState::of(&cgroup).unwrap_or(SessionState::Running),
            processes: cgroup.pids().len() as u64,
            agent: None,
            root_pid: None,
            origin: None,
            cgroup: Some(cgroup.relative().to_string()),
        })
        .collect()
}
