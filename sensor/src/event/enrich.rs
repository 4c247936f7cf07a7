//! Joins kernel records with the process table and the session registry.

use std::sync::Arc;

use sensor_common::event::{CONNECT_UNREADABLE, FMODE_CREATED, ROUTE_SYSCALL, Syscall};

use super::{
    Action, Destination, Detail, Door, Event, FileChange, FileDetail, Outcome, ParentRef, SessionRef,
    ecs::SensorContext,
};
use crate::{
    decode::{self, RawEvent, Resolved, SocketAddress, errno_name},
    process::{
        Origin, ProcessInfo, ProcessTable, Session, Sessions,
        cgroup::CgroupNames,
        resolve::{resolve, resolve_argument},
        users::Users,
    },
};

const AT_REMOVEDIR: u32 = 0x200;
const AT_FDCWD: i32 = -100;

/// Threads whose last open is kept for repeats.
const LAST_OPENS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(1024).unwrap();

/// Turns raw records into [`Event`]s and keeps the process table and sessions current.
#[derive(Debug)]
pub struct Enricher {
    pub table: ProcessTable,
    pub sessions: Sessions,
    users: Users,
    context: SensorContext,
    hostname: Arc<str>,
    cgroups: CgroupNames,
    /// Names of the agent profiles, by the index the kernel reports.
    profile_names: Vec<Arc<str>>,
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME`, in nanoseconds.
    boot_to_epoch_ns: i128,
    pub(super) sequence: u64,
    /// The last open event of each thread, for the repeats the kernel counts after it.
    pub(super) last_opens: lru::LruCache<u32, Event>,
    /// Describes connect destinations (scope, country, allowlist); see `set_network`.
    network: Option<Arc<crate::geo::Network>>,
    /// Listeners of session-spawning servers' sockets.
    peers: super::peer::Peers,
}

impl Enricher {
    /// The agent names of the profiles, by profile id (on reload).
    pub fn set_profile_names(&mut self, names: Vec<Arc<str>>) {
        self.profile_names = names;
    }

    /// The spawner lists of the configuration (`handoff:`), at start-up and on reload.
    pub fn set_handoff(&mut self, config: &crate::config::handoff::HandoffConfig) {
        self.peers = super::peer::Peers::new(config);
    }

    /// Who is reporting: host name and run id.
    pub fn context(&self) -> &SensorContext {
        &self.context
    }

    pub fn new(
        table: ProcessTable,
        cgroups: CgroupNames,
        profile_names: Vec<Arc<str>>,
        context: SensorContext,
    ) -> Self {
        Self {
            table,
            sessions: Sessions::default(),
            users: Users::default(),
            hostname: Arc::from(context.hostname.as_str()),
            context,
            cgroups,
            profile_names,
            boot_to_epoch_ns: boot_to_epoch_offset(),
            sequence: 0,
            last_opens: lru::LruCache::new(LAST_OPENS),
            network: None,
            peers: Default::default(),
        }
    }

    /// The process at the other end of `detail` (see `peer`), and whether it is in `session`.
    /// A failed connect reached nobody: its socket's listener is looked up after the fact, and by
    /// then may be a server the failure itself started (tmux starts its server when the first
    /// connect finds none), not yet known as the session's.
    fn peer_of(&mut self, detail: &Detail, outcome: Outcome, session: u64) -> Option<super::peer::PeerInfo> {
        use super::{ProcessOperation as P, peer};
        let pid = match detail {
            Detail::Connect {
                destination: Destination::Unix(path),
                ..
            } if outcome != Outcome::Failure => self.peers.listener(path)?,
            Detail::Process(P::Ptrace { pid, .. } | P::ProcessVmWritev { pid }) if *pid != 0 => *pid,
            Detail::File(file) => peer::proc_mem_target(&file.path)?,
            _ => return None,
        };
        let known = self.table.get(pid);
        Some(peer::PeerInfo {
            pid,
            name: known.map_or_else(|| peer::name_of(pid), |process| process.name().to_string()),
            in_session: known.and_then(|process| process.session_id) == Some(session),
        })
    }

    /// Annotates IP connect events with their destination's scope, country and allowlist verdict.
    pub fn set_network(&mut self, network: Arc<crate::geo::Network>) {
        self.network = Some(network);
    }

    /// The number of events produced so far.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn epoch_ns(&self, boot_ns: u64) -> i128 {
        self.boot_to_epoch_ns + boot_ns as i128
    }

    /// Enriches one record; `None` for records that only update state (chdir).
    pub fn enrich(&mut self, raw: RawEvent) -> Option<Event> {
        let (event, kept) = self.enrich_deferred(raw)?;
        if kept {
            self.remember(event.clone());
        }
        Some(event)
    }

    /// As [`Enricher::enrich`], without keeping the copy repeats are made from: when the flag is
    /// set, the caller hands the event to [`Enricher::remember`] once it is done with it (the
    /// pipeline's only change to an event, its baseline facts, is taken off there). Opens are
    /// most events; this moves each one in where `enrich` copies it.
    pub fn enrich_deferred(&mut self, raw: RawEvent) -> Option<(Event, bool)> {
        let kept = match &raw {
            RawEvent::Open(_) => true,
            RawEvent::Connect(connect) => connect.route != ROUTE_SYSCALL,
            _ => false,
        };
        self.enrich_record(raw).map(|event| (event, kept))
    }

    fn enrich_record(&mut self, raw: RawEvent) -> Option<Event> {
        match raw {
            RawEvent::Exec(exec) => {
                if let Some(profile) = exec.started_profile {
                    let agent = self
                        .profile_names
                        .get(profile as usize)
                        .cloned()
                        .unwrap_or_else(|| Arc::from("unknown"));
                    let mut session = Session::new(exec.common.session_id, agent, exec.common.pid, Origin::Profile);
                    session.working_directory = Some(Arc::from(exec.cwd.path.as_str()));
                    session.home = self.table.home_of(exec.common.pid, exec.common.uid);
                    self.sessions.start(session);
                }
                self.table.apply_exec(&exec);
                let filename = resolve(Some(&exec.cwd.path), &exec.filename.value);
                let script = exec.script.as_ref().map(|script| resolve(Some(&exec.cwd.path), script));
                Some(self.event(
                    &exec.common,
                    Action::Exec,
                    Outcome::Success,
                    None,
                    Detail::Exec {
                        filename,
                        script,
                        exec_flags: exec.exec_flags,
                        identity: exec.exe,
                    },
                ))
            }
            RawEvent::Fork(fork) => {
                let event = self.event(
                    &fork.common,
                    Action::Fork,
                    Outcome::Success,
                    None,
                    Detail::Fork {
                        child_pid: fork.child_pid,
                    },
                );
                self.table.apply_fork(&fork);
                if fork.child_untracked {
                    tracing::warn!(
                        child = fork.child_pid,
                        "the tracked-process map is full: a child of a tracked process is not tracked"
                    );
                } else {
                    self.sessions.process_started(fork.common.session_id);
                }
                Some(event)
            }
            RawEvent::Exit(exit) => {
                let event = self.event(
                    &exit.common,
                    Action::Exit,
                    Outcome::Success,
                    None,
                    Detail::Exit { status: exit.status },
                );
                self.table.apply_exit(&exit);
                if let Some(session) = self.sessions.process_exited(exit.common.session_id) {
                    tracing::debug!(session = session.id, agent = %session.agent, "agent session ended");
                }
                Some(event)
            }
            RawEvent::Open(open) => {
                // The working directory only for a path the kernel did not resolve (`event` below
                // loads the process from /proc either way when the table does not know it).
                let (path, truncated) = match open.resolved {
                    Resolved::File(file) => (file.path, file.truncated || open.path.truncated),
                    Resolved::Base(base) => (
                        resolve_argument(Some(&base.path), &open.path.value, open.common.pid),
                        base.truncated || open.path.truncated,
                    ),
                    Resolved::None => {
                        let cwd = self.cwd_of(open.common.pid);
                        (
                            resolve_argument(cwd.as_deref(), &open.path.value, open.common.pid),
                            open.path.truncated,
                        )
                    }
                };
                let detail = Detail::File(FileDetail {
                    path,
                    path_argument: open.path.value,
                    syscall: open.syscall,
                    dirfd: open.dirfd,
                    flags: open.flags,
                    mode: open.mode,
                    truncated,
                    identity: open.object,
                    change: if open.fmode & FMODE_CREATED != 0 {
                        FileChange::Created
                    } else {
                        FileChange::None
                    },
                });
                let mut event = self.syscall_event(&open.common, Action::Open, open.ret, detail);
                event.repeat = open.repeat;
                Some(event)
            }
            RawEvent::Unlink(unlink) => {
                let action = if unlink.syscall == Syscall::Rmdir
                    || (unlink.syscall == Syscall::Unlinkat && unlink.flags & AT_REMOVEDIR != 0)
                {
                    Action::Rmdir
                } else {
                    Action::Unlink
                };
                let cwd = match &unlink.base {
                    Some(_) => None,
                    None => self.cwd_of(unlink.common.pid),
                };
                let base = unlink.base.as_ref().map(|base| base.path.as_str()).or(cwd.as_deref());
                let truncated = unlink.path.truncated || unlink.base.as_ref().is_some_and(|b| b.truncated);
                let detail = Detail::File(FileDetail {
                    path: resolve_argument(base, &unlink.path.value, unlink.common.pid),
                    path_argument: unlink.path.value,
                    syscall: unlink.syscall,
                    dirfd: unlink.dirfd,
                    flags: unlink.flags,
                    mode: 0,
                    truncated,
                    identity: None,
                    change: FileChange::None,
                });
                let mut event = self.syscall_event(&unlink.common, action, unlink.ret, detail);
                event.syscall_flags = super::SyscallFlags::from_bits(unlink.call_flags);
                Some(event)
            }
            RawEvent::Connect(connect) => {
                let destination = match connect.address {
                    SocketAddress::Inet(address) => Destination::Inet(address),
                    SocketAddress::Unix(path) => Destination::Unix(path),
                };
                // A non-blocking connect that is under way has not failed.
                let ret = if connect.ret == -(libc::EINPROGRESS as i64) {
                    0
                } else {
                    connect.ret
                };
                let mut event = self.syscall_event(
                    &connect.common,
                    Action::Connect,
                    ret,
                    Detail::Connect {
                        destination,
                        fd: connect.fd,
                        transport: super::Transport::from_protocol(connect.protocol),
                    },
                );
                event.syscall_flags.unreadable_argument = connect.flags & CONNECT_UNREADABLE != 0;
                if connect.route != ROUTE_SYSCALL {
                    // Seen at the socket layer before it happened.
                    event.door = super::Door::Socket;
                    event.outcome = Outcome::Unknown;
                } else if connect.ret == -(libc::EINPROGRESS as i64) {
                    event.outcome = Outcome::Unknown;
                    event.error = errno_name(libc::EINPROGRESS as i64);
                }
                Some(event)
            }
            RawEvent::Chdir(chdir) => {
                self.table.apply_chdir(&chdir);
                None
            }
            RawEvent::Policy(policy) => Some(self.verdict_event(&policy)),
            // Alerts of their own (telemetry::tamper), not events.
            RawEvent::Tamper(_) => None,
            RawEvent::Operation(operation) => self.operation_event(operation),
            RawEvent::Repeat(repeat) => self.repeat_event(repeat),
        }
    }

    /// The operation a kernel verdict is about, as an event (it goes into alerts, not the audit
    /// trail: the syscall's own event reports the operation).
    pub fn verdict_event(&mut self, policy: &decode::Policy) -> Event {
        use sensor_common::policy::{APPLIED_DENIED, APPLIED_MONITOR, PolicyOp};
        let denied = policy.applied & APPLIED_DENIED != 0 && policy.applied & APPLIED_MONITOR == 0;
        let (outcome, error) = if denied {
            (Outcome::Failure, errno_name(libc::EPERM as i64))
        } else {
            (Outcome::Success, None)
        };
        let path = match (&policy.path, &policy.base) {
            // An exec's base is the working directory, and its filename is reported as the exec
            // event reports it: `/proc/self/fd/N` (a memfd run) names the program, not the
            // directory of descriptor N, which is gone (close-on-exec) by the time it is read.
            (Some(path), Some(base)) if policy.op == PolicyOp::Exec => resolve(Some(&base.path), &path.path),
            (Some(path), Some(base)) => resolve_argument(Some(&base.path), &path.path, policy.common.pid),
            (Some(path), None) => {
                let cwd = self.cwd_of(policy.common.pid);
                resolve_argument(cwd.as_deref(), &path.path, policy.common.pid)
            }
            (None, _) => String::new(),
        };
        let other = match (&policy.path2, &policy.base2) {
            (Some(path), Some(base)) => Some(resolve_argument(Some(&base.path), &path.path, policy.common.pid)),
            (Some(path), None) => Some(path.path.clone()),
            (None, _) => None,
        };
        let file = |syscall, flags| {
            Detail::File(FileDetail {
                path: path.clone(),
                path_argument: policy.path.as_ref().map(|p| p.path.clone()).unwrap_or_default(),
                syscall,
                dirfd: AT_FDCWD,
                flags,
                mode: 0,
                truncated: policy.path.as_ref().is_some_and(|p| p.truncated),
                identity: policy.object,
                change: match (policy.op, &other) {
                    (PolicyOp::Rename | PolicyOp::Link, Some(other)) => FileChange::From {
                        original: other.clone(),
                    },
                    _ => FileChange::None,
                },
            })
        };
        let (action, detail) = match policy.op {
            PolicyOp::OpenRead | PolicyOp::OpenWrite => (Action::Open, file(Syscall::Openat, policy.flags)),
            PolicyOp::Unlink => (Action::Unlink, file(Syscall::Unlinkat, 0)),
            PolicyOp::Rmdir => (Action::Rmdir, file(Syscall::Rmdir, 0)),
            PolicyOp::Rename | PolicyOp::RenameFrom => (Action::Rename, file(Syscall::Renameat2, 0)),
            PolicyOp::Link => (Action::Link, file(Syscall::Linkat, 0)),
            PolicyOp::Symlink => (Action::Symlink, file(Syscall::Symlinkat, 0)),
            PolicyOp::Truncate => (Action::Truncate, file(Syscall::Truncate, 0)),
            PolicyOp::Exec => (
                Action::Exec,
                Detail::Exec {
                    filename: path.clone(),
                    script: None,
                    exec_flags: 0,
                    identity: policy.object,
                },
            ),
            PolicyOp::Connect => (
                Action::Connect,
                Detail::Connect {
                    destination: Destination::Inet(
                        policy
                            .destination
                            .unwrap_or_else(|| (std::net::Ipv4Addr::UNSPECIFIED, 0).into()),
                    ),
                    fd: -1,
                    transport: None,
                },
            ),
            PolicyOp::HandoffConnect => (
                Action::Connect,
                Detail::Connect {
                    destination: Destination::Unix(path.clone()),
                    fd: -1,
                    transport: None,
                },
            ),
            // The hook (`ptrace_access_check`) cannot tell ptrace from process_vm_writev or an
            // open of /proc/PID/mem: every attach access is reported as ptrace (request 0: unknown).
            PolicyOp::HandoffAttach => (
                Action::Ptrace,
                Detail::Process(super::ProcessOperation::Ptrace {
                    request: 0,
                    pid: policy.flags,
                }),
            ),
        };
        let mut event = self.event(&policy.common, action, outcome, error, detail);
        if policy.op.is_handoff() {
            // The kernel named the process at the other end, and judged it outside the session.
            let pid = policy.flags;
            let name = self
                .table
                .get(pid)
                .map_or_else(|| super::peer::name_of(pid), |process| process.name().to_string());
            event.annotations.peer = Some(super::peer::PeerInfo {
                pid,
                name,
                in_session: false,
            });
        }
        event
    }

    pub(super) fn cwd_of(&mut self, pid: u32) -> Option<Arc<str>> {
        self.table
            .get_or_load(pid)
            .map(|process| process.cwd.clone())
            .filter(|cwd| !cwd.is_empty())
    }

    fn syscall_event(&mut self, common: &decode::Common, action: Action, ret: i64, detail: Detail) -> Event {
        let outcome = Outcome::of_return(ret);
        let error = if ret < 0 { errno_name(-ret) } else { None };
        self.event(common, action, outcome, error, detail)
    }

    pub(super) fn event(
        &mut self,
        common: &decode::Common,
        action: Action,
        outcome: Outcome,
        error: Option<&'static str>,
        detail: Detail,
    ) -> Event {
        self.sequence += 1;
        let mut process = self
            .table
            .get_or_load(common.pid)
            .cloned()
            .unwrap_or_else(|| ProcessInfo {
                pid: common.pid,
                ppid: 0,
                executable: Arc::from(""),
                args: Arc::from([]),
                args_truncated: false,
                cwd: Arc::from(""),
                uid: common.uid,
                gid: common.gid,
                start_boottime_ns: 0,
                cgroup_id: common.cgroup_id,
                cgroup: None,
                session_id: Some(common.session_id),
                trusted: false,
                command_line: Arc::from(""),
            });
        // The kernel's view at the time of the event wins over the table's.
        process.uid = common.uid;
        process.gid = common.gid;
        process.cgroup_id = common.cgroup_id;
        if common.cgroup_id != 0 {
            process.cgroup = self.cgroups.name(common.cgroup_id).or(process.cgroup);
        }
        let parent = (process.ppid != 0).then(|| {
            let known = self.table.get(process.ppid);
            ParentRef {
                pid: process.ppid,
                executable: known.map(|parent| parent.executable.clone()).filter(|e| !e.is_empty()),
                command_line: known
                    .map(|parent| parent.command_line.clone())
                    .filter(|c| !c.is_empty()),
            }
        });
        let process_start_ns = (process.start_boottime_ns != 0).then(|| self.epoch_ns(process.start_boottime_ns));
        let known = self.sessions.get(common.session_id);
        let session = match known {
            Some(session) => SessionRef {
                id: session.id,
                agent: session.agent.clone(),
                working_directory: session.working_directory.clone(),
            },
            None => SessionRef {
                id: common.session_id,
                agent: Arc::from("unknown"),
                working_directory: None,
            },
        };
        let session_home = known
            .and_then(|session| session.home.as_ref())
            .filter(|home| home.uid == common.uid)
            .map(|home| home.dir.clone());
        let mut user = self.users.get(common.uid).clone();
        if session_home.is_some() {
            user.home = session_home;
        }
        let annotations = super::Annotations {
            destination: match (&detail, &self.network) {
                (
                    Detail::Connect {
                        destination: Destination::Inet(address),
                        ..
                    },
                    Some(network),
                ) => Some(network.describe(*address)),
                _ => None,
            },
            baseline: None,
            peer: self.peer_of(&detail, outcome, common.session_id),
        };
        Event {
            run_id: self.context.run_id,
            sequence: self.sequence,
            hostname: Some(self.hostname.clone()),
            timestamp_ns: self.epoch_ns(common.time_ns),
            action,
            outcome,
            error,
            tid: common.tid,
            user_name: user.name,
            user_home: user.home,
            process_start_ns,
            parent,
            process,
            session: Some(session),
            detail,
            door: Door::Syscall,
            repeat: 1,
            syscall_flags: Default::default(),
            annotations,
        }
    }
}

/// `CLOCK_REALTIME - CLOCK_BOOTTIME` now, to turn kernel boot-time stamps into wall-clock time.
fn boot_to_epoch_offset() -> i128 {
    use nix::time::{ClockId, clock_gettime};
    let nanos = |clock| {
        clock_gettime(clock)
            .map(|t| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128)
            .unwrap_or(0)
    };
    nanos(ClockId::CLOCK_REALTIME) - nanos(ClockId::CLOCK_BOOTTIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enricher() -> Enricher {
        Enricher::new(
            ProcessTable::default(),
            CgroupNames::default(),
            Vec::new(),
            SensorContext::current(),
        )
    }

    #[test]
    fn only_a_connect_that_reached_a_spawner_names_it() {
        // A socket at a tmux server's usual place, held by this test program (outside every session).
        let dir = tempfile::Builder::new()
            .prefix("tmux-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let path = dir.path().join("default");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let detail = Detail::Connect {
            destination: Destination::Unix(path.display().to_string()),
            fd: 3,
            transport: None,
        };
        let mut enricher = enricher();
        assert_eq!(enricher.peer_of(&detail, Outcome::Failure, 7), None);
        let peer = enricher.peer_of(&detail, Outcome::Success, 7).expect("the listener");
        assert_eq!(peer.pid, std::process::id());
        assert!(!peer.in_session);
    }
}
