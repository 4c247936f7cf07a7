//! Events of the generic operations (`SyscallEvent` records): renames, links, truncation,
//! permission and owner changes, extended attributes, directories, mounts, namespaces, memfd,
//! listeners, ptrace, io_uring set-up, failed execs, and the 32-bit and io_uring forms of the
//! calls that have records of their own.

use sensor_common::event::{EVENT_CONNECT, SYSCALL_AT_ENTRY, SYSCALL_COMPAT, SYSCALL_IO_URING, Syscall};

use super::{Action, Destination, Detail, Door, Event, FileChange, FileDetail, Outcome, ProcessOperation};
use crate::{
    decode::{self, DecodedPath, Operation, SocketAddress, errno_name},
    process::resolve::resolve_argument,
};

const AT_REMOVEDIR: u64 = 0x200;
/// `(uid_t) -1`: chown's "leave it".
const UNCHANGED: u64 = u32::MAX as u64;

impl super::Enricher {
    /// The event of a generic operation; `None` for records that only update state.
    pub(super) fn operation_event(&mut self, op: Operation) -> Option<Event> {
        use Syscall as S;
        let door = if op.flags & SYSCALL_IO_URING != 0 {
            Door::IoUring
        } else if op.flags & SYSCALL_COMPAT != 0 {
            Door::Compat
        } else {
            Door::Syscall
        };
        let cwd = self.cwd_of(op.common.pid);
        let absolute = |path: &Option<DecodedPath>, base: &Option<DecodedPath>| -> (String, String, bool) {
            match path {
                Some(path) => {
                    let base = base.as_ref().map(|base| base.path.as_str()).or(cwd.as_deref());
                    (
                        resolve_argument(base, &path.path, op.common.pid),
                        path.path.clone(),
                        path.truncated,
                    )
                }
                None => (String::new(), String::new(), false),
            }
        };
        let (path, argument, truncated) = absolute(&op.path, &op.base);
        let (path2, argument2, truncated2) = absolute(&op.path2, &op.base2);
        let text = decode::lossy(op.text.split(|&b| b == 0).next().unwrap_or(&[]));
        let file = |path: String, argument: String, truncated: bool, change: FileChange| {
            Detail::File(FileDetail {
                path,
                path_argument: argument,
                syscall: op.syscall,
                dirfd: op.dirfd,
                flags: op.args[0] as u32,
                mode: 0,
                truncated,
                identity: op.object,
                change,
            })
        };
        let (action, detail) = match op.syscall {
            S::Rename | S::Renameat | S::Renameat2 => (
                Action::Rename,
                file(path2, argument2, truncated2, FileChange::From { original: path }),
            ),
            S::Link | S::Linkat => (
                Action::Link,
                file(path2, argument2, truncated2, FileChange::From { original: path }),
            ),
            S::Symlink | S::Symlinkat => (
                Action::Symlink,
                file(path2, argument2, truncated2, FileChange::Symlink { target: text }),
            ),
            S::Truncate | S::Ftruncate => (
                Action::Truncate,
                file(path, argument, truncated, FileChange::Truncate { length: op.args[0] }),
            ),
            S::Chmod | S::Fchmod | S::Fchmodat | S::Fchmodat2 => (
                Action::Chmod,
                file(
                    path,
                    argument,
                    truncated,
                    FileChange::Chmod {
                        mode: op.args[0] as u32,
                    },
                ),
            ),
            S::Chown | S::Fchown | S::Lchown | S::Fchownat => {
                let id = |value: u64| (value & UNCHANGED != UNCHANGED).then_some(value as u32);
                let change = FileChange::Chown {
                    uid: id(op.args[0]),
                    gid: id(op.args[1]),
                };
                (Action::Chown, file(path, argument, truncated, change))
            }
            S::Setxattr | S::Lsetxattr | S::Fsetxattr => (
                Action::Setxattr,
                file(path, argument, truncated, FileChange::Xattr { name: text }),
            ),
            S::Mkdir | S::Mkdirat => (
                Action::Mkdir,
                file(
                    path,
                    argument,
                    truncated,
                    FileChange::Mkdir {
                        mode: op.args[0] as u32,
                    },
                ),
            ),
            S::Mount | S::MoveMount => {
                let change = FileChange::Mount {
                    source: if op.syscall == S::Mount { argument } else { path },
                    fstype: if op.syscall == S::Mount { text } else { String::new() },
                    flags: op.args[0],
                };
                (Action::Mount, file(path2, argument2, truncated2, change))
            }
            S::Umount2 => (Action::Umount, file(path, argument, truncated, FileChange::None)),
            S::Execve | S::Execveat => (
                Action::Exec,
                Detail::Exec {
                    filename: path,
                    script: None,
                    exec_flags: 0,
                    identity: None,
                },
            ),
            S::Unshare => (
                Action::Unshare,
                Detail::Process(ProcessOperation::Unshare { flags: op.args[0] }),
            ),
            S::Setns => (
                Action::Setns,
                Detail::Process(ProcessOperation::Setns {
                    fd: op.dirfd,
                    nstype: op.args[0],
                }),
            ),
            S::MemfdCreate => (
                Action::MemfdCreate,
                Detail::Process(ProcessOperation::Memfd {
                    name: text,
                    flags: op.args[0],
                    fd: op.ret,
                }),
            ),
            S::Ptrace => (
                Action::Ptrace,
                Detail::Process(ProcessOperation::Ptrace {
                    request: op.args[0],
                    pid: op.args[1] as u32,
                }),
            ),
            S::ProcessVmWritev => (
                Action::ProcessVmWritev,
                Detail::Process(ProcessOperation::ProcessVmWritev { pid: op.args[0] as u32 }),
            ),
            S::IoUringSetup => (
                Action::IoUringSetup,
                Detail::Process(ProcessOperation::IoUringSetup {
                    entries: op.args[0],
                    flags: op.args[1],
                }),
            ),
            S::Bind | S::Listen => (
                if op.syscall == S::Bind {
                    Action::Bind
                } else {
                    Action::Listen
                },
                Detail::Socket {
                    address: decode::socket_address(&op.text).map(destination),
                    fd: op.dirfd,
                    backlog: (op.syscall == S::Listen).then_some(op.args[0]),
                },
            ),
            // The calls with records of their own, through the other doors.
            S::Open | S::Openat | S::Openat2 | S::Creat => {
                let mut detail = FileDetail {
                    path,
                    path_argument: argument,
                    syscall: op.syscall,
                    dirfd: op.dirfd,
                    flags: op.args[0] as u32,
                    mode: op.args[1] as u32,
                    truncated,
                    identity: op.object,
                    change: FileChange::None,
                };
                if op.syscall == S::Creat {
                    detail.flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32;
                }
                (Action::Open, Detail::File(detail))
            }
            S::Unlink | S::Unlinkat | S::Rmdir => {
                let rmdir = op.syscall == S::Rmdir || (op.syscall == S::Unlinkat && op.args[0] & AT_REMOVEDIR != 0);
                let action = if rmdir { Action::Rmdir } else { Action::Unlink };
                (action, file(path, argument, truncated, FileChange::None))
            }
            S::Connect => {
                let destination = decode::socket_address(&op.text).map(destination)?;
                (
                    Action::Connect,
                    Detail::Connect {
                        destination,
                        fd: op.dirfd,
                        transport: None,
                    },
                )
            }
            S::Chdir | S::Fchdir => return None,
        };
        let outcome = if op.flags & (SYSCALL_AT_ENTRY | SYSCALL_IO_URING) != 0 {
            Outcome::Unknown
        } else {
            Outcome::of_return(op.ret)
        };
        let error = (outcome == Outcome::Failure).then(|| errno_name(-op.ret)).flatten();
        let mut event = self.event(&op.common, action, outcome, error, detail);
        event.door = door;
        event.syscall_flags = super::SyscallFlags::from_bits(op.flags as u32);
        Some(event)
    }

