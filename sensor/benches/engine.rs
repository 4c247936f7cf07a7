//! Events per second through the default rule pack, on one core.
//!
//! The stream mimics a coding agent at work: mostly opens (libraries, sources, build outputs,
//! /proc), then execs, forks and exits, some connects and deletions, and now and then something
//! the rules care about (a credential read, a write to ~/.bashrc).

use std::{hint::black_box, sync::Arc};

use agent_sensor::{
    event::{
        Event,
        ecs::EcsEvent,
        from_json::{event_from_json, nest_dotted},
    },
    rules::{Engine, loader},
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

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
    let mut event = event_from_json(&nest_dotted(&flat)).expect("benchmark event");
    event.timestamp_ns = 1_767_225_600_000_000_000 + index as i128 * 100_000;
    event.sequence = index as u64;
    event
}

fn open(index: usize, exe: &str, path: &str, write: bool) -> Event {
    event(
        index,
        &[
            ("event.action", json!("open")),
            ("process.executable", json!(exe)),
            ("process.args", json!([exe.rsplit('/').next().unwrap_or(exe)])),
            ("file.path", json!(path)),
            (
                "agent_sensor.open.flags",
                json!(if write {
                    vec!["O_WRONLY", "O_CREAT", "O_TRUNC"]
                } else {
                    vec!["O_RDONLY", "O_CLOEXEC"]
                }),
            ),
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
            ("agent_sensor.exec.filename", json!(exe)),
        ],
    )
}

/// A repeating mix of 100 events.
fn workload() -> Vec<Event> {
    let mut events = Vec::new();
    let mut i = 0;
    let mut next = || {
        i += 1;
        i
    };
    for round in 0..10 {
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
        events.push(open(next(), "/usr/bin/node", "/home/alice/project/package.json", false));
        events.push(open(next(), "/usr/bin/cat", "/etc/ld.so.cache", false));
        events.push(exec(next(), "/usr/bin/git", &["git", "status", "--short"]));
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
    }
    // Interesting ones, a few percent.
    events[5] = open(6, "/usr/bin/cat", "/home/alice/.ssh/id_rsa", false);
    events[15] = event(
        16,
        &[
            ("event.action", json!("connect")),
            ("process.executable", json!("/usr/bin/node")),
            ("destination.ip", json!("127.0.0.1")),
            ("destination.port", json!(3000)),
        ],
    );
    events[25] = event(
        26,
        &[
            ("event.action", json!("connect")),
            ("process.executable", json!("/usr/bin/node")),
            ("destination.ip", json!("140.82.112.3")),
            ("destination.port", json!(443)),
        ],
    );
    events[35] = event(
        36,
        &[
            ("event.action", json!("unlink")),
            ("process.executable", json!("/usr/bin/rm")),
            ("file.path", json!("/home/alice/project/target/debug/old.o")),
        ],
    );
    events[45] = open(46, "/usr/bin/bash", "/home/alice/.bashrc", true);
    events[55] = exec(56, "/usr/bin/rm", &["rm", "-rf", "target"]);
    events[65] = exec(66, "/usr/bin/bash", &["bash", "-c", "cargo test 2>&1 | tail -5"]);
    events
}

fn engine_throughput(c: &mut Criterion) {
    let rules = Arc::new(loader::load(&[]).expect("the default pack compiles"));
    let events = workload();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("default_pack", |b| {
        let mut engine = Engine::new(rules.clone());
        let mut alerts = Vec::new();
        b.iter(|| {
            for event in &events {
                engine.process(black_box(event), &mut alerts);
            }
            alerts.clear();
        });
    });
    // What the sensor does per event besides the rules when it keeps the audit trail: the ECS
    // JSON line of every event, into the buffer the pipeline reuses.
    group.bench_function("default_pack_and_ecs_json", |b| {
        let mut engine = Engine::new(rules.clone());
        let mut alerts = Vec::new();
        let mut line = Vec::with_capacity(4096);
        b.iter(|| {
            let mut bytes = 0;
            for event in &events {
                engine.process(black_box(event), &mut alerts);
                line.clear();
                EcsEvent { event }.write_json(&mut line);
                bytes += line.len();
            }
            alerts.clear();
            black_box(bytes)
        });
    });
    // The default pack with the Sigma pack (rules/sigma, SigmaHQ's Linux rules) beside it.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let both = Arc::new(loader::load(&[dir.join("default"), dir.join("sigma")]).expect("the packs compile"));
    group.bench_function("default_and_sigma_packs", |b| {
        let mut engine = Engine::new(both.clone());
        let mut alerts = Vec::new();
        b.iter(|| {
            for event in &events {
                engine.process(black_box(event), &mut alerts);
            }
            alerts.clear();
        });
    });
    group.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
