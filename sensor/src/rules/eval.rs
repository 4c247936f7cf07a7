//! One event as rules see it: its fields by name, including the derived ones, computed at most
//! once per event.

use std::{
    cell::{Cell, OnceCell},
    net::IpAddr,
};

use super::{fields::Field, index::ActionIndex, matchers::below, scratch::Scratch};
use crate::event::{Action, Destination, Detail, Event, FileChange, InlineText, open_flags};

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'v> {
    Text(&'v str),
    List(&'v [String]),
    Flags(u32),
    Number(i64),
    Ip(IpAddr),
    Bool(bool),
}

/// An event with the context rules need: the user's home, the session's working directory,
/// and what the session wrote before. It is small (a few references): what rules compute from
/// the event lives in the engine's working memory ([`Scratch`]), reused from event to event.
pub struct EvalEvent<'a> {
    pub event: &'a Event,
    /// Home directory of the event's user, for `~` in rule values.
    pub home: Option<&'a str>,
    /// The session's working directory (its workspace unless `process::workspace` says it is
    /// none: the home or `/`).
    pub working_directory: Option<&'a str>,
    /// The session wrote this event's path (for exec: the executed file) earlier.
    pub written_by_session: bool,
    /// Working memory started for this event: macro memo, index bits, derived values, the
    /// resolved path arguments of an exec.
    scratch: &'a Scratch,
    /// The action's index (`Cond::Bit`); `None` for plain evaluation.
    index: Option<&'a ActionIndex>,
    name: OnceCell<&'a str>,
    /// `file.name`, asked by many rules of one event.
    file_name: OnceCell<&'a str>,
}

impl<'a> EvalEvent<'a> {
    /// `event` with `scratch` (started for it: [`Scratch::start`]) and the index of its action
    /// (`None` when the conditions are not lowered to index bits).
    pub fn new(
        event: &'a Event,
        written_by_session: bool,
        scratch: &'a Scratch,
        index: Option<&'a ActionIndex>,
    ) -> Self {
        Self {
            event,
            home: event.user_home.as_deref(),
            working_directory: event
                .session
                .as_ref()
                .and_then(|session| session.working_directory.as_deref())
                .filter(|dir| !dir.is_empty()),
            written_by_session,
            scratch,
            index,
            name: OnceCell::new(),
            file_name: OnceCell::new(),
        }
    }

    /// Macro results already computed for this event.
    #[inline]
    pub fn memo(&self) -> &[Cell<u8>] {
        &self.scratch.memo
    }

    /// Bit `bit` of the index field in `slot`: the field's bits are computed on the first call.
    #[inline]
    pub fn bit(&self, slot: u8, bit: u32) -> bool {
        self.any_bit(slot, bit / 64, 1 << (bit % 64))
    }

    /// Whether one of the bits `mask` of word `word` of the index field in `slot` holds.
    #[inline]
    pub fn any_bit(&self, slot: u8, word: u32, mask: u64) -> bool {
        let Some(index) = self.index else {
            return false;
        };
        let scratch = self.scratch;
        let computed = 1u64 << slot;
        if scratch.computed.get() & computed == 0 {
            scratch.computed.set(scratch.computed.get() | computed);
            self.compute_bits(index, slot);
        }
        index
            .first_words
            .get(slot as usize)
            .and_then(|first| scratch.bits.get(first + word as usize))
            .is_some_and(|bits| bits.get() & mask != 0)
    }

    /// The bits of the index field in `slot`, once per event.
    #[inline(never)]
    fn compute_bits(&self, index: &ActionIndex, slot: u8) {
        let Some(field) = index.fields.get(slot as usize) else {
            return;
        };
        let Some(words) = self.scratch.bits.get(field.first_word..field.first_word + field.words) else {
            return;
        };
        words.iter().for_each(|word| word.set(0));
        if let Some(Value::Text(value)) = self.get(field.field) {
            let below_home = match self.home {
                Some(home) if field.field.is_path() => below(value, home),
                _ => None,
            };
            match &self.scratch.per_process {
                // A value below the home is matched against `~` patterns too, which depend
                // on the user: those are not kept.
                cache if below_home.is_none() && field.field.is_per_process() => {
                    let table = self.event.action as usize * 64 + slot as usize;
                    let kept = cache.borrow().get(table, value).map(|bits| {
                        words.iter().zip(bits).for_each(|(word, bits)| word.set(*bits));
                    });
                    if kept.is_none() {
                        field.evaluate(value, None, words);
                        cache.borrow_mut().insert(table, value, words.iter().map(Cell::get));
                    }
                }
                _ => field.evaluate(value, below_home, words),
            }
        }
    }

