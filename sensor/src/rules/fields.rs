//! The event fields rules can test: their names (the ECS names of docs/events.md plus derived
//! fields), types, and the actions that carry them.

use crate::event::Action;

/// A set of event actions, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ActionSet(u32);

impl ActionSet {
    pub const NONE: ActionSet = ActionSet(0);
    pub const ALL: ActionSet = ActionSet::of(&Action::ALL);
    pub const FILE: ActionSet = ActionSet::of(&[
        Action::Open,
        Action::Unlink,
        Action::Rmdir,
        Action::Rename,
        Action::Link,
        Action::Symlink,
        Action::Truncate,
    ]);
    pub const EXEC: ActionSet = ActionSet::of(&[Action::Exec]);
    pub const CONNECT: ActionSet = ActionSet::of(&[Action::Connect]);

    const fn bit(action: Action) -> u32 {
        1 << (action as u32)
    }

    pub const fn of(actions: &[Action]) -> ActionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < actions.len() {
            bits |= Self::bit(actions[i]);
            i += 1;
        }
        ActionSet(bits)
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & Self::bit(action) != 0
    }

    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    pub fn intersect(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |action| self.contains(*action))
    }
}

/// How a field's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Strings (keywords, paths, free text).
    Text,
    /// A list of strings; a matcher holds when any element matches.
    TextList,
    /// Open flags, tested by name.
    Flags,
    Number,
    Ip,
    Bool,
}

impl FieldType {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Text => "a string field",
            Self::TextList => "a list-of-strings field",
            Self::Flags => "a flags field",
            Self::Number => "a number field",
            Self::Ip => "an IP address field",
            Self::Bool => "a boolean field",
        }
    }
}

macro_rules! fields {
    ($($variant:ident => $name:literal, $kind:ident, $actions:expr, $home:literal;)*) => {
        /// An event field rules can test.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field {
            $($variant,)*
        }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            pub fn kind(self) -> FieldType {
                match self {
                    $(Field::$variant => FieldType::$kind,)*
                }
            }

            /// The actions whose events carry this field.
            pub fn actions(self) -> ActionSet {
                match self {
                    $(Field::$variant => $actions,)*
                }
            }

            /// True for fields whose value is the same on every event of a process (its name,
            /// program, parent, user, agent): their index bits are kept per value.
            pub fn is_per_process(self) -> bool {
                matches!(
                    self,
                    Field::ProcessName
                        | Field::ProcessExecutable
                        | Field::ProcessParentExecutable
                        | Field::ProcessParentName
                        | Field::UserId
                        | Field::UserName
                        | Field::GroupId
                        | Field::AgentName
                        | Field::Cgroup
                )
            }

            /// True when `~` in values means the user's home (path fields).
            pub fn is_path(self) -> bool {
                match self {
                    $(Field::$variant => $home,)*
                }
            }
        }
    };
}

const ALL: ActionSet = ActionSet::ALL;
const FILE: ActionSet = ActionSet::FILE;
const EXEC: ActionSet = ActionSet::EXEC;
const CONNECT: ActionSet = ActionSet::CONNECT;
const OPEN: ActionSet = ActionSet::of(&[Action::Open]);
const FAILABLE: ActionSet = ActionSet::of(&[Action::Open, Action::Unlink, Action::Rmdir, Action::Connect]);
const SYSCALLS: ActionSet = ActionSet::of(&[Action::Open, Action::Unlink, Action::Rmdir, Action::Connect]);
const WRITTEN: ActionSet = ActionSet::of(&[
    Action::Open,
    Action::Unlink,
    Action::Rmdir,
    Action::Exec,
    Action::Rename,
    Action::Link,
    Action::Truncate,
    Action::Chmod,
]);
const MOVED: ActionSet = ActionSet::of(&[Action::Rename, Action::Link]);

