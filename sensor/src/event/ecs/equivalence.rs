//! The line written field by field against serde_json's serialization of the `Serialize` form,
//! on generated events: every action with every kind of detail, strings that need escaping, text
//! made lossily from arbitrary bytes, optional fields present and absent, annotations, and
//! instants outside the years a line can show.

use std::{net::SocketAddr, sync::Arc};

use proptest::{option, prelude::*, sample::select, strategy::ValueTree};
use sensor_common::event::Syscall;

use super::*;
use crate::{
    event::{
        Annotations, Door, FileChange, FileDetail, FileIdentity, Outcome, ParentRef, ProcessOperation, SessionRef,
        SyscallFlags, Transport,
        annotations::{BaselineStatus, CountryCode, Finding, RateFinding, Scope},
        peer::PeerInfo,
    },
    process::ProcessInfo,
};

/// Plain paths, any text (control characters and non-ASCII included), text dense in what JSON
/// escapes, and arbitrary bytes made text as the sensor makes kernel strings text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/._ -]{0,40}",
        "(?s).{0,24}",
        "[\"\\\\\\x00-\\x1f\\x7fa/é]{0,16}",
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

fn shared() -> impl Strategy<Value = Arc<str>> {
    text().prop_map(Arc::from)
}

/// Nanoseconds since the epoch: this century, any i64, and far outside it.
fn instant() -> impl Strategy<Value = i128> {
    prop_oneof![
        1_700_000_000_000_000_000i128..1_900_000_000_000_000_000,
        any::<i64>().prop_map(i128::from),
        any::<i128>(),
        (0i64..4_000_000_000).prop_map(|seconds| i128::from(seconds) * 1_000_000_000),
    ]
}

fn file_change() -> impl Strategy<Value = FileChange> {
    prop_oneof![
        Just(FileChange::None),
        Just(FileChange::Created),
        text().prop_map(|original| FileChange::From { original }),
        text().prop_map(|target| FileChange::Symlink { target }),
        any::<u64>().prop_map(|length| FileChange::Truncate { length }),
        any::<u32>().prop_map(|mode| FileChange::Chmod { mode }),
        (option::of(any::<u32>()), option::of(any::<u32>())).prop_map(|(uid, gid)| FileChange::Chown { uid, gid }),
        text().prop_map(|name| FileChange::Xattr { name }),
        (text(), text(), any::<u64>()).prop_map(|(source, fstype, flags)| FileChange::Mount { source, fstype, flags }),
        any::<u32>().prop_map(|mode| FileChange::Mkdir { mode }),
    ]
}

prop_compose! {
    fn file_detail()(
        path in text(),
        path_argument in text(),
        syscall in select(Syscall::ALL.to_vec()),
        dirfd in any::<i32>(),
        flags in prop_oneof![
            any::<u32>(),
            select(vec![
                libc::O_RDONLY | libc::O_CLOEXEC,
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                libc::O_RDWR | libc::O_TMPFILE,
                libc::O_DIRECTORY | libc::O_NOFOLLOW,
            ])
            .prop_map(|flags| flags as u32),
        ],
        mode in any::<u32>(),
        truncated in any::<bool>(),
        identity in option::of((any::<u32>(), any::<u32>(), prop_oneof![Just(0u64), any::<u64>()])),
        change in file_change(),
    ) -> FileDetail {
        FileDetail {
            path,
            path_argument,
            syscall,
            dirfd,
            flags,
            mode,
            truncated,
            identity: identity.map(|(dev, mode, ino)| FileIdentity { dev, mode, ino }),
            change,
        }
    }
}

fn destination() -> impl Strategy<Value = Destination> {
    prop_oneof![
        any::<SocketAddr>().prop_map(Destination::Inet),
        text().prop_map(Destination::Unix),
    ]
}

