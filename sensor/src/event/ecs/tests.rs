//! The ECS form of events, field by field.

use std::sync::Arc;

use sensor_common::event::Syscall;
use serde_json::Value;

use super::*;
use crate::{
    event::{FileDetail, Outcome, ParentRef, SessionRef},
    process::ProcessInfo,
};

fn process() -> ProcessInfo {
    ProcessInfo {
        pid: 4242,
        ppid: 4200,
        executable: Arc::from("/usr/bin/cat"),
        args: Arc::from(vec!["cat".to_string(), "notes.txt".to_string()]),
        command_line: Arc::from("cat notes.txt"),
        args_truncated: false,
        cwd: Arc::from("/home/dev/project"),
        uid: 1000,
        gid: 1000,
        start_boottime_ns: 1,
        cgroup_id: 9,
        cgroup: Some(Arc::from("/agent-sensor/watch-1")),
        session_id: Some(0x1234),
        trusted: false,
    }
}

fn event(detail: Detail, action: Action) -> Event {
    Event {
        door: Default::default(),
        repeat: 1,
        syscall_flags: Default::default(),
        run_id: 0xfeed,
        sequence: 7,
        hostname: Some(Arc::from("workstation")),
        timestamp_ns: 1_763_750_000_123_456_789,
        action,
        outcome: Outcome::Success,
        error: None,
        tid: 4243,
        process: process(),
        process_start_ns: Some(1_763_749_999_000_000_000),
        parent: Some(ParentRef {
            pid: 4200,
            executable: Some(Arc::from("/usr/bin/bash")),
            command_line: Some(Arc::from("bash -l")),
        }),
        user_name: Some(Arc::from("dev")),
        user_home: Some(Arc::from("/home/dev")),
        session: Some(SessionRef {
            id: 0x1234,
            agent: Arc::from("claude-code"),
            working_directory: Some(Arc::from("/home/dev/project")),
        }),
        detail,
        annotations: Default::default(),
    }
}

/// The line as the sensor writes it, checked against serde_json's serialization of the same
/// fields byte for byte (the writer in `writer.rs` must not change a line).
fn json(event: &Event) -> Value {
    let line = EcsEvent { event }.to_json();
    let reference = serde_json::to_vec(&EcsEvent { event }).expect("serde_json serializes the event");
    assert_eq!(String::from_utf8_lossy(&line), String::from_utf8_lossy(&reference));
    serde_json::from_slice(&line).expect("valid JSON")
}

#[test]
fn an_open_has_the_ecs_fields_and_the_sensor_fields() {
    let doc = json(&event(
        Detail::File(FileDetail {
            path: "/home/dev/project/notes.txt".into(),
            path_argument: "notes.txt".into(),
            syscall: Syscall::Openat,
            dirfd: -100,
            flags: libc::O_RDONLY as u32,
            mode: 0,
            truncated: false,
            identity: None,
            change: Default::default(),
        }),
        Action::Open,
    ));
    assert_eq!(doc["@timestamp"], "2025-11-21T18:33:20.123456789Z");
    assert_eq!(doc["event"]["action"], "open");
    assert_eq!(doc["event"]["kind"], "event");
    assert_eq!(doc["event"]["category"][0], "file");
    assert_eq!(doc["event"]["type"][0], "access");
    assert_eq!(doc["event"]["id"], "000000000000feed-7");
    assert_eq!(doc["agent"]["ephemeral_id"], "000000000000feed");
    assert_eq!(doc["host"]["hostname"], "workstation");
    assert_eq!(doc["process"]["pid"], 4242);
    assert_eq!(doc["process"]["parent"]["pid"], 4200);
    assert_eq!(doc["process"]["parent"]["executable"], "/usr/bin/bash");
    assert_eq!(doc["process"]["parent"]["command_line"], "bash -l");
    assert_eq!(doc["process"]["command_line"], "cat notes.txt");
    assert_eq!(doc["process"]["working_directory"], "/home/dev/project");
    assert_eq!(doc["process"]["thread"]["id"], 4243);
    assert_eq!(doc["user"]["id"], "1000");
    assert_eq!(doc["user"]["name"], "dev");
    assert_eq!(doc["file"]["path"], "/home/dev/project/notes.txt");
    assert_eq!(doc["file"]["name"], "notes.txt");
    assert_eq!(doc["file"]["directory"], "/home/dev/project");
    assert_eq!(doc["gen_ai"]["agent"]["name"], "claude-code");
    assert_eq!(doc["gen_ai"]["agent"]["id"], "0000000000001234");
    assert_eq!(doc["agent_sensor"]["schema_version"], SCHEMA_VERSION);
    assert_eq!(doc["agent_sensor"]["open"]["access"], "read");
    assert_eq!(doc["agent_sensor"]["open"]["write"], false);
    assert_eq!(doc["agent_sensor"]["open"]["flags"][0], "O_RDONLY");
    assert!(
        doc["agent_sensor"]["open"].get("mode").is_none(),
        "no mode without O_CREAT"
    );
    assert_eq!(doc["agent_sensor"]["path_argument"], "notes.txt");
    assert!(doc.get("destination").is_none());
}

