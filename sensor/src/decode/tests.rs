//! Decoding records laid out exactly as the kernel programs lay them out.

use sensor_common::event::{
    ConnectEvent, EVENT_CONNECT, EVENT_EXEC, EVENT_OPEN, EVENT_UNLINK, EventHeader, ExecEvent, HEADER_SESSION_START,
    OpenEvent, RESOLVED_BASE, RESOLVED_FILE, STR_COMPONENTS, STR_TRUNCATED, StrRef, Syscall, UnlinkEvent,
};

use super::*;

/// Builds a record: a fixed part `T` followed by strings.
struct Builder {
    bytes: Vec<u8>,
}

impl Builder {
    fn new<T>() -> Self {
        Self {
            bytes: vec![0; size_of::<T>()],
        }
    }

    fn string(&mut self, data: &[u8], flags: u16) -> StrRef {
        let offset = self.bytes.len() as u16;
        self.bytes.extend_from_slice(data);
        StrRef {
            offset,
            len: data.len() as u16,
            flags,
            reserved: 0,
        }
    }

    fn finish<T: Copy>(mut self, mut fixed: T, header: impl Fn(&mut T) -> &mut EventHeader, kind: u16) -> Vec<u8> {
        let size = self.bytes.len() as u32;
        let h = header(&mut fixed);
        h.kind = kind;
        h.size = size;
        h.time_ns = 1_000;
        h.session_id = 0xabc;
        h.tgid = 42;
        h.tid = 43;
        h.uid = 1000;
        h.gid = 100;
        h.cgroup_id = 7;
        // SAFETY: T is a plain-data record type; the buffer is at least size_of::<T>() long.
        unsafe { std::ptr::write_unaligned(self.bytes.as_mut_ptr().cast::<T>(), fixed) };
        self.bytes
    }
}

#[test]
fn exec_with_components_arguments_and_session_start() {
    let mut b = Builder::new::<ExecEvent>();
    let filename = b.string(b"./run.sh\0", 0);
    let executable = b.string(b"dash\0bin\0usr\0", STR_COMPONENTS);
    let cwd = b.string(b"project\0dev\0home\0", STR_COMPONENTS);
    let args = b.string(b"/bin/sh\0./run.sh\0--fast\0", 0);
    let mut fixed = ExecEvent {
        ppid: 1,
        profile_id: 3,
        start_boottime_ns: 900,
        args_size: args.len as u32,
        filename,
        executable,
        cwd,
        args,
        ..ExecEvent::default()
    };
    fixed.header.flags = HEADER_SESSION_START;
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_EXEC);
    let RawEvent::Exec(exec) = decode(&bytes).expect("decodes") else {
        panic!("not an exec")
    };
    assert_eq!(exec.common.pid, 42);
    assert_eq!(exec.common.session_id, 0xabc);
    assert_eq!(exec.started_profile, Some(3));
    assert_eq!(exec.filename.value, "./run.sh");
    assert_eq!(exec.executable.path, "/usr/bin/dash");
    assert_eq!(exec.cwd.path, "/home/dev/project");
    assert_eq!(exec.args, ["/bin/sh", "./run.sh", "--fast"]);
    assert!(!exec.args_truncated);
}

#[test]
fn exec_arguments_cut_by_the_kernel_are_marked() {
    let mut b = Builder::new::<ExecEvent>();
    let args = b.string(b"python3\0-c\0print(", STR_TRUNCATED);
    let fixed = ExecEvent {
        args_size: 100_000,
        args,
        ..ExecEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_EXEC);
    let RawEvent::Exec(exec) = decode(&bytes).expect("decodes") else {
        panic!("not an exec")
    };
    assert!(exec.args_truncated);
    assert_eq!(exec.args, ["python3", "-c", "print("]);
    assert_eq!(exec.started_profile, None);
}