fn detail() -> impl Strategy<Value = Detail> {
    prop_oneof![
        (text(), option::of(text()), any::<u32>()).prop_map(|(filename, script, exec_flags)| Detail::Exec {
            filename,
            script,
            exec_flags,
            identity: None,
        }),
        any::<u32>().prop_map(|child_pid| Detail::Fork { child_pid }),
        any::<u32>().prop_map(|status| Detail::Exit { status }),
        file_detail().prop_map(Detail::File),
        (destination(), option::of(select(vec![Transport::Tcp, Transport::Udp]))).prop_map(
            |(destination, transport)| Detail::Connect {
                destination,
                fd: 3,
                transport,
            }
        ),
        option::of(destination()).prop_map(|address| Detail::Socket {
            address,
            fd: 4,
            backlog: Some(16),
        }),
        any::<u64>().prop_map(|flags| Detail::Process(ProcessOperation::Unshare { flags })),
    ]
}

prop_compose! {
    fn process()(
        pid in any::<u32>(),
        ppid in any::<u32>(),
        executable in shared(),
        args in proptest::collection::vec(text(), 0..5),
        command_line in shared(),
        args_truncated in any::<bool>(),
        cwd in shared(),
        uid in any::<u32>(),
        gid in any::<u32>(),
        cgroup in option::of(shared()),
    ) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            executable,
            args: Arc::from(args),
            command_line,
            args_truncated,
            cwd,
            uid,
            gid,
            start_boottime_ns: 1,
            cgroup_id: 9,
            cgroup,
            session_id: None,
            trusted: false,
        }
    }
}

prop_compose! {
    fn finding()(
        kind in select(vec!["new-executable", "rate-spike"]),
        value in text(),
        score in any::<u8>(),
        reason in text(),
        counts in any::<(u64, u64, u64)>(),
        similar in proptest::collection::vec(text(), 0..3),
        rate in option::of((any::<u64>(), -1e9f64..1e9, 0f64..1e6, -1e9f64..1e9, any::<u64>())),
    ) -> Finding {
        Finding {
            kind,
            value,
            score,
            reason,
            known: counts.0,
            observations: counts.1,
            sessions: counts.2,
            similar,
            rate: rate.map(|(count, mean, stddev, threshold, minutes)| RateFinding {
                action: "open",
                count,
                mean,
                stddev,
                threshold,
                minutes,
            }),
        }
    }
}

prop_compose! {
    fn baseline()(
        enforcing in any::<bool>(),
        news in any::<[Option<bool>; 5]>(),
        file_area in option::of(text()),
        finding in option::of(finding()),
    ) -> BaselineFacts {
        BaselineFacts {
            status: if enforcing { BaselineStatus::Enforcing } else { BaselineStatus::Learning },
            new_executable: news[0],
            new_exec_pair: news[1],
            new_file_area: news[2],
            file_area,
            new_destination: news[3],
            new_country: news[4],
            finding,
        }
    }
}

prop_compose! {
    fn annotations()(
        destination in option::of((
            option::of(select(Scope::ALL.to_vec())),
            option::of(select(vec!["US", "DE", "ZZ"])),
            option::of(any::<bool>()),
        )),
        baseline in option::of(baseline()),
        peer in option::of((any::<u32>(), text(), any::<bool>())),
    ) -> Annotations {
        Annotations {
            destination: destination.map(|(scope, country, allowed)| DestinationInfo {
                scope,
                country: country.and_then(CountryCode::parse),
                allowed,
            }),
            baseline: baseline.map(Box::new),
            peer: peer.map(|(pid, name, in_session)| PeerInfo { pid, name, in_session }),
        }
    }
}

prop_compose! {
    fn relatives()(
        parent in option::of((any::<u32>(), option::of(shared()), option::of(shared()))),
        user_name in option::of(shared()),
        user_home in option::of(shared()),
        session in option::of((any::<u64>(), shared(), option::of(shared()))),
    ) -> (Option<ParentRef>, Option<Arc<str>>, Option<Arc<str>>, Option<SessionRef>) {
        (
            parent.map(|(pid, executable, command_line)| ParentRef { pid, executable, command_line }),
            user_name,
            user_home,
            session.map(|(id, agent, working_directory)| SessionRef { id, agent, working_directory }),
        )
    }
}

