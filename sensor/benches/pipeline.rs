//! Records per second through the whole userspace pipeline, on one core: kernel records as bytes
//! (laid out as the kernel programs lay them out) → decode → process table and sessions → enrich
//! → baselines → the default rule pack → outputs (alerts only, as `watch --alerts`).
//!
//! Two workloads of a tracked agent, each replayed from records made once:
//! - `processes`: a shell starting short-lived programs (`ls /`): per process a fork, an exec,
//!   the 33 opens of the dynamic loader and the locale (about half of them failing), an exit;
//! - `files`: a script churning files in a scratch directory: mkdir, create and write, list,
//!   read, rename, unlink, rmdir.
//!
//! With `PIPELINE_ROUNDS=N` (and optionally `PIPELINE_WORKLOAD=processes|files`) it skips
//! criterion and replays N rounds once, for instruction counts under callgrind:
//! `PIPELINE_ROUNDS=20 valgrind --tool=callgrind target/release/deps/pipeline-*`.

use std::{hint::black_box, sync::Arc};

use agent_sensor::{
    baseline::Baselines,
    config::baseline::BaselineConfig,
    event::{Enricher, ecs::SensorContext},
    output::Outputs,
    pipeline::Pipeline,
    process::{ProcessTable, cgroup::CgroupNames},
    rules::{Engine, loader},
};
use criterion::{Criterion, Throughput};
use sensor_common::event::{
    EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_OPEN, EVENT_SYSCALL, EVENT_UNLINK, EXEC_TRUSTED, EventHeader, ExecEvent,
    ExitEvent, FileIdentity, ForkEvent, HEADER_SESSION_START, OpenEvent, RESOLVED_FILE, RESOLVED_NONE, STR_COMPONENTS,
    StrRef, Syscall, SyscallEvent, UnlinkEvent,
};

const SESSION: u64 = 0x00ab_cdef_0123_4567;
const SHELL: u32 = 1000;
const PROJECT: &str = "/home/alice/project";
const ENOENT: i64 = -(libc::ENOENT as i64);

/// One record: a fixed part `T` (zeroes until `finish`) followed by its strings.
struct Record {
    bytes: Vec<u8>,
}

impl Record {
    fn new<T>() -> Self {
        let bytes = vec![0; size_of::<T>()];
        Self { bytes }
    }

    /// Appends `data`; where it lies, for the fixed part.
    fn string(&mut self, data: &[u8], flags: u16) -> StrRef {
        let (offset, len) = (self.bytes.len() as u16, data.len() as u16);
        self.bytes.extend_from_slice(data);
        StrRef {
            offset,
            len,
            flags,
            ..StrRef::default()
        }
    }

    /// A NUL-terminated string as the caller passed it.
    fn text(&mut self, text: &str) -> StrRef {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        self.string(&data, 0)
    }

    /// An absolute path as the kernel writes it: components, leaf first.
    fn components(&mut self, path: &str) -> StrRef {
        let mut data = Vec::new();
        for part in path.split('/').filter(|part| !part.is_empty()).rev() {
            data.extend_from_slice(part.as_bytes());
            data.push(0);
        }
        self.string(&data, STR_COMPONENTS)
    }

    fn finish<T: Copy>(mut self, mut fixed: T, header: impl Fn(&mut T) -> &mut EventHeader, head: Head) -> Vec<u8> {
        let size = self.bytes.len() as u32;
        let h = header(&mut fixed);
        h.kind = head.kind;
        h.flags = head.flags;
        h.size = size;
        h.time_ns = head.time_ns;
        h.session_id = SESSION;
        h.tgid = head.pid;
        h.tid = head.pid;
        h.uid = 1000;
        h.gid = 1000;
        h.cgroup_id = 4242;
        // SAFETY: T is a plain-data record type; the buffer is at least size_of::<T>() long.
        unsafe { std::ptr::write_unaligned(self.bytes.as_mut_ptr().cast::<T>(), fixed) };
        self.bytes
    }
}

#[derive(Clone, Copy)]
struct Head {
    kind: u16,
    flags: u16,
    pid: u32,
    time_ns: u64,
}

fn head(kind: u16, pid: u32, time_ns: u64) -> Head {
    Head {
        kind,
        flags: 0,
        pid,
        time_ns,
    }
}