#[test]
fn open_of_a_file_and_a_failed_relative_open() {
    let mut b = Builder::new::<OpenEvent>();
    let path = b.string(b"notes.txt\0", 0);
    let resolved = b.string(b"notes.txt\0tmp\0", STR_COMPONENTS);
    let fixed = OpenEvent {
        syscall: Syscall::Openat as u16,
        resolved_kind: RESOLVED_FILE,
        dirfd: -100,
        flags: (libc::O_WRONLY | libc::O_CREAT) as u32,
        mode: 0o644,
        ret: 3,
        path,
        resolved,
        ..OpenEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_OPEN);
    let RawEvent::Open(open) = decode(&bytes).expect("decodes") else {
        panic!("not an open")
    };
    assert_eq!(open.path.value, "notes.txt");
    assert_eq!(
        open.resolved,
        Resolved::File(DecodedPath {
            path: "/tmp/notes.txt".into(),
            truncated: false,
            missing: false
        })
    );

    let mut b = Builder::new::<OpenEvent>();
    let path = b.string(b"missing\0", 0);
    let resolved = b.string(b"src\0", STR_COMPONENTS);
    let fixed = OpenEvent {
        syscall: Syscall::Open as u16,
        resolved_kind: RESOLVED_BASE,
        ret: -2,
        path,
        resolved,
        ..OpenEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_OPEN);
    let RawEvent::Open(open) = decode(&bytes).expect("decodes") else {
        panic!("not an open")
    };
    assert_eq!(open.ret, -2);
    assert!(matches!(open.resolved, Resolved::Base(ref base) if base.path == "/src"));
}

#[test]
fn deep_paths_cut_by_the_kernel_say_so() {
    let decoded = decode_components(b"c\0b\0", STR_COMPONENTS | STR_TRUNCATED);
    assert_eq!(decoded.path, "…/b/c");
    assert!(decoded.truncated);
    assert_eq!(decode_components(b"", STR_COMPONENTS).path, "/");
}

#[test]
fn unlinkat_keeps_its_directory() {
    let mut b = Builder::new::<UnlinkEvent>();
    let path = b.string(b"old.log\0", 0);
    let base = b.string(b"logs\0var\0", STR_COMPONENTS);
    let fixed = UnlinkEvent {
        syscall: Syscall::Unlinkat as u16,
        resolved_kind: RESOLVED_BASE,
        dirfd: 5,
        path,
        base,
        ..UnlinkEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_UNLINK);
    let RawEvent::Unlink(unlink) = decode(&bytes).expect("decodes") else {
        panic!("not an unlink")
    };
    assert_eq!(unlink.syscall, Syscall::Unlinkat);
    assert_eq!(unlink.dirfd, 5);
    assert_eq!(unlink.base.expect("base").path, "/var/logs");
}

#[test]
fn connect_to_ipv4_ipv6_and_unix_sockets() {
    let connect = |family: i32, port: u16, addr: [u8; 16], unix: &[u8]| {
        let mut b = Builder::new::<ConnectEvent>();
        let unix_path = b.string(unix, 0);
        let fixed = ConnectEvent {
            fd: 3,
            family: family as u16,
            port_be: port.to_be(),
            ret: -111,
            addr,
            unix_path,
            ..ConnectEvent::default()
        };
        let bytes = b.finish(fixed, |e| &mut e.header, EVENT_CONNECT);
        match decode(&bytes).expect("decodes") {
            RawEvent::Connect(connect) => connect.address,
            other => panic!("not a connect: {other:?}"),
        }
    };
    let mut v4 = [0u8; 16];
    v4[..4].copy_from_slice(&[127, 0, 0, 2]);
    assert_eq!(
        connect(libc::AF_INET, 8080, v4, b""),
        SocketAddress::Inet("127.0.0.2:8080".parse().expect("addr"))
    );
    let v6 = std::net::Ipv6Addr::LOCALHOST.octets();
    assert_eq!(
        connect(libc::AF_INET6, 443, v6, b""),
        SocketAddress::Inet("[::1]:443".parse().expect("addr"))
    );
    assert_eq!(
        connect(libc::AF_UNIX, 0, [0; 16], b"/run/docker.sock\0\0\0"),
        SocketAddress::Unix("/run/docker.sock".into())
    );
    assert_eq!(
        connect(libc::AF_UNIX, 0, [0; 16], b"\0abstract-name"),
        SocketAddress::Unix("@abstract-name".into())
    );
}

