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
        let digits: [u8; 4] = std::array::from_fn(|at| b'0' + ((self.0 >> (3 * (3 - at))) & 7) as u8);
        text.push_ascii(&digits);
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
