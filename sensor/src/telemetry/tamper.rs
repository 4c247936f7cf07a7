//! `sensor-tamper` alerts: a tracked process signalled the sensor, aimed ptrace at it or called
//! bpf() (which loads, detaches and inspects BPF programs).

use sensor_common::event::{
    TAMPER_ATTEMPT, TAMPER_BPF, TAMPER_DENIED, TAMPER_PTRACE, TAMPER_SIGNAL, TAMPER_WOULD_DENY,
};
use serde_json::{Map, json};

use super::SensorAlert;
use crate::{decode::Tamper, event::Enricher, process::agent_id, rules::Severity};

pub const TAMPER_RULE_ID: &str = "sensor-tamper";

/// The alert for one tamper record, with what the sensor knows of the process that did it.
pub fn tamper_alert(tamper: &Tamper, enricher: &mut Enricher) -> SensorAlert {
    let (what, detail) = match tamper.kind {
        TAMPER_SIGNAL => ("signal", signal_name(tamper.detail)),
        TAMPER_PTRACE => ("ptrace", format!("request or mode {}", tamper.detail)),
        TAMPER_BPF => ("bpf", bpf_command(tamper.detail)),
        _ => ("unknown", tamper.detail.to_string()),
    };
    let (action, outcome) = match tamper.verdict {
        TAMPER_DENIED => ("denied", "denied by BPF LSM (EPERM)"),
        TAMPER_WOULD_DENY => ("would-deny", "monitor mode: BPF LSM would have denied it"),
        TAMPER_ATTEMPT => (
            "refused",
            "the kernel refused it (EPERM: the caller may not signal the root sensor)",
        ),
        _ => ("alerted", "not preventable here (no BPF LSM): it went ahead"),
    };
    let pid = tamper.common.pid;
    let process = enricher.table.get_or_load(pid).cloned();
    let session = enricher.sessions.get(tamper.common.session_id).cloned();
    let description = format!(
        "A process of an agent session ({}, pid {pid}) reached for the sensor: {what} {detail}{}; {outcome}.",
        process
            .as_ref()
            .map(|p| p.executable.to_string())
            .unwrap_or_else(|| "unknown program".into()),
        if tamper.target != 0 {
            format!(" aimed at the sensor (pid {})", tamper.target)
        } else {
            String::new()
        },
    );
    let mut facts = Map::new();
    facts.insert(
        "tamper".into(),
        json!({"kind": what, "detail": detail, "code": tamper.detail, "target_pid": tamper.target}),
    );
    facts.insert("action".into(), json!(action));
    let mut top = Map::new();
    top.insert(
        "process".into(),
        match &process {
            Some(p) => json!({
                "pid": pid,
                "executable": &*p.executable,
                "name": p.name(),
                "args": &*p.args,
                "command_line": &*p.command_line,
                "working_directory": &*p.cwd,
                "parent": {"pid": p.ppid},
            }),
            None => json!({"pid": pid}),
        },
    );
    top.insert("user".into(), json!({"id": tamper.common.uid.to_string()}));
    top.insert(
        "gen_ai".into(),
        json!({"agent": {
            "id": agent_id(tamper.common.session_id),
            "name": session.as_ref().map(|s| s.agent.to_string()),
        }}),
    );
    SensorAlert {
        rule_id: TAMPER_RULE_ID,
        name: "Agent reached for the sensor",
        description,
        severity: Severity::Critical,
        tags: &["sensor", "defense-evasion"],
        facts,
        top,
    }
}

fn signal_name(signal: u32) -> String {
    nix::sys::signal::Signal::try_from(signal as i32)
        .map(|signal| signal.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

fn bpf_command(command: u32) -> String {
    const NAMES: [&str; 37] = [
        "BPF_MAP_CREATE",
        "BPF_MAP_LOOKUP_ELEM",
        "BPF_MAP_UPDATE_ELEM",
        "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY",
        "BPF_PROG_LOAD",
        "BPF_OBJ_PIN",
        "BPF_OBJ_GET",
        "BPF_PROG_ATTACH",
        "BPF_PROG_DETACH",
        "BPF_PROG_TEST_RUN",
        "BPF_PROG_GET_NEXT_ID",
        "BPF_MAP_GET_NEXT_ID",
        "BPF_PROG_GET_FD_BY_ID",
        "BPF_MAP_GET_FD_BY_ID",
        "BPF_OBJ_GET_INFO_BY_FD",
        "BPF_PROG_QUERY",
        "BPF_RAW_TRACEPOINT_OPEN",
        "BPF_BTF_LOAD",
        "BPF_BTF_GET_FD_BY_ID",
        "BPF_TASK_FD_QUERY",
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        "BPF_MAP_FREEZE",
        "BPF_BTF_GET_NEXT_ID",
        "BPF_MAP_LOOKUP_BATCH",
        "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        "BPF_MAP_UPDATE_BATCH",
        "BPF_MAP_DELETE_BATCH",
        "BPF_LINK_CREATE",
        "BPF_LINK_UPDATE",
        "BPF_LINK_GET_FD_BY_ID",
        "BPF_LINK_GET_NEXT_ID",
        "BPF_ENABLE_STATS",
        "BPF_ITER_CREATE",
        "BPF_LINK_DETACH",
        "BPF_PROG_BIND_MAP",
        "BPF_TOKEN_CREATE",
    ];
    NAMES
        .get(command as usize)
        .map(|name| name.to_string())
        .unwrap_or_else(|| format!("bpf command {command}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_signals_and_bpf_commands() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(bpf_command(34), "BPF_LINK_DETACH");
        assert_eq!(bpf_command(500), "bpf command 500");
    }
}
