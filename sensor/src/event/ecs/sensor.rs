//! `gen_ai.*` and the `agent_sensor.*` fields of the call, session and process.

use super::*;

#[derive(Serialize)]
pub(super) struct GenAi<'a> {
    pub(super) agent: Agent<'a>,
}

#[derive(Serialize)]
pub(super) struct Agent<'a> {
    pub(super) name: &'a str,
    pub(super) id: Shown<Hex16>,
}

#[derive(Serialize)]
pub(super) struct SensorFields<'a> {
    pub(super) schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<UserHome<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) session: Option<SessionFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) syscall: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) path_argument: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dirfd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) open: Option<OpenFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) path_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exec: Option<ExecFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fork: Option<ForkFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit: Option<ExitFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) destination: Option<SensorDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) baseline: Option<BaselineFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) repeat: Option<RepeatFields>,
    /// `agent_sensor.call`: the door the call came through and what the kernel did about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) call: Option<CallFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) peer: Option<&'a crate::event::peer::PeerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) file: Option<FileChangeFields<'a>>,
}

#[derive(Serialize)]
pub(super) struct CallFields {
    pub(super) door: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) unreadable_argument: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) killed: bool,
}

#[derive(Serialize)]
pub(super) struct RepeatFields {
    pub(super) count: u32,
}

#[derive(Serialize)]
pub(super) struct UserHome<'a> {
    pub(super) home: &'a str,
}

#[derive(Serialize)]
pub(super) struct SessionFields<'a> {
    pub(super) working_directory: &'a str,
}

#[derive(Serialize)]
pub(super) struct OpenFields {
    pub(super) flags: FlagNames,
    pub(super) access: &'static str,
    pub(super) write: bool,
    /// Only for opens that can create a file (`O_CREAT`, `O_TMPFILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mode: Option<Shown<Mode>>,
}

/// `agent_sensor.open.flags`: the names of the open's flags.
pub(super) struct FlagNames(u32);

impl Serialize for FlagNames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(open_flags::each_name(self.0))
    }
}

/// `agent_sensor.open.mode`: the permission bits as four octal digits (`0644`).
pub(super) struct Mode(u32);

impl text::Inline for Mode {
    fn inline(&self) -> crate::event::InlineText {
        let mut text = crate::event::InlineText::default();
        text.push_ascii(&super::line::octal4(self.0));
        text
    }
}

#[derive(Serialize)]
pub(super) struct ExecFields<'a> {
    pub(super) filename: &'a str,
}

#[derive(Serialize)]
pub(super) struct ForkFields {
    pub(super) child_pid: u32,
}

#[derive(Serialize)]
pub(super) struct ExitFields {
    pub(super) status: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) signal: Option<u32>,
}

impl<'a> SensorFields<'a> {
    pub(super) fn of(event: &'a Event) -> Self {
        let mut fields = Self {
            schema_version: SCHEMA_VERSION,
            user: event.user_home.as_deref().map(|home| UserHome { home }),
            session: event
                .session
                .as_ref()
                .and_then(|session| session.working_directory.as_deref())
                .map(|working_directory| SessionFields { working_directory }),
            syscall: None,
            path_argument: None,
            dirfd: None,
            open: None,
            path_truncated: None,
            args_truncated: event.process.args_truncated.then_some(true),
            exec: None,
            fork: None,
            exit: None,
            cgroup: event.process.cgroup.as_deref(),
            destination: event
                .annotations
                .destination
                .as_ref()
                .filter(|info| info.scope.is_some() || info.allowed.is_some())
                .map(|info| SensorDestination {
                    scope: info.scope.map(|scope| scope.as_str()),
                    allowed: info.allowed,
                }),
            baseline: event.annotations.baseline.as_deref().map(BaselineFields::of),
            repeat: (event.repeat > 1).then_some(RepeatFields { count: event.repeat }),
            peer: event.annotations.peer.as_ref(),
            file: None,
            call: (event.door != crate::event::Door::Syscall
                || event.syscall_flags != crate::event::SyscallFlags::default())
            .then(|| CallFields {
                door: event.door.as_str(),
                unreadable_argument: event.syscall_flags.unreadable_argument,
                killed: event.syscall_flags.killed,
            }),
        };
        match &event.detail {
            Detail::File(file) => {
                fields.syscall = Some(file.syscall.name());
                fields.path_argument = Some(&file.path_argument);
                fields.dirfd = Some(file.dirfd);
                fields.file = FileChangeFields::of(&file.change);
                fields.path_truncated = file.truncated.then_some(true);
                if event.action == Action::Open {
                    let access = open_flags::Access::of(file.flags);
                    fields.open = Some(OpenFields {
                        flags: FlagNames(file.flags),
                        access: access.as_str(),
                        write: open_flags::is_write(file.flags),
                        mode: open_flags::creates(file.flags).then_some(Shown(Mode(file.mode & 0o7777))),
                    });
                }
            }
            Detail::Exec { filename, .. } => fields.exec = Some(ExecFields { filename }),
            Detail::Fork { child_pid } => fields.fork = Some(ForkFields { child_pid: *child_pid }),
            Detail::Exit { status } => {
                let signal = status & 0x7f;
                fields.exit = Some(ExitFields {
                    status: (status >> 8) & 0xff,
                    signal: (signal != 0).then_some(signal),
                });
            }
            Detail::Connect { .. } => fields.syscall = Some("connect"),
            Detail::Socket { .. } | Detail::Process(_) => {}
        }
        fields
    }
}