fn exec(pid: u32, ppid: u32, time_ns: u64, program: &str, args: &[&str], start: bool) -> Vec<u8> {
    let mut r = Record::new::<ExecEvent>();
    let filename = r.text(program);
    let executable = r.components(program);
    let cwd = r.components(PROJECT);
    let joined: Vec<u8> = args.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    let args = r.string(&joined, 0);
    let fixed = ExecEvent {
        ppid,
        start_boottime_ns: time_ns,
        args_size: u32::from(args.len),
        filename,
        executable,
        cwd,
        args,
        exe: FileIdentity {
            dev: 0xfe0_0000,
            mode: 0o100_755,
            ino: 1234,
        },
        exec_flags: EXEC_TRUSTED,
        ..ExecEvent::default()
    };
    let mut h = head(EVENT_EXEC, pid, time_ns);
    if start {
        h.flags = HEADER_SESSION_START;
    }
    r.finish(fixed, |e| &mut e.header, h)
}

fn fork(parent: u32, child: u32, time_ns: u64) -> Vec<u8> {
    let fixed = ForkEvent {
        child_tgid: child,
        clone_flags: 0x0120_0011,
        ..ForkEvent::default()
    };
    Record::new::<ForkEvent>().finish(fixed, |e| &mut e.header, head(EVENT_FORK, parent, time_ns))
}

fn exit(pid: u32, time_ns: u64) -> Vec<u8> {
    Record::new::<ExitEvent>().finish(ExitEvent::default(), |e| &mut e.header, head(EVENT_EXIT, pid, time_ns))
}

/// An open of an absolute path: a successful one carries the kernel's path of the opened file.
fn open(pid: u32, time_ns: u64, path: &str, flags: i32, ret: i64) -> Vec<u8> {
    let mut r = Record::new::<OpenEvent>();
    let argument = r.text(path);
    let (resolved_kind, resolved) = if ret >= 0 {
        (RESOLVED_FILE, r.components(path))
    } else {
        (RESOLVED_NONE, StrRef::default())
    };
    let fixed = OpenEvent {
        syscall: Syscall::Openat as u16,
        resolved_kind,
        dirfd: -100,
        flags: flags as u32,
        mode: if flags & libc::O_CREAT != 0 { 0o666 } else { 0 },
        ret,
        path: argument,
        resolved,
        object: if ret >= 0 {
            FileIdentity {
                dev: 0xfe0_0000,
                mode: 0o100_644,
                ino: 99,
            }
        } else {
            FileIdentity::default()
        },
        fmode: 0,
        repeat: 1,
        ..OpenEvent::default()
    };
    r.finish(fixed, |e| &mut e.header, head(EVENT_OPEN, pid, time_ns))
}

/// A generic operation on one or two absolute paths (mkdir, rename).
fn operation(pid: u32, time_ns: u64, syscall: Syscall, path: &str, path2: Option<&str>, args: [u64; 4]) -> Vec<u8> {
    let mut r = Record::new::<SyscallEvent>();
    let path = r.text(path);
    let path2 = path2.map(|path2| r.text(path2)).unwrap_or_default();
    let fixed = SyscallEvent {
        syscall: syscall as u16,
        dirfd: -100,
        dirfd2: -100,
        args,
        path,
        path2,
        ..SyscallEvent::default()
    };
    r.finish(fixed, |e| &mut e.header, head(EVENT_SYSCALL, pid, time_ns))
}

fn unlink(pid: u32, time_ns: u64, syscall: Syscall, path: &str) -> Vec<u8> {
    let mut r = Record::new::<UnlinkEvent>();
    let path = r.text(path);
    let fixed = UnlinkEvent {
        syscall: syscall as u16,
        dirfd: -100,
        path,
        ..UnlinkEvent::default()
    };
    r.finish(fixed, |e| &mut e.header, head(EVENT_UNLINK, pid, time_ns))
}

/// The opens of `ls /` started by a shell: the loader's, then the locale's (C.UTF-8 first).
fn loader_opens() -> Vec<(String, i32, i64)> {
    let cloexec = libc::O_RDONLY | libc::O_CLOEXEC;
    let mut opens = vec![
        ("/etc/ld.so.cache".to_string(), cloexec, 3),
        ("/lib/x86_64-linux-gnu/libselinux.so.1".to_string(), cloexec, 3),
        ("/lib/x86_64-linux-gnu/libc.so.6".to_string(), cloexec, 3),
        ("/lib/x86_64-linux-gnu/libpcre2-8.so.0".to_string(), cloexec, 3),
        ("/proc/filesystems".to_string(), cloexec, 3),
        ("/usr/lib/locale/locale-archive".to_string(), cloexec, ENOENT),
        ("/usr/share/locale/locale.alias".to_string(), cloexec, 3),
        (
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache".to_string(),
            libc::O_RDONLY,
            3,
        ),
    ];
    for category in [
        "LC_IDENTIFICATION",
        "LC_MEASUREMENT",
        "LC_TELEPHONE",
        "LC_ADDRESS",
        "LC_NAME",
        "LC_PAPER",
        "LC_MESSAGES",
        "LC_MONETARY",
        "LC_COLLATE",
        "LC_TIME",
        "LC_NUMERIC",
        "LC_CTYPE",
    ] {
        opens.push((format!("/usr/lib/locale/C.UTF-8/{category}"), cloexec, ENOENT));
        opens.push((format!("/usr/lib/locale/C.utf8/{category}"), cloexec, 3));
    }
    opens.push((
        "/".to_string(),
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECTORY,
        3,
    ));
    opens
}

