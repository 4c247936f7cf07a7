//! Events that raise no alert allocate nothing once the engine is warm: a counting allocator
//! (test builds only) counts the allocations of this thread while the engine runs.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::Arc,
};

use serde_json::{Map, Value, json};

use super::{Engine, loader};
use crate::event::{
    Event,
    from_json::{event_from_json, nest_dotted},
};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as the caller promised for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as the caller promised for `layout`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as the caller promised for `ptr`, `layout` and `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations of this thread while `work` runs.
fn allocations(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    work();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn event(index: usize, fields: &[(&str, Value)]) -> Event {
    let mut flat = Map::new();
    flat.insert("agent_sensor.user.home".into(), json!("/home/alice"));
    flat.insert(
        "agent_sensor.session.working_directory".into(),
        json!("/home/alice/project"),
    );
    flat.insert("process.working_directory".into(), json!("/home/alice/project"));
    flat.insert("user.id".into(), json!("1000"));
    flat.insert("gen_ai.agent.id".into(), json!("00000000000000ab"));
    flat.insert("gen_ai.agent.name".into(), json!("claude-code"));
    for (key, value) in fields {
        flat.insert((*key).to_string(), value.clone());
    }
    let mut event = event_from_json(&nest_dotted(&flat)).expect("test event");
    event.timestamp_ns = 1_767_225_600_000_000_000 + index as i128 * 100_000;
    event.sequence = index as u64;
    event
}

fn open(index: usize, exe: &str, path: &str, write: bool) -> Event {
    let flags = if write {
        vec!["O_WRONLY", "O_CREAT", "O_TRUNC"]
    } else {
        vec!["O_RDONLY", "O_CLOEXEC"]
    };
    event(
        index,
        &[
            ("event.action", json!("open")),
            ("process.executable", json!(exe)),
            ("process.args", json!([exe.rsplit('/').next().unwrap_or(exe)])),
            ("file.path", json!(path)),
            ("agent_sensor.open.flags", json!(flags)),
        ],
    )
}

fn exec(index: usize, exe: &str, args: &[&str]) -> Event {
    event(
        index,
        &[
            ("event.action", json!("exec")),
            ("process.executable", json!(exe)),
            ("process.args", json!(args)),
            ("process.command_line", json!(args.join(" "))),
            ("agent_sensor.exec.filename", json!(exe)),
        ],
    )
}

/// A coding agent's quiet work: builds, reads, git, shells, local connects, deletions of build
/// outputs.
fn quiet_events() -> Vec<Event> {
    let mut events = Vec::new();
    for round in 0..10 {
        let mut i = round * 20;
        let mut next = || {
            i += 1;
            i
        };
        events.push(open(
            next(),
            "/usr/bin/rustc",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            false,
        ));
        events.push(open(
            next(),
            "/usr/bin/rustc",
            &format!("/home/alice/project/src/module{round}.rs"),
            false,
        ));
        events.push(open(
            next(),
            "/usr/bin/rustc",
            &format!("/home/alice/project/target/debug/deps/m{round}.o"),
            true,
        ));
        events.push(open(next(), "/usr/bin/git", "/home/alice/.gitconfig", false));
        events.push(open(next(), "/usr/bin/node", "/proc/self/status", false));
        events.push(open(next(), "/usr/bin/python3.12", "/usr/lib/python3.12/os.py", false));
        events.push(open(next(), "/usr/bin/cat", "/etc/ld.so.cache", false));
        events.push(exec(next(), "/usr/bin/git", &["git", "status", "--short"]));
        events.push(exec(next(), "/usr/bin/ls", &["ls", "-la", "src", "/tmp"]));
        events.push(exec(next(), "/usr/bin/bash", &["bash", "-c", "cargo build"]));
        events.push(exec(
            next(),
            "/usr/bin/python3.12",
            &["python3", "-m", "pytest", "tests"],
        ));
        events.push(event(
            next(),
            &[
                ("event.action", json!("fork")),
                ("process.executable", json!("/usr/bin/bash")),
                ("agent_sensor.fork.child_pid", json!(4000 + round)),
            ],
        ));
        events.push(event(
            next(),
            &[
                ("event.action", json!("exit")),
                ("process.executable", json!("/usr/bin/cat")),
                ("process.exit_code", json!(0)),
            ],
        ));
        events.push(event(
            next(),
            &[
                ("event.action", json!("connect")),
                ("process.executable", json!("/usr/bin/node")),
                ("destination.ip", json!("127.0.0.1")),
                ("destination.port", json!(3000)),
            ],
        ));
        events.push(event(
            next(),
            &[
                ("event.action", json!("unlink")),
                ("process.executable", json!("/usr/bin/rm")),
                (
                    "file.path",
                    json!(format!("/home/alice/project/target/debug/old{round}.o")),
                ),
            ],
        ));
    }
    events
}

#[test]
fn quiet_events_allocate_nothing_once_warm() {
    let rules = Arc::new(loader::load(&[]).expect("the default pack compiles"));
    let mut engine = Engine::new(rules);
    let events = quiet_events();
    let mut alerts = Vec::new();
    for event in &events {
        engine.process(event, &mut alerts);
    }
    assert!(
        alerts.is_empty(),
        "quiet events raised {:?}",
        alerts.iter().map(|a| &a.rule.id).collect::<Vec<_>>()
    );
    let rounds = 3_000_usize.div_ceil(events.len());
    let counted = allocations(|| {
        for _ in 0..rounds {
            for event in &events {
                engine.process(event, &mut alerts);
            }
        }
    });
    assert!(alerts.is_empty());
    assert_eq!(
        counted,
        0,
        "{counted} allocations for {} quiet events",
        rounds * events.len()
    );
}

#[test]
fn the_counter_counts() {
    let counted = allocations(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(counted, 1);
}
