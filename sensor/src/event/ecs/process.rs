//! `process.*`, `user.*` and `group.*`.

use super::*;

#[derive(Serialize)]
pub(super) struct ProcessFields<'a> {
    pub(super) pid: u32,
    pub(super) name: &'a str,
    pub(super) executable: &'a str,
    pub(super) args: &'a [String],
    pub(super) args_count: usize,
    pub(super) command_line: &'a str,
    pub(super) working_directory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) start: Option<Shown<Rfc3339>>,
    pub(super) thread: Thread,
    pub(super) parent: Parent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit_code: Option<i64>,
}

impl<'a> ProcessFields<'a> {
    pub(super) fn of(event: &'a Event) -> Self {
        let process = &event.process;
        let exit_code = match event.detail {
            Detail::Exit { status } => Some(exit_code(status)),
            _ => None,
        };
        Self {
            pid: process.pid,
            name: process.name(),
            executable: &process.executable,
            args: &process.args,
            args_count: process.args.len(),
            command_line: &process.command_line,
            working_directory: &process.cwd,
            start: event.process_start_ns.map(|ns| Shown(Rfc3339(ns))),
            thread: Thread { id: event.tid },
            parent: Parent {
                pid: event.parent.as_ref().map_or(process.ppid, |parent| parent.pid),
                executable: event.parent.as_ref().and_then(|parent| parent.executable.as_deref()),
                command_line: event.parent.as_ref().and_then(|parent| parent.command_line.as_deref()),
            },
            exit_code,
        }
    }
}

/// ECS `process.exit_code`: the exit status, or 128 + signal for a process killed by a signal.
pub fn exit_code(status: u32) -> i64 {
    let signal = status & 0x7f;
    if signal == 0 {
        ((status >> 8) & 0xff) as i64
    } else {
        128 + signal as i64
    }
}

#[derive(Serialize)]
pub(super) struct Thread {
    pub(super) id: u32,
}

#[derive(Serialize)]
pub(super) struct Parent<'a> {
    pub(super) pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) executable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) command_line: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct UserFields<'a> {
    pub(super) id: Shown<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct GroupFields {
    pub(super) id: Shown<u32>,
}

/// `process.*`, `user.*` and `group.*` into the line, as [`ProcessFields`], [`UserFields`] and
/// [`GroupFields`] serialize them.
pub(super) fn write(line: &mut Line, event: &Event) {
    let process = &event.process;
    line.raw(br#","process":{"pid":"#);
    line.int(process.pid);
    line.field(br#","name":"#, process.name());
    line.field(br#","executable":"#, &process.executable);
    line.raw(br#","args":["#);
    for (at, arg) in process.args.iter().enumerate() {
        if at > 0 {
            line.raw(b",");
        }
        line.str(arg);
    }
    line.raw(br#"],"args_count":"#);
    line.int(process.args.len());
    line.field(br#","command_line":"#, &process.command_line);
    line.field(br#","working_directory":"#, &process.cwd);
    if let Some(start) = event.process_start_ns {
        line.raw(br#","start":""#);
        line.stamp(start);
        line.raw(b"\"");
    }
    line.raw(br#","thread":{"id":"#);
    line.int(event.tid);
    line.raw(br#"},"parent":{"pid":"#);
    let parent = event.parent.as_ref();
    line.int(parent.map_or(process.ppid, |parent| parent.pid));
    line.optional(
        br#","executable":"#,
        parent.and_then(|parent| parent.executable.as_deref()),
    );
    line.optional(
        br#","command_line":"#,
        parent.and_then(|parent| parent.command_line.as_deref()),
    );
    line.raw(b"}");
    if let Detail::Exit { status } = event.detail {
        line.raw(br#","exit_code":"#);
        line.int(exit_code(status));
    }
    line.raw(br#"},"user":{"id":""#);
    line.int(process.uid);
    line.raw(b"\"");
    line.optional(br#","name":"#, event.user_name.as_deref());
    line.raw(br#"},"group":{"id":""#);
    line.int(process.gid);
    line.raw(br#""}"#);
}