    /// The last open (or datagram destination) of a thread, counted `count` more times by the
    /// kernel (see `RepeatEvent`): the same event again, standing for the repeats.
    pub(super) fn repeat_event(&mut self, repeat: decode::Repeat) -> Option<Event> {
        let mut event = self.last_opens.get(&repeat.common.tid)?.clone();
        let expected = if repeat.kind == EVENT_CONNECT {
            Action::Connect
        } else {
            Action::Open
        };
        if event.action != expected {
            return None;
        }
        self.sequence += 1;
        event.sequence = self.sequence;
        event.timestamp_ns = self.epoch_ns(repeat.last_ns);
        event.repeat = repeat.count;
        Some(event)
    }

    /// Keeps the open event (or datagram destination) of a thread, for the repeats the kernel may
    /// count after it (see `enrich_deferred`): as it was enriched, without baseline facts.
    pub fn remember(&mut self, mut event: Event) {
        event.annotations.baseline = None;
        self.last_opens.put(event.tid, event);
    }
}

fn destination(address: SocketAddress) -> Destination {
    match address {
        SocketAddress::Inet(address) => Destination::Inet(address),
        SocketAddress::Unix(path) => Destination::Unix(path),
    }
}

#[cfg(test)]
mod tests {
    use sensor_common::event::{EVENT_OPEN, Syscall};