prop_compose! {
    fn event()(
        (run_id, sequence, tid, repeat) in any::<(u64, u64, u32, u32)>(),
        hostname in option::of(shared()),
        (timestamp_ns, process_start_ns) in (instant(), option::of(instant())),
        action in select(Action::ALL.to_vec()),
        outcome in select(vec![Outcome::Success, Outcome::Failure, Outcome::Unknown]),
        error in option::of(select(vec!["ENOENT", "EACCES", "EPERM", "E2BIG"])),
        process in process(),
        (parent, user_name, user_home, session) in relatives(),
        detail in detail(),
        door in select(vec![Door::Syscall, Door::Compat, Door::IoUring, Door::Socket]),
        (unreadable_argument, killed) in any::<(bool, bool)>(),
        annotations in annotations(),
    ) -> Event {
        Event {
            run_id,
            sequence,
            hostname,
            timestamp_ns,
            action,
            outcome,
            error,
            tid,
            process,
            process_start_ns,
            parent,
            user_name,
            user_home,
            session,
            detail,
            door,
            repeat: repeat % 4,
            syscall_flags: SyscallFlags { unreadable_argument, killed },
            annotations,
        }
    }
}

/// The line, and serde_json's bytes for the `Serialize` form.
fn both(event: &Event) -> (String, String) {
    let mut line = b"kept ".to_vec();
    EcsEvent { event }.write_json(&mut line);
    let reference = serde_json::to_vec(&EcsEvent { event }).expect("serde_json serializes the event");
    (
        String::from_utf8_lossy(&line).into_owned(),
        format!("kept {}", String::from_utf8_lossy(&reference)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any event is written as serde_json writes it, after what the buffer already held.
    #[test]
    fn any_event_is_written_as_serde_json_writes_it(event in event()) {
        let (line, reference) = both(&event);
        prop_assert_eq!(line, reference);
    }
}

/// Each action, with the detail it usually has and every annotation, once for certain (the
/// generated events reach them by chance).
#[test]
fn every_action_with_its_usual_detail() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let template = event().new_tree(&mut runner).expect("an event").current();
    for action in Action::ALL {
        let detail = match action {
            Action::Exec => Detail::Exec {
                filename: "/usr/bin/git".into(),
                script: None,
                exec_flags: 0,
                identity: None,
            },
            Action::Fork => Detail::Fork { child_pid: 7 },
            Action::Exit => Detail::Exit { status: 0x8b },
            Action::Connect => Detail::Connect {
                destination: Destination::Inet("[::1]:22".parse().expect("address")),
                fd: 3,
                transport: Some(Transport::Tcp),
            },
            Action::Bind | Action::Listen => Detail::Socket {
                address: None,
                fd: 3,
                backlog: None,
            },
            Action::Unshare | Action::Setns | Action::MemfdCreate | Action::Ptrace | Action::ProcessVmWritev => {
                Detail::Process(ProcessOperation::Ptrace { request: 16, pid: 1 })
            }
            _ => Detail::File(FileDetail {
                path: "/home/dev/\"x\"\n".into(),
                path_argument: "x".into(),
                syscall: Syscall::Openat,
                dirfd: -100,
                flags: (libc::O_RDWR | libc::O_CREAT) as u32,
                mode: 0o600,
                truncated: false,
                identity: Some(FileIdentity {
                    dev: 0x0080_0003,
                    mode: 0o100644,
                    ino: 42,
                }),
                change: FileChange::Created,
            }),
        };
        let event = Event {
            action,
            detail,
            ..template.clone()
        };
        let (line, reference) = both(&event);
        assert_eq!(line, reference, "{action:?}");
    }
}