#[test]
fn a_creating_open_shows_its_mode_and_type() {
    let doc = json(&event(
        Detail::File(FileDetail {
            path: "/tmp/x".into(),
            path_argument: "/tmp/x".into(),
            syscall: Syscall::Openat,
            dirfd: -100,
            flags: (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32,
            mode: 0o644,
            truncated: true,
            identity: None,
            change: Default::default(),
        }),
        Action::Open,
    ));
    assert_eq!(doc["event"]["type"][0], "creation");
    assert_eq!(doc["agent_sensor"]["open"]["mode"], "0644");
    assert_eq!(doc["agent_sensor"]["open"]["write"], true);
    assert_eq!(doc["agent_sensor"]["path_truncated"], true);
}

#[test]
fn connect_and_exit_fields() {
    let doc = json(&event(
        Detail::Connect {
            destination: Destination::Inet("[2001:db8::1]:443".parse().expect("addr")),
            fd: 3,
            transport: None,
        },
        Action::Connect,
    ));
    assert_eq!(doc["destination"]["ip"], "2001:db8::1");
    assert!(doc["destination"].get("geo").is_none(), "no country without a lookup");
    assert!(doc["agent_sensor"].get("destination").is_none());
    assert_eq!(doc["destination"]["port"], 443);
    assert_eq!(doc["network"]["type"], "ipv6");
    assert!(doc["network"].get("transport").is_none());
    assert_eq!(doc["event"]["category"][0], "network");

    let mut annotated = event(
        Detail::Connect {
            destination: Destination::Inet("8.8.8.8:4444".parse().expect("addr")),
            fd: 3,
            transport: Some(crate::event::Transport::Udp),
        },
        Action::Connect,
    );
    annotated.annotations.destination = Some(DestinationInfo {
        scope: Some(crate::event::annotations::Scope::Public),
        country: crate::event::annotations::CountryCode::parse("US"),
        allowed: Some(false),
    });
    annotated.annotations.baseline = Some(Box::new(BaselineFacts {
        status: crate::event::annotations::BaselineStatus::Enforcing,
        new_destination: Some(true),
        new_country: Some(false),
        ..BaselineFacts::default()
    }));
    let doc = json(&annotated);
    assert_eq!(doc["destination"]["geo"]["country_iso_code"], "US");
    assert_eq!(doc["network"]["transport"], "udp");
    assert_eq!(doc["agent_sensor"]["destination"]["scope"], "public");
    assert_eq!(doc["agent_sensor"]["destination"]["allowed"], false);
    assert_eq!(doc["agent_sensor"]["baseline"]["status"], "enforcing");
    assert_eq!(doc["agent_sensor"]["baseline"]["new_destination"], true);
    assert_eq!(doc["agent_sensor"]["baseline"]["new_country"], false);
    assert!(doc["agent_sensor"]["baseline"].get("new_executable").is_none());
    assert!(doc["agent_sensor"]["baseline"].get("score").is_none());

    let doc = json(&event(Detail::Exit { status: 9 }, Action::Exit));
    assert_eq!(doc["process"]["exit_code"], 137);
    assert_eq!(doc["agent_sensor"]["exit"]["signal"], 9);
    let doc = json(&event(Detail::Exit { status: 3 << 8 }, Action::Exit));
    assert_eq!(doc["process"]["exit_code"], 3);
}

#[test]
fn quotes_control_characters_and_non_ascii_in_a_path_are_escaped_as_serde_json_escapes_them() {
    let path = "/home/dev/\"q\"\\b\n\t\u{1}\u{1f}\u{7f}/café/日本/x.txt";
    let mut created = event(
        Detail::File(FileDetail {
            path: path.into(),
            path_argument: path.into(),
            syscall: Syscall::Openat,
            dirfd: -100,
            flags: (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32,
            mode: 0o4755,
            truncated: true,
            identity: None,
            change: Default::default(),
        }),
        Action::Open,
    );
    created.process.args = Arc::from(vec![
        "sh".to_string(),
        "-c".to_string(),
        "echo \"$HOME\"\r\n".to_string(),
    ]);
    let doc = json(&created);
    assert_eq!(doc["file"]["path"], path);
    assert_eq!(doc["agent_sensor"]["open"]["mode"], "4755");
}