/// `agent_sensor.*` into the line, as [`SensorFields`] serializes it; the baseline's facts and
/// the peer keep their serde form (they are rare, and the baseline holds numbers with fractions).
pub(super) fn write(line: &mut Line, event: &Event) -> Result<(), super::writer::WriteError> {
    line.raw(br#","agent_sensor":{"schema_version":"#);
    line.int(SCHEMA_VERSION);
    if let Some(home) = event.user_home.as_deref() {
        line.field(br#","user":{"home":"#, home);
        line.raw(b"}");
    }
    if let Some(directory) = event
        .session
        .as_ref()
        .and_then(|session| session.working_directory.as_deref())
    {
        line.field(br#","session":{"working_directory":"#, directory);
        line.raw(b"}");
    }
    match &event.detail {
        Detail::File(file) => write_file_call(line, event.action, file),
        Detail::Connect { .. } => line.raw(br#","syscall":"connect""#),
        _ => {}
    }
    if event.process.args_truncated {
        line.raw(br#","args_truncated":true"#);
    }
    match &event.detail {
        Detail::Exec { filename, .. } => {
            line.field(br#","exec":{"filename":"#, filename);
            line.raw(b"}");
        }
        Detail::Fork { child_pid } => {
            line.raw(br#","fork":{"child_pid":"#);
            line.int(*child_pid);
            line.raw(b"}");
        }
        Detail::Exit { status } => {
            line.raw(br#","exit":{"status":"#);
            line.int((status >> 8) & 0xff);
            if status & 0x7f != 0 {
                line.raw(br#","signal":"#);
                line.int(status & 0x7f);
            }
            line.raw(b"}");
        }
        _ => {}
    }
    line.optional(br#","cgroup":"#, event.process.cgroup.as_deref());
    if let Some(info) = &event.annotations.destination {
        write_destination(line, info);
    }
    if let Some(facts) = event.annotations.baseline.as_deref() {
        line.raw(br#","baseline":"#);
        super::writer::write(line.out, &BaselineFields::of(facts))?;
    }
    if event.repeat > 1 {
        line.raw(br#","repeat":{"count":"#);
        line.int(event.repeat);
        line.raw(b"}");
    }
    if event.door != crate::event::Door::Syscall || event.syscall_flags != crate::event::SyscallFlags::default() {
        line.raw(br#","call":{"door":"#);
        line.name(event.door.as_str());
        if event.syscall_flags.unreadable_argument {
            line.raw(br#","unreadable_argument":true"#);
        }
        if event.syscall_flags.killed {
            line.raw(br#","killed":true"#);
        }
        line.raw(b"}");
    }
    if let Some(peer) = &event.annotations.peer {
        line.raw(br#","peer":"#);
        super::writer::write(line.out, peer)?;
    }
    if let Detail::File(file) = &event.detail {
        super::file::write_change(line, &file.change);
    }
    line.raw(b"}");
    Ok(())
}

/// `syscall`, `path_argument`, `dirfd`, `open` and `path_truncated` of a file operation.
fn write_file_call(line: &mut Line, action: Action, file: &crate::event::FileDetail) {
    line.raw(br#","syscall":"#);
    line.name(file.syscall.name());
    line.field(br#","path_argument":"#, &file.path_argument);
    line.raw(br#","dirfd":"#);
    line.int(file.dirfd);
    if action == Action::Open {
        line.raw(br#","open":{"flags":"#);
        line.names(open_flags::each_name(file.flags));
        line.raw(br#","access":"#);
        line.name(open_flags::Access::of(file.flags).as_str());
        line.raw(br#","write":"#);
        line.bool(open_flags::is_write(file.flags));
        if open_flags::creates(file.flags) {
            line.raw(br#","mode":""#);
            line.raw(&super::line::octal4(file.mode & 0o7777));
            line.raw(b"\"");
        }
        line.raw(b"}");
    }
    if file.truncated {
        line.raw(br#","path_truncated":true"#);
    }
}

/// `agent_sensor.destination`, when it has a scope or a verdict.
fn write_destination(line: &mut Line, info: &DestinationInfo) {
    let scope = info.scope.map(|scope| scope.as_str());
    if scope.is_none() && info.allowed.is_none() {
        return;
    }
    line.raw(br#","destination":{"#);
    if let Some(scope) = scope {
        line.raw(br#""scope":"#);
        line.name(scope);
    }
    if let Some(allowed) = info.allowed {
        line.raw(if scope.is_some() {
            br#","allowed":"#
        } else {
            br#""allowed":"#
        });
        line.bool(allowed);
    }
    line.raw(b"}");
}