    use super::super::{Enricher, Event, annotations::BaselineFacts, ecs::SensorContext};
    use crate::{
        decode::{Common, Open, RawEvent, Repeat, Resolved, Text},
        process::{ProcessTable, cgroup::CgroupNames},
    };

    fn common(time_ns: u64) -> Common {
        Common {
            time_ns,
            session_id: 7,
            pid: 42,
            tid: 43,
            uid: 1000,
            gid: 1000,
            cgroup_id: 0,
            priority: false,
        }
    }

    #[test]
    fn a_repeat_is_the_open_as_enriched_whether_it_was_copied_or_moved_in() {
        let open = RawEvent::Open(Open {
            common: common(1_000),
            syscall: Syscall::Openat,
            dirfd: -100,
            flags: 0,
            mode: 0,
            ret: -2,
            path: Text {
                value: "notes.txt".into(),
                ..Text::default()
            },
            resolved: Resolved::None,
            object: None,
            fmode: 0,
            repeat: 1,
        });
        let repeat = RawEvent::Repeat(Repeat {
            common: common(5_000),
            kind: EVENT_OPEN,
            count: 9,
            first_ns: 2_000,
            last_ns: 5_000,
        });
        let context = SensorContext::current();
        let enricher = || {
            Enricher::new(
                ProcessTable::detached(),
                CgroupNames::default(),
                Vec::new(),
                context.clone(),
            )
        };
        // Each enricher reads the clocks when made: its times are its own.
        let at = |event: Event, of: &Event| Event {
            timestamp_ns: of.timestamp_ns,
            ..event
        };
        let mut copied = enricher();
        let first = copied.enrich(open.clone()).expect("the open");
        let by_copy = copied.enrich(repeat.clone()).expect("its repeat");

        let mut moved = enricher();
        let (mut event, kept) = moved.enrich_deferred(open).expect("the open");
        assert!(kept);
        assert_eq!(at(event.clone(), &first), first);
        // What the pipeline adds to an event is not its repeats'.
        event.annotations.baseline = Some(Box::new(BaselineFacts::default()));
        moved.remember(event);
        let by_move = moved.enrich(repeat).expect("its repeat");
        assert_eq!(at(by_move.clone(), &by_copy), by_copy);
        assert_eq!(
            (by_move.repeat, by_move.sequence, by_move.annotations.baseline),
            (9, 2, None)
        );
    }
}
