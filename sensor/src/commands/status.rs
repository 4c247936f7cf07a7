//! `agent-sensor status`: what the running daemon is doing, from its control socket.

use std::path::Path;

use anyhow::Result;

use crate::{
    control::{StatusReport, client},
    process::cgroup::SessionState,
};

/// Prints the daemon's status (as JSON with `json`); fails when no daemon answers.
pub fn run(socket: &Path, json: bool) -> Result<i32> {
    let report = client::status(socket)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(0)
}

/// The report as a person reads it.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "agent-sensor {} (pid {}), running since {} on kernel {}",
        report.version, report.pid, report.started, report.kernel
    ));
    line(format!(
        "config: {}",
        report.config.as_deref().unwrap_or("built-in defaults")
    ));
    line(format!("mode: {}", report.mode));
    line(format!(
        "rules: {} enabled ({} judged in the kernel), {} disabled, from {} files",
        report.rules.rules,
        report.rules.kernel_rules,
        report.rules.disabled,
        report.rules.files.len()
    ));
    line("enforcement backends:".into());
    for backend in &report.backends {
        line(format!(
            "  {:<10} {:<18} {}",
            backend.operation, backend.backend, backend.guarantee
        ));
    }
    for problem in &report.backend_problems {
        line(format!("  note: {problem}"));
    }
    line(format!("sessions: {}", report.sessions.len()));
    for session in &report.sessions {
        line(format!(
            "  {} {:<14} root pid {:<8} {:>4} live processes  ({}){}{}",
            session.session,
            session.agent,
            session.root_pid,
            session.live_processes,
            session.origin,
            session
                .working_directory
                .as_deref()
                .map(|dir| format!(" in {dir}"))
                .unwrap_or_default(),
            state_note(session.state)
        ));
    }
    if !report.watch_sessions.is_empty() {
        line(format!("watch sessions: {}", report.watch_sessions.len()));
        for watch in &report.watch_sessions {
            let registration = &watch.registration;
            line(format!(
                "  {} {:<14} root pid {:<8} watcher pid {} ({} mode){}",
                registration.session,
                registration.agent,
                registration.root_pid,
                registration.watcher_pid,
                registration.mode,
                state_note(watch.state)
            ));
        }
    }
    line("counters:".into());
    for (name, value) in &report.counters {
        line(format!("  {name:<22} {value}"));
    }
    if !report.outputs.is_empty() {
        line("outputs:".into());
        for output in &report.outputs {
            line(format!(
                "  {:<16} delivered {:<10} failed {:<8} dropped {:<8} queued {}",
                output.name, output.delivered, output.failed, output.dropped, output.queued
            ));
        }
    }
    if let Some(metrics) = &report.metrics {
        line(format!("metrics: {metrics}"));
    }
    out
}

/// ` FROZEN` (or ` FREEZING`) after a session that cannot run; nothing for a running one.
fn state_note(state: SessionState) -> String {
    if state.is_frozen() {
        format!("  {}", state.as_str().to_uppercase())
    } else {
        String::new()
    }
}