/// `count` processes started by the session's shell (after the session's start).
fn processes(count: usize) -> Vec<Vec<u8>> {
    let opens = loader_opens();
    let mut records = Vec::new();
    let mut time = 2_000_000_000u64;
    for index in 0..count {
        let pid = 20_000 + (index % 10_000) as u32;
        time += 100_000;
        records.push(fork(SHELL, pid, time));
        records.push(exec(pid, SHELL, time + 10, "/usr/bin/ls", &["ls", "/"], false));
        for (step, (path, flags, ret)) in opens.iter().enumerate() {
            records.push(open(pid, time + 20 + step as u64, path, *flags, *ret));
        }
        records.push(exit(pid, time + 1_000));
    }
    records
}

/// `count` iterations of a script's file churn in a scratch directory.
fn files(count: usize) -> Vec<Vec<u8>> {
    let python = 1500;
    let scratch = format!("{PROJECT}/scratch/tmpq8x2");
    let mut records = vec![exec(
        python,
        SHELL,
        1_000,
        "/usr/bin/python3.11",
        &["python3", "-"],
        false,
    )];
    let mut time = 2_000_000_000u64;
    let write = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    let list = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECTORY;
    for index in 0..count {
        time += 100_000;
        let dir = format!("{scratch}/t{index}");
        let file = format!("{dir}/f.txt");
        let renamed = format!("{file}.2");
        records.push(operation(python, time, Syscall::Mkdir, &dir, None, [0o777, 0, 0, 0]));
        records.push(open(python, time + 1, &file, write, 3));
        records.push(open(python, time + 2, &dir, list, 3));
        records.push(open(python, time + 3, &file, libc::O_RDONLY | libc::O_CLOEXEC, 3));
        records.push(operation(
            python,
            time + 4,
            Syscall::Rename,
            &file,
            Some(&renamed),
            [0; 4],
        ));
        records.push(unlink(python, time + 5, Syscall::Unlink, &renamed));
        records.push(unlink(python, time + 6, Syscall::Rmdir, &dir));
    }
    records
}

/// The pipeline as `watch --alerts` runs it, minus the kernel: the session's shell already known.
fn pipeline() -> Pipeline {
    let rules = loader::load(&[]).expect("the default pack compiles");
    let enricher = Enricher::new(
        ProcessTable::detached(),
        CgroupNames::new(None),
        vec![Arc::from("bench")],
        SensorContext::current(),
    );
    let mut pipeline = Pipeline::new(enricher, Some(Engine::new(Arc::new(rules))), Outputs::none());
    pipeline.baseline = Some(Baselines::new(&BaselineConfig::default(), None));
    pipeline.handle_record(&exec(
        SHELL,
        1,
        1_000,
        "/usr/bin/dash",
        &["sh", "-c", "./procs.sh"],
        true,
    ));
    pipeline
}

fn replay(pipeline: &mut Pipeline, records: &[Vec<u8>]) {
    for record in records {
        pipeline.handle_record(black_box(record));
    }
}

fn workloads() -> [(&'static str, Vec<Vec<u8>>); 2] {
    [("processes", processes(100)), ("files", files(500))]
}

fn main() {
    if let Some(rounds) = std::env::var("PIPELINE_ROUNDS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let only = std::env::var("PIPELINE_WORKLOAD").ok();
        for (name, records) in workloads() {
            if only.as_deref().is_some_and(|only| only != name) {
                continue;
            }
            let mut pipeline = pipeline();
            for _ in 0..rounds {
                replay(&mut pipeline, &records);
            }
            println!("{name}: {} records x {rounds} rounds", records.len());
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("pipeline");
    for (name, records) in workloads() {
        group.throughput(Throughput::Elements(records.len() as u64));
        let mut pipeline = pipeline();
        group.bench_function(name, |b| b.iter(|| replay(&mut pipeline, &records)));
    }
    group.finish();
    criterion.final_summary();
}