fields! {
    EventAction => "event.action", Text, ALL, false;
    EventOutcome => "event.outcome", Text, ALL, false;
    ErrorCode => "error.code", Text, FAILABLE, false;
    HostHostname => "host.hostname", Text, ALL, false;
    ProcessPid => "process.pid", Number, ALL, false;
    ProcessName => "process.name", Text, ALL, false;
    ProcessExecutable => "process.executable", Text, ALL, true;
    ProcessArgs => "process.args", TextList, ALL, true;
    ProcessArgsCount => "process.args_count", Number, ALL, false;
    ProcessCommandLine => "process.command_line", Text, ALL, false;
    ProcessWorkingDirectory => "process.working_directory", Text, ALL, true;
    ProcessParentPid => "process.parent.pid", Number, ALL, false;
    ProcessParentExecutable => "process.parent.executable", Text, ALL, true;
    ProcessParentName => "process.parent.name", Text, ALL, false;
    ProcessParentCommandLine => "process.parent.command_line", Text, ALL, false;
    ProcessExitCode => "process.exit_code", Number, ActionSet::of(&[Action::Exit]), false;
    UserId => "user.id", Text, ALL, false;
    UserName => "user.name", Text, ALL, false;
    GroupId => "group.id", Text, ALL, false;
    FilePath => "file.path", Text, FILE, true;
    FileName => "file.name", Text, FILE, false;
    FileDirectory => "file.directory", Text, FILE, true;
    FileExtension => "file.extension", Text, FILE, false;
    DestinationIp => "destination.ip", Ip, CONNECT, false;
    DestinationPort => "destination.port", Number, CONNECT, false;
    DestinationAddress => "destination.address", Text, CONNECT, true;
    NetworkType => "network.type", Text, CONNECT, false;
    NetworkTransport => "network.transport", Text, CONNECT, false;
    AgentName => "gen_ai.agent.name", Text, ALL, false;
    AgentId => "gen_ai.agent.id", Text, ALL, false;
    UserHome => "agent_sensor.user.home", Text, ALL, false;
    SessionWorkingDirectory => "agent_sensor.session.working_directory", Text, ALL, true;
    Syscall => "agent_sensor.syscall", Text, SYSCALLS, false;
    PathArgument => "agent_sensor.path_argument", Text, FILE, false;
    Dirfd => "agent_sensor.dirfd", Number, FILE, false;
    OpenFlags => "agent_sensor.open.flags", Flags, OPEN, false;
    OpenAccess => "agent_sensor.open.access", Text, OPEN, false;
    OpenWrite => "agent_sensor.open.write", Bool, OPEN, false;
    ExecFilename => "agent_sensor.exec.filename", Text, EXEC, true;
    ExecPathArgs => "agent_sensor.exec.path_args", TextList, EXEC, true;
    ExecArgsOutsideWorkspace => "agent_sensor.exec.args_outside_workspace", Bool, EXEC, false;
    ForkChildPid => "agent_sensor.fork.child_pid", Number, ActionSet::of(&[Action::Fork]), false;
    Cgroup => "agent_sensor.cgroup", Text, ALL, false;
    FileInWorkspace => "agent_sensor.file.in_workspace", Bool, WRITTEN, false;
    FileWrittenBySession => "agent_sensor.file.written_by_session", Bool, WRITTEN, false;
    DestinationCountry => "destination.geo.country_iso_code", Text, CONNECT, false;
    DestinationScope => "agent_sensor.destination.scope", Text, CONNECT, false;
    DestinationAllowed => "agent_sensor.destination.allowed", Bool, CONNECT, false;
    BaselineStatus => "agent_sensor.baseline.status", Text, ALL, false;
    BaselineNewExecutable => "agent_sensor.baseline.new_executable", Bool, EXEC, false;
    BaselineNewExecPair => "agent_sensor.baseline.new_exec_pair", Bool, EXEC, false;
    BaselineNewFileArea => "agent_sensor.baseline.new_file_area", Bool, FILE, false;
    BaselineFileArea => "agent_sensor.baseline.file_area", Text, FILE, false;
    BaselineNewDestination => "agent_sensor.baseline.new_destination", Bool, CONNECT, false;
    BaselineNewCountry => "agent_sensor.baseline.new_country", Bool, CONNECT, false;
    FileOriginalPath => "agent_sensor.file.original.path", Text, MOVED, true;
    FileCreated => "agent_sensor.file.created", Bool, OPEN, false;
    FileTargetPath => "file.target_path", Text, ActionSet::of(&[Action::Symlink]), false;
    ExecScript => "agent_sensor.exec.script", Text, EXEC, true;
    ProcessTrusted => "agent_sensor.process.trusted", Bool, ALL, false;
    SyscallDoor => "agent_sensor.call.door", Text, ALL, false;
    RepeatCount => "agent_sensor.repeat.count", Number, ALL, false;
    SyscallUnreadable => "agent_sensor.call.unreadable_argument", Bool, ALL, false;
    SyscallKilled => "agent_sensor.call.killed", Bool, ALL, false;
    PeerPid => "agent_sensor.peer.pid", Number, ALL, false;
    PeerName => "agent_sensor.peer.name", Text, ALL, false;
    PeerInSession => "agent_sensor.peer.in_session", Bool, ALL, false;
}

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|field| field.name() == name)
    }

    /// The known field names closest to `name`, for "did you mean" advice.
    pub fn suggest(name: &str) -> Option<&'static str> {
        let last = name.rsplit('.').next().unwrap_or(name);
        Field::ALL
            .iter()
            .map(|field| field.name())
            .find(|candidate| candidate.rsplit('.').next() == Some(last))
            .or_else(|| {
                Field::ALL
                    .iter()
                    .map(|field| field.name())
                    .min_by_key(|candidate| edit_distance(candidate, name))
                    .filter(|candidate| edit_distance(candidate, name) <= 4)
            })
    }
}

/// Levenshtein distance, for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current[j + 1] = (previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &field in Field::ALL {
            assert_eq!(Field::parse(field.name()), Some(field));
            assert!(seen.insert(field.name()), "duplicate {}", field.name());
        }
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(Field::suggest("file.pth"), Some("file.path"));
        assert_eq!(Field::suggest("proc.executable"), Some("process.executable"));
        assert_eq!(Field::suggest("zzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn action_sets() {
        assert!(ActionSet::FILE.contains(Action::Unlink));
        assert!(!ActionSet::FILE.contains(Action::Exec));
        assert_eq!(ActionSet::FILE.intersect(ActionSet::EXEC), ActionSet::NONE);
        assert_eq!(ActionSet::ALL.iter().count(), Action::ALL.len());
    }
}