    /// `file.name` of the event's file, found once per event.
    fn file_name(&self) -> Option<&'a str> {
        let file = self.event.file()?;
        Some(self.file_name.get_or_init(|| file.name()))
    }

    /// The value of `field`, or `None` when this event does not have it.
    pub fn get(&self, field: Field) -> Option<Value<'_>> {
        let event = self.event;
        let process = &event.process;
        let file = event.file();
        Some(match field {
            Field::EventAction => Value::Text(event.action.as_str()),
            Field::EventOutcome => Value::Text(event.outcome.as_str()),
            Field::ErrorCode => Value::Text(event.error?),
            Field::HostHostname => Value::Text(event.hostname.as_deref()?),
            Field::ProcessPid => Value::Number(process.pid as i64),
            Field::ProcessName => Value::Text(self.name.get_or_init(|| process.name())),
            Field::ProcessExecutable => Value::Text(non_empty(&process.executable)?),
            Field::ProcessArgs => Value::List(&process.args),
            Field::ProcessArgsCount => Value::Number(process.args.len() as i64),
            Field::ProcessCommandLine => Value::Text(self.command_line()),
            Field::ProcessWorkingDirectory => Value::Text(non_empty(&process.cwd)?),
            Field::ProcessParentPid => Value::Number(event.parent.as_ref().map_or(process.ppid, |p| p.pid) as i64),
            Field::ProcessParentExecutable => Value::Text(self.parent_executable()?),
            Field::ProcessParentCommandLine => Value::Text(event.parent.as_ref()?.command_line.as_deref()?),
            Field::ProcessParentName => {
                let executable = self.parent_executable()?;
                Value::Text(crate::process::resolve::last_component(executable))
            }
            Field::ProcessExitCode => match event.detail {
                Detail::Exit { status } => Value::Number(crate::event::ecs::exit_code(status)),
                _ => return None,
            },
            Field::UserId => Value::Text(
                self.scratch
                    .uid
                    .get_or_init(|| InlineText::format(format_args!("{}", process.uid)))
                    .as_str(),
            ),
            Field::UserName => Value::Text(event.user_name.as_deref()?),
            Field::GroupId => Value::Text(
                self.scratch
                    .gid
                    .get_or_init(|| InlineText::format(format_args!("{}", process.gid)))
                    .as_str(),
            ),
            Field::FilePath => Value::Text(&file?.path),
            Field::FileName => Value::Text(self.file_name()?),
            Field::FileDirectory => Value::Text(file?.directory()),
            Field::FileExtension => {
                let name = self.file_name()?;
                let dot = name.rfind('.').filter(|&index| index > 0)?;
                Value::Text(&name[dot + 1..])
            }
            Field::DestinationIp => match event.destination()? {
                Destination::Inet(address) => Value::Ip(address.ip()),
                Destination::Unix(_) => return None,
            },
            Field::DestinationPort => match event.destination()? {
                Destination::Inet(address) => Value::Number(address.port() as i64),
                Destination::Unix(_) => return None,
            },
            Field::DestinationAddress => Value::Text(match event.destination()? {
                Destination::Inet(address) => self
                    .scratch
                    .destination
                    .get_or_init(|| InlineText::format(format_args!("{}", address.ip())))
                    .as_str(),
                Destination::Unix(path) => path,
            }),
            Field::NetworkType => Value::Text(match event.destination()? {
                Destination::Inet(address) if address.is_ipv4() => "ipv4",
                Destination::Inet(_) => "ipv6",
                Destination::Unix(_) => "unix",
            }),
            Field::NetworkTransport => match &event.detail {
                Detail::Connect {
                    transport: Some(transport),
                    ..
                } => Value::Text(transport.as_str()),
                _ => return None,
            },
            Field::AgentName => Value::Text(&event.session.as_ref()?.agent),
            Field::AgentId => {
                let id = event.session.as_ref()?.id;
                Value::Text(
                    self.scratch
                        .agent_id
                        .get_or_init(|| InlineText::format(format_args!("{id:016x}")))
                        .as_str(),
                )
            }
            Field::UserHome => Value::Text(self.home?),
            Field::SessionWorkingDirectory => Value::Text(self.working_directory?),
            Field::Syscall => match &event.detail {
                Detail::File(file) => Value::Text(file.syscall.name()),
                Detail::Connect { .. } => Value::Text("connect"),
                _ => return None,
            },
            Field::PathArgument => Value::Text(&file?.path_argument),
            Field::Dirfd => Value::Number(file?.dirfd as i64),
            Field::OpenFlags => Value::Flags(self.open()?.flags),
            Field::OpenAccess => Value::Text(open_flags::Access::of(self.open()?.flags).as_str()),
            Field::OpenWrite => Value::Bool(open_flags::is_write(self.open()?.flags)),
            Field::ExecFilename => match &event.detail {
                Detail::Exec { filename, .. } => Value::Text(filename),
                _ => return None,
            },
            Field::ExecPathArgs => {
                if event.action != Action::Exec {
                    return None;
                }
                Value::List(self.path_args())
            }
            Field::ExecArgsOutsideWorkspace => {
                if event.action != Action::Exec {
                    return None;
                }
                let workspace = self.workspace()?;
                Value::Bool(
                    self.path_args()
                        .iter()
                        .any(|path| workspace.is_none_or(|workspace| !is_under(path, workspace))),
                )
            }
            Field::ForkChildPid => match event.detail {
                Detail::Fork { child_pid } => Value::Number(child_pid as i64),
                _ => return None,
            },
            Field::Cgroup => Value::Text(process.cgroup.as_deref()?),
            Field::FileInWorkspace => {
                let path = match &event.detail {
                    Detail::Exec { filename, .. } => filename.as_str(),
                    _ => file?.path.as_str(),
                };
                Value::Bool(self.workspace()?.is_some_and(|workspace| is_under(path, workspace)))
            }
            Field::FileWrittenBySession if Field::FileWrittenBySession.actions().contains(event.action) => {
                Value::Bool(self.written_by_session)
            }
            Field::FileWrittenBySession => return None,
            Field::DestinationCountry => {
                Value::Text(event.annotations.destination.as_ref()?.country.as_ref()?.as_str())
            }
            Field::DestinationScope => Value::Text(event.annotations.destination.as_ref()?.scope?.as_str()),
            Field::DestinationAllowed => Value::Bool(event.annotations.destination.as_ref()?.allowed?),
            Field::BaselineStatus => Value::Text(self.baseline()?.status.as_str()),
            Field::BaselineNewExecutable => Value::Bool(self.baseline()?.new_executable?),
            Field::BaselineNewExecPair => Value::Bool(self.baseline()?.new_exec_pair?),
            Field::BaselineNewFileArea => Value::Bool(self.baseline()?.new_file_area?),
            Field::BaselineFileArea => Value::Text(self.baseline()?.file_area.as_deref()?),
            Field::BaselineNewDestination => Value::Bool(self.baseline()?.new_destination?),
            Field::BaselineNewCountry => Value::Bool(self.baseline()?.new_country?),
            Field::FileOriginalPath => match &file?.change {
                FileChange::From { original } => Value::Text(original),
                _ => return None,
            },
            Field::FileCreated => Value::Bool(matches!(self.open()?.change, FileChange::Created)),
            Field::FileTargetPath => match &file?.change {
                FileChange::Symlink { target } => Value::Text(target),
                _ => return None,
            },
            Field::ExecScript => match &event.detail {
                Detail::Exec { script, .. } => Value::Text(script.as_deref()?),
                _ => return None,
            },
            Field::ProcessTrusted => Value::Bool(process.trusted),
            Field::SyscallDoor => Value::Text(event.door.as_str()),
            Field::RepeatCount => Value::Number(event.repeat as i64),
            Field::SyscallUnreadable => Value::Bool(event.syscall_flags.unreadable_argument),
            Field::SyscallKilled => Value::Bool(event.syscall_flags.killed),
            Field::PeerPid => Value::Number(i64::from(event.annotations.peer.as_ref()?.pid)),
            Field::PeerName => Value::Text(&event.annotations.peer.as_ref()?.name),
            Field::PeerInSession => Value::Bool(event.annotations.peer.as_ref()?.in_session),
        })
    }

    fn baseline(&self) -> Option<&crate::event::annotations::BaselineFacts> {
        self.event.annotations.baseline.as_deref()
    }

    fn open(&self) -> Option<&crate::event::FileDetail> {
        (self.event.action == Action::Open).then(|| self.event.file()).flatten()
    }

    fn command_line(&self) -> &str {
        self.event.command_line()
    }

    fn parent_executable(&self) -> Option<&str> {
        self.event.parent.as_ref()?.executable.as_deref().and_then(non_empty)
    }

    /// The session's workspace: `None` when its working directory is unknown, `Some(None)` when
    /// it has none (started in the home or `/`: every path is outside it).
    fn workspace(&self) -> Option<Option<&'a str>> {
        self.working_directory
            .map(|dir| crate::process::workspace::of(dir, self.home))
    }

    /// Arguments after argv[0] that are not options, resolved against the working directory
    /// (by [`Scratch::start`]).
    fn path_args(&self) -> &'a [String] {
        self.scratch.path_args()
    }
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// True when `path` is `dir` or lies below it (component-wise, not by string prefix).
pub fn is_under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return path.starts_with('/');
    }
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_is_component_wise() {
        assert!(is_under("/home/a/project/src/x.rs", "/home/a/project"));
        assert!(is_under("/home/a/project", "/home/a/project/"));
        assert!(!is_under("/home/a/project2/x", "/home/a/project"));
        assert!(is_under("/etc/passwd", "/"));
    }
}
