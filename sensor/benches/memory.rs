//! Userspace memory per tracked process and per agent session.
//!
//! A counting allocator measures the heap the sensor keeps (bytes requested from the allocator and
//! live blocks) while synthetic kernel records go through the same enrichment and rule engine as in
//! the daemon (the process table, the session registry, the engine's per-session state with the
//! default pack). The figures are deltas: state after N processes (or sessions) minus state before,
//! divided by N; then every process exits and what stays is reported as residual. Sessions are
//! measured twice: without writes, and writing one file each (the engine remembers the paths a
//! session wrote, for its most recent `MAX_SESSIONS` sessions).
//!
//! Prints a human summary and one `agent-sensor-memory {json}` line for `cargo xtask bench`.
//! Kernel memory is not counted here: the kernel maps are preallocated at load (the bench reads
//! their size from the running sensor).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        Arc,
        atomic::{AtomicIsize, Ordering},
    },
};

use agent_sensor::{
    decode::{Common, Connect, DecodedPath, Exec, Exit, Fork, Open, RawEvent, Resolved, SocketAddress, Text, Unlink},
    event::{Enricher, ecs::SensorContext},
    process::{ProcessTable, cgroup::CgroupNames},
    rules::{Engine, loader, state::MAX_SESSIONS},
};
use sensor_common::event::Syscall;

struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which is the system allocator's.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from this allocator with this layout.
        unsafe { System.dealloc(pointer, layout) };
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc` and `alloc`.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy)]
struct Heap {
    bytes: isize,
    blocks: isize,
}

fn heap() -> Heap {
    Heap {
        bytes: BYTES.load(Ordering::Relaxed),
        blocks: BLOCKS.load(Ordering::Relaxed),
    }
}

const PROJECT: &str = "/home/alice/project";

fn common(pid: u32, session_id: u64, time_ns: u64) -> Common {
    Common {
        time_ns,
        session_id,
        pid,
        tid: pid,
        uid: 1000,
        gid: 1000,
        cgroup_id: 4242,
        priority: false,
    }
}

fn path(text: &str) -> DecodedPath {
    DecodedPath {
        path: text.to_string(),
        ..DecodedPath::default()
    }
}

fn text(value: &str) -> Text {
    Text {
        value: value.to_string(),
        ..Text::default()
    }
}

fn exec(pid: u32, ppid: u32, session_id: u64, time_ns: u64, started: bool, args: &[String]) -> RawEvent {
    let program = format!("/usr/bin/{}", args[0]);
    RawEvent::Exec(Exec {
        common: common(pid, session_id, time_ns),
        ppid,
        started_profile: started.then_some(0),
        start_boottime_ns: time_ns,
        filename: text(&program),
        executable: path(&program),
        cwd: path(PROJECT),
        args: args.to_vec(),
        args_truncated: false,
        exe: None,
        exec_flags: 0,
        script: None,
    })
}

fn fork(parent: u32, child: u32, session_id: u64, time_ns: u64) -> RawEvent {
    RawEvent::Fork(Fork {
        common: common(parent, session_id, time_ns),
        child_pid: child,
        child_untracked: false,
        clone_flags: 0x0120_0011,
    })
}

fn open(pid: u32, session_id: u64, time_ns: u64, file: &str, write: bool) -> RawEvent {
    let flags = if write {
        (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as u32
    } else {
        (libc::O_RDONLY | libc::O_CLOEXEC) as u32
    };
    RawEvent::Open(Open {
        common: common(pid, session_id, time_ns),
        syscall: Syscall::Openat,
        dirfd: -100,
        flags,
        mode: 0o644,
        ret: 3,
        path: text(file),
        resolved: Resolved::File(path(file)),
        object: None,
        fmode: 0,
        repeat: 1,
    })
}

fn exit(pid: u32, session_id: u64, time_ns: u64) -> RawEvent {
    RawEvent::Exit(Exit {
        common: common(pid, session_id, time_ns),
        status: 0,
    })
}

/// The enricher and engine as the daemon runs them, minus the kernel.
struct Sensor {
    enricher: Enricher,
    engine: Engine,
    alerts: u64,
    raised: Vec<agent_sensor::rules::alert::Alert>,
}

impl Sensor {
    fn new() -> Self {
        let rules = loader::load(&[]).expect("the default pack compiles");
        Self {
            enricher: Enricher::new(
                ProcessTable::detached(),
                CgroupNames::new(None),
                vec![Arc::from("bench-agent")],
                SensorContext::current(),
            ),
            engine: Engine::new(Arc::new(rules)),
            alerts: 0,
            raised: Vec::new(),
        }
    }

    fn feed(&mut self, raw: RawEvent) {
        if let Some(event) = self.enricher.enrich(raw) {
            self.engine.process(&event, &mut self.raised);
            self.alerts += self.raised.len() as u64;
            self.raised.clear();
        }
        // The pipeline hands session changes to the enforcer after every record.
        self.enricher.sessions.take_changes();
    }
}

struct Measured {
    count: usize,
    bytes: f64,
    blocks: f64,
    residual_bytes: isize,
}

/// N processes in one session: each forked by the session's root, exec'd as a build command,
/// and opening one source file.
fn per_process(count: usize) -> Measured {
    let mut sensor = Sensor::new();
    let session = 0x00ab_cdef_0123_4567;
    let root = 1000;
    let mut time = 1_000_000_000u64;
    sensor.feed(exec(root, 1, session, time, true, &["claude".to_string()]));
    let before = heap();
    for index in 0..count {
        let pid = 10_000 + index as u32;
        time += 1_000;
        sensor.feed(fork(root, pid, session, time));
        let args = ["cargo", "build", "--release", "--package"]
            .iter()
            .map(|arg| arg.to_string())
            .chain([format!("crate-{index}")])
            .collect::<Vec<_>>();
        sensor.feed(exec(pid, root, session, time + 100, false, &args));
        sensor.feed(open(
            pid,
            session,
            time + 200,
            &format!("{PROJECT}/src/module{index}.rs"),
            false,
        ));
    }
    let after = heap();
    for index in 0..count {
        time += 1_000;
        sensor.feed(exit(10_000 + index as u32, session, time));
    }
    let residual = heap();
    Measured {
        count,
        bytes: (after.bytes - before.bytes) as f64 / count as f64,
        blocks: (after.blocks - before.blocks) as f64 / count as f64,
        residual_bytes: residual.bytes - before.bytes,
    }
}

/// N sessions, each an agent started by a profile match, with typical activity: reads, a
/// connect, a deletion, a child running git; and, when `write`, one file written in its
/// workspace (the engine remembers written paths per session).
fn per_session(count: usize, write: bool) -> Measured {
    let mut sensor = Sensor::new();
    let mut time = 1_000_000_000u64;
    let before = heap();
    for index in 0..count {
        let session = 0x0100_0000_0000 + index as u64;
        let root = 100_000 + 2 * index as u32;
        let child = root + 1;
        time += 10_000;
        sensor.feed(exec(root, 1, session, time, true, &["claude".to_string()]));
        for (step, file) in ["README.md", "Cargo.toml", "src/main.rs", "src/lib.rs"]
            .iter()
            .enumerate()
        {
            sensor.feed(open(
                root,
                session,
                time + step as u64,
                &format!("{PROJECT}/{file}"),
                false,
            ));
        }
        if write {
            sensor.feed(open(
                root,
                session,
                time + 10,
                &format!("{PROJECT}/src/new{index}.rs"),
                true,
            ));
        }
        sensor.feed(RawEvent::Connect(Connect {
            common: common(root, session, time + 20),
            fd: 5,
            ret: 0,
            address: SocketAddress::Inet("127.0.0.1:3000".parse().expect("an address")),
            route: 0,
            protocol: 0,
            flags: 0,
        }));
        sensor.feed(RawEvent::Unlink(Unlink {
            common: common(root, session, time + 30),
            syscall: Syscall::Unlinkat,
            dirfd: -100,
            flags: 0,
            call_flags: 0,
            ret: 0,
            path: text(&format!("{PROJECT}/target/old{index}.o")),
            base: Some(path(PROJECT)),
        }));
        sensor.feed(fork(root, child, session, time + 40));
        let git = ["git", "status", "--short"].map(String::from);
        sensor.feed(exec(child, root, session, time + 50, false, &git));
        sensor.feed(exit(child, session, time + 60));
    }
    let after = heap();
    for index in 0..count {
        let session = 0x0100_0000_0000 + index as u64;
        time += 1_000;
        sensor.feed(exit(100_000 + 2 * index as u32, session, time));
    }
    let residual = heap();
    Measured {
        count,
        bytes: (after.bytes - before.bytes) as f64 / count as f64,
        blocks: (after.blocks - before.blocks) as f64 / count as f64,
        residual_bytes: residual.bytes - before.bytes,
    }
}

fn main() {
    let processes = per_process(10_000);
    let sessions = per_session(1_000, false);
    // The engine keeps the written paths of its most recent MAX_SESSIONS sessions.
    let writing = per_session(MAX_SESSIONS, true);
    let report = |name: &str, measured: &Measured| {
        println!(
            "per {name}: {:.0} bytes in {:.1} heap blocks ({} of them; {} bytes left after they exited)",
            measured.bytes, measured.blocks, measured.count, measured.residual_bytes
        );
    };
    report("tracked process", &processes);
    report("session", &sessions);
    report("session that writes a file", &writing);
    let json = |measured: &Measured| {
        serde_json::json!({
            "count": measured.count,
            "bytes": measured.bytes,
            "blocks": measured.blocks,
            "residual_bytes": measured.residual_bytes,
        })
    };
    println!(
        "agent-sensor-memory {}",
        serde_json::json!({
            "process": json(&processes),
            "session": json(&sessions),
            "writing_session": json(&writing),
            "max_write_sessions": MAX_SESSIONS,
        })
    );
}