#[test]
fn malformed_records_are_errors_not_panics() {
    assert_eq!(decode(&[0u8; 10]), Err(DecodeError::TooShort(10)));
    let mut header = vec![0u8; size_of::<EventHeader>()];
    header[0] = 99;
    assert_eq!(decode(&header), Err(DecodeError::UnknownKind(99)));
    header[0] = EVENT_EXEC as u8;
    assert!(matches!(
        decode(&header),
        Err(DecodeError::Truncated { kind: "exec", .. })
    ));

    let mut b = Builder::new::<OpenEvent>();
    let _ = b.string(b"x\0", 0);
    let fixed = OpenEvent {
        syscall: Syscall::Openat as u16,
        path: StrRef {
            offset: 60_000,
            len: 10,
            flags: 0,
            reserved: 0,
        },
        ..OpenEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_OPEN);
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::StringOutOfBounds { offset: 60_000, .. })
    ));

    let fixed = OpenEvent {
        syscall: 77,
        ..OpenEvent::default()
    };
    let bytes = Builder::new::<OpenEvent>().finish(fixed, |e| &mut e.header, EVENT_OPEN);
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownSyscall(77)));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every prefix of a valid record, and byte flips of it.
    let mut b = Builder::new::<ExecEvent>();
    let args = b.string(b"a\0b\0", 0);
    let fixed = ExecEvent {
        args,
        ..ExecEvent::default()
    };
    let bytes = b.finish(fixed, |e| &mut e.header, EVENT_EXEC);
    for len in 0..bytes.len() {
        let _ = decode(&bytes[..len]);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..10_000 {
        let mut copy = bytes.clone();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let index = (state % copy.len() as u64) as usize;
        copy[index] = (state >> 32) as u8;
        let _ = decode(&copy);
    }
}

mod hostile {
    //! Whatever the ring buffer holds, decoding never panics: random records of every kind, with
    //! string references pointing anywhere (past the end, overlapping, zero-length, huge).
    use proptest::prelude::*;

    use super::*;

    /// A record of `kind`, `len` bytes of `fill`, with string references written over it at
    /// random places (offset, length, flags).
    fn record(kind: u16, mut fill: Vec<u8>, refs: Vec<(usize, u16, u16, u16)>) -> Vec<u8> {
        if fill.len() >= 2 {
            fill[..2].copy_from_slice(&kind.to_le_bytes());
        }
        for (at, offset, len, flags) in refs {
            let at = at & !1;
            if at + 8 <= fill.len() {
                fill[at..at + 2].copy_from_slice(&offset.to_le_bytes());
                fill[at + 2..at + 4].copy_from_slice(&len.to_le_bytes());
                fill[at + 4..at + 6].copy_from_slice(&flags.to_le_bytes());
            }
        }
        fill
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn records_of_every_kind_with_wild_strings_decode_or_fail_cleanly(
            kind in 0u16..14,
            fill in proptest::collection::vec(any::<u8>(), 0..700),
            refs in proptest::collection::vec((0usize..700, any::<u16>(), any::<u16>(), any::<u16>()), 0..12),
        ) {
            let _ = decode(&record(kind, fill, refs));
        }
    }
}

proptest::proptest! {
    /// Components are converted one by one as the whole record would be (invalid UTF-8 too).
    #[test]
    fn components_decode_as_the_parts_joined(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24), flags in 0u16..8) {
        let mut parts: Vec<&[u8]> = bytes.split(|&b| b == 0).filter(|part| !part.is_empty()).collect();
        parts.reverse();
        let mut expected = String::new();
        if flags & STR_TRUNCATED != 0 {
            expected.push('…');
        }
        for part in &parts {
            expected.push('/');
            expected.push_str(&String::from_utf8_lossy(part));
        }
        if expected.is_empty() && flags & sensor_common::event::STR_MISSING == 0 {
            expected.push('/');
        }
        proptest::prop_assert_eq!(decode_components(&bytes, flags).path, expected);
        proptest::prop_assert_eq!(lossy(&bytes), String::from_utf8_lossy(&bytes));
    }
}
