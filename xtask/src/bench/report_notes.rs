//! The closing notes of docs/benchmarks.md: for each missed target, why (from this run's
//! figures), and what would close the gap.

use std::fmt::Write as _;

use super::{
    Results,
    engine::Engine,
    load::{IdleMemory, LoadPhase},
    machine::Machine,
    overhead::{AuditOutcome, Overhead},
    realistic::Realistic,
    report::{bytes, count, ns, percent},
    targets::{self, targets},
    variants::{Variant, describe_alerts},
    workload::Loop,
};

pub fn write(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Notes on the targets\n");
    let missed: Vec<&'static str> = targets(results)
        .into_iter()
        .filter(|target| target.met == Some(false))
        .map(|target| target.name)
        .collect();
    if missed.is_empty() {
        let _ = writeln!(out, "Every target that was measured was met in this run.\n");
        return;
    }
    let _ = writeln!(
        out,
        "For each target missed in this run: why, from the figures above, and what would close \
         the gap.\n"
    );
    let overhead = results.overhead.measured();
    let realistic = results.realistic.measured();
    let engine = results.engine.measured();
    let load = results.load.measured();
    for name in missed {
        let note = match name {
            targets::REALISTIC_UNTRACKED => Some(format!(
                "{}{}",
                realistic.map_or(String::new(), |realistic| realistic_note(
                    realistic,
                    Variant::Untracked,
                    1.01
                )),
                overhead
                    .map(|overhead| untracked(overhead, &results.machine))
                    .unwrap_or_default()
            )),
            targets::REALISTIC_TRACKED => Some(format!(
                "{}{}",
                realistic.map_or(String::new(), |realistic| realistic_note(
                    realistic,
                    Variant::Tracked,
                    1.05
                )),
                overhead.map(|overhead| tracked(overhead, engine)).unwrap_or_default()
            )),
            targets::MICRO_TRACKED => overhead.map(|overhead| tracked(overhead, engine)),
            targets::ENGINE => engine.map(|engine| engine_note(engine, "default_pack")),
            targets::ENGINE_ECS => engine.map(|engine| engine_note(engine, "default_pack_and_ecs_json")),
            targets::DROPS => load.map(|phases| drops(phases, engine)),
            targets::LATENCY => load.map(|phases| latency(phases)),
            targets::PEAK_RSS | targets::IDLE_RSS => {
                load.map(|phases| rss(phases, engine, results.idle_memory.measured()))
            }
            _ => None,
        };
        let _ = writeln!(out, "**{name}.** {}\n", note.unwrap_or_default());
    }
}

/// The realistic pieces over `limit` in `variant`, with their alerts.
fn realistic_note(realistic: &Realistic, variant: Variant, limit: f64) -> String {
    let over: Vec<String> = realistic
        .pieces()
        .filter_map(|piece| {
            let ratio = realistic.ratio(piece, variant)?;
            let base = realistic.cell(piece, Variant::None)?.seconds.median;
            (ratio > limit).then(|| {
                format!(
                    "{} {} ({:+.0} ms on {:.2} s)",
                    piece.name(),
                    percent(ratio),
                    (ratio - 1.0) * base * 1000.0,
                    base
                )
            })
        })
        .collect();
    let alerts = realistic.alerts(variant);
    format!(
        "Over the goal: {}. Alerts raised by this work in this variant: {}. Realistic work pays the \
         same per-event prices as the loops below, in proportion to how many of its system calls \
         are opens, execs, deletions and connects (reading and copying a tree of headers is \
         nearly all opens; a compiler spends most of its time computing). ",
        if over.is_empty() { "–".into() } else { over.join(", ") },
        describe_alerts(&alerts)
    )
}

fn attributed(overhead: &Overhead, kind: Loop, variant: Variant) -> Option<f64> {
    overhead
        .attribution
        .as_ref()
        .ok()?
        .iter()
        .filter(|run| run.variant == variant)
        .flat_map(|run| run.loops.iter().filter(|run| run.kind == kind))
        .find_map(|run| run.bpf_ns_per_op)
}

fn ratio(overhead: &Overhead, kind: Loop, variant: Variant) -> Option<f64> {
    overhead.cell(kind, variant)?.ratio.map(|ratio| ratio.median)
}

fn base_ns(overhead: &Overhead, kind: Loop) -> Option<f64> {
    overhead.baseline(kind, 1).map(|spread| spread.median)
}

fn untracked(overhead: &Overhead, machine: &Machine) -> String {
    let mut note = String::new();
    let per_loop: Vec<String> = Loop::ALL
        .iter()
        .filter_map(|&kind| {
            let ratio = ratio(overhead, kind, Variant::Untracked)?;
            let base = base_ns(overhead, kind)?;
            Some(format!(
                "{} {} ({} per operation)",
                kind.label(),
                percent(ratio),
                signed_ns((ratio - 1.0) * base)
            ))
        })
        .collect();
    let _ = write!(note, "Measured: {}. ", per_loop.join(", "));
    if let Some(bpf) = attributed(overhead, Loop::OpenClose, Variant::Untracked) {
        let _ = write!(
            note,
            "The sensor's own programs take {} per open/close (one hash lookup at the `openat` \
             entry and one at its exit; `close` is not traced). ",
            ns(bpf)
        );
    }
    let _ = write!(
        note,
        "The rest is what the kernel charges for syscall tracepoints at all: while any \
         `syscalls:sys_enter_*`/`sys_exit_*` tracepoint has a program, every syscall of every \
         process (the untraced `close` too) leaves the fast path for the tracing entry and exit \
         work, and each traced call goes through the perf tracepoint glue (arguments copied to a \
         buffer; on 6.18 the RCU-tasks-trace section of the faultable syscall tracepoints) \
         before the program runs. {kernel} A \
         figure below zero, or far from the others, is the machine's noise, which is larger \
         than the effect when the load average is high. *What would close the gap*: where the \
         kernel allows it, capture from BPF LSM hooks or fentry/fexit on the operations \
         (`security_file_open`, `security_path_unlink`, `security_socket_connect`, the exit of \
         `do_sys_openat2`): they run only for those operations, an untracked process pays one \
         map lookup, and every other syscall stays on the fast path. The kernel lab (`cargo \
         xtask vm-test`, Debian 6.1 and 6.12 with BPF LSM) is where to build and measure that. \
         On tracepoint-only kernels the floor is the kernel's tracepoint price; it shrinks only \
         with fewer attached tracepoints (an exit-only design reads arguments after the call, \
         which gives up the time-of-check guarantees in docs/architecture.md).",
        kernel = kernel_sentence(machine)
    );
    note
}

/// What the probe said of this kernel, as a sentence (only what was measured).
fn kernel_sentence(machine: &Machine) -> String {
    match (machine.probed, &machine.bpf_lsm_problem) {
        (false, _) => "(`agent-sensor probe` did not run, so what this kernel allows is not stated.)".to_string(),
        (true, Some(problem)) => format!(
            "On this kernel the sensor captures through syscall tracepoints; `agent-sensor probe` says BPF LSM \
             is unavailable: {problem}."
        ),
        (true, None) => "On this kernel `agent-sensor probe` found BPF LSM available; capture still goes through \
                         syscall tracepoints."
            .to_string(),
    }
}

fn signed_ns(value: f64) -> String {
    if value < 0.0 {
        format!("−{}", ns(-value))
    } else {
        format!("+{}", ns(value))
    }
}

fn tracked(overhead: &Overhead, engine: Option<&Engine>) -> String {
    let mut note = String::new();
    let ratio = ratio(overhead, Loop::OpenClose, Variant::Tracked).unwrap_or(f64::NAN);
    let base = base_ns(overhead, Loop::OpenClose).unwrap_or(f64::NAN);
    let _ = write!(
        note,
        "Measured {} on a {} open/close: {} more per operation. ",
        percent(ratio),
        ns(base),
        ns((ratio - 1.0) * base)
    );
    if let Some(bpf) = attributed(overhead, Loop::OpenClose, Variant::Tracked) {
        let _ = write!(
            note,
            "The sensor's kernel programs take {} per tracked open: the exit program rebuilds the \
             absolute path of the opened file component by component (a `bpf_loop` over dentries \
             and mounts), checks it against the kernel rules (the tail-called policy program \
             looks the path and its directories up in the policy maps), and copies a record of a few hundred \
             bytes into the ring buffer. ",
            ns(bpf)
        );
    }
    if let Some(collector) = overhead
        .cell(Loop::OpenClose, Variant::Tracked)
        .and_then(|cell| cell.collector_ns_per_op)
    {
        let _ = write!(
            note,
            "The sensor process then spends {} of CPU per event (decode, enrich, rules, ECS JSON, \
             write) on the other core of a two-core machine, which the workload and everything \
             else on the machine also want. ",
            ns(collector)
        );
    }
    let (dropped, emitted) = overhead.tracked_drops();
    if dropped > 0 {
        let _ = write!(
            note,
            "The sensor did not keep up with this loop: the kernel dropped {} of {} events in the \
             tracked runs (a dropped event has cost the kernel nearly all of its work already). ",
            count(dropped as f64),
            count((dropped + emitted) as f64)
        );
    }
    let _ = write!(
        note,
        "50% of {} is {}: the budget of a map lookup and a short record, not of a path walk. *What would close the \
         gap*: in the kernel, fewer helper calls per record: BTF-typed raw tracepoints (`tp_btf`, \
         which the dev kernel loads and attaches although it refuses fentry) read kernel memory \
         with plain loads instead of a `bpf_probe_read_kernel` call per field and hand the \
         programs typed syscall arguments, which would take most helper calls out of the path \
         walk, the descriptor lookup and the argument copies; a per-CPU cache of the last \
         directory's path would spare an open next to the previous one its walk to the root, \
         but keyed by dentry and mount pointers it is only sound with the inode's number and \
         generation checked too (a freed dentry's memory is reused at once) and the kernel's \
         rename and mount sequence counters unchanged. In userspace, a cheaper \
         event{} and writing the audit trail off the event loop would leave more of the machine \
         to the agent.",
        ns(base),
        ns(base * 0.5),
        engine.and_then(json_share).map_or(String::new(), |share| format!(
            " (the ECS JSON line costs {} of the {} per event in the engine bench)",
            ns(share.0),
            ns(share.1)
        ))
    );
    note
}

/// (JSON time per event, rules + JSON time per event) from the engine bench.
fn json_share(engine: &Engine) -> Option<(f64, f64)> {
    let per_event = |name: &str| {
        engine
            .throughput
            .iter()
            .find(|result| result.name == name)
            .map(|result| result.median_ns / result.events_per_iteration as f64)
    };
    let rules = per_event("default_pack")?;
    let both = per_event("default_pack_and_ecs_json")?;
    Some((both - rules, both))
}

/// How the sensor with its audit trail compares with auditd (the same work: a record of every
/// event), for the overhead section.
pub fn versus_auditd(overhead: &Overhead) -> String {
    if let AuditOutcome::Unavailable(reason) = &overhead.audit {
        return format!("Not measured: {reason}.");
    }
    let mut note = String::new();
    let mut short = Vec::new();
    for kind in Loop::ALL {
        let (Some(tracked), Some(audit), Some(base)) = (
            ratio(overhead, kind, Variant::TrackedAudit),
            ratio(overhead, kind, Variant::Auditd),
            base_ns(overhead, kind),
        ) else {
            continue;
        };
        if audit - 1.0 < 3.0 * (tracked - 1.0).max(0.0) {
            short.push(format!(
                "{}: the sensor adds {} per operation, auditd {}",
                kind.label(),
                signed_ns((tracked - 1.0) * base),
                signed_ns((audit - 1.0) * base)
            ));
        }
    }
    let _ = write!(
        note,
        "The sensor with its audit trail against auditd (the same work: a record of every event): \
         less than three times cheaper on: {}. ",
        if short.is_empty() {
            "–".into()
        } else {
            short.join("; ")
        }
    );
    let _ = write!(
        note,
        "auditd's cost is in the audited syscall itself (the kernel formats the record and queues \
         it to kauditd; with the package's `--backlog_wait_time` the syscall waits when auditd \
         falls behind), so it grows with the records per operation; the sensor's is the per-event \
         work described under the tracked open/close note, which dominates where an operation is \
         cheap. Where the loop itself is expensive (a TCP handshake over loopback, a process \
         start) both overheads are a small share and their ratio is noisy."
    );
    note
}

fn engine_note(engine: &Engine, bench: &str) -> String {
    let Some(result) = engine.throughput.iter().find(|result| result.name == bench) else {
        return String::new();
    };
    format!(
        "Measured {} events/s, {} per event (criterion bench `{bench}`, one thread, a repeating \
         mix of 100 events with a few percent that alert). Profile it with `perf record \
         --call-graph dwarf` on the bench binary; how the engine avoids work (one index per text \
         field per action, rules turned away by their triggers before any condition runs, index \
         bits of per-process values kept across events) is in docs/rules.md.",
        count(result.events_per_second()),
        ns(result.median_ns / result.events_per_iteration as f64)
    )
}

fn flat_out(phases: &[LoadPhase]) -> Option<&LoadPhase> {
    phases.iter().find(|phase| phase.target_rate.is_none())
}

/// Events per second the sensor delivered while flat out.
fn delivered_rate(phase: &LoadPhase) -> f64 {
    if phase.seconds > 0.0 {
        phase.delivered as f64 / phase.seconds
    } else {
        0.0
    }
}

fn drops(phases: &[LoadPhase], engine: Option<&Engine>) -> String {
    let mut note = String::new();
    let Some(paced) = targets::phase_at(phases, targets::DROPS_RATE) else {
        return note;
    };
    if paced.produced_per_second < 0.95 * targets::DROPS_RATE as f64 {
        let _ = write!(
            note,
            "The tree produced only {}/s of the 200,000/s asked for: each tracked open costs the \
             worker the kernel programs' time (see the overhead notes), and {} worker{} on this \
             machine could not go faster. ",
            count(paced.produced_per_second),
            paced.workers,
            if paced.workers == 1 { "" } else { "s" }
        );
    }
    if paced.kernel_dropped > 0 {
        let _ = write!(
            note,
            "The kernel dropped {} of {} events ({:.1}%) because the ring buffer was full. ",
            count(paced.kernel_dropped as f64),
            count((paced.kernel_emitted + paced.kernel_dropped) as f64),
            100.0 * paced.kernel_dropped as f64 / (paced.kernel_emitted + paced.kernel_dropped).max(1) as f64
        );
    }
    if let Some(flat) = flat_out(phases) {
        let _ = write!(
            note,
            "Flat out, the sensor delivered about {}/s, using {:.0}% of one core while the load \
             ran and {} of CPU per delivered event in all. ",
            count(delivered_rate(flat)),
            flat.sensor_cpu_percent,
            ns(flat.sensor_cpu_seconds * 1e9 / flat.delivered.max(1) as f64)
        );
        if flat.sensor_cpu_percent < 85.0 {
            let _ = write!(
                note,
                "It was not using a whole core: on a machine this busy it waits for CPU as much as \
                 it uses it, so on a quiet machine it delivers more. "
            );
        }
    }
    let _ = write!(
        note,
        "Past what one thread of the sensor can decode, enrich, judge, serialize and write, the \
         16 MiB ring absorbs the difference for a few seconds, then the kernel drops. *What would \
         close the gap*: fewer CPU nanoseconds per event in userspace{}; a pipeline over threads \
         (reading and decoding, enrichment and rules, serialization and writing); smaller records. \
         A bigger ring only delays the drops.",
        engine
            .and_then(json_share)
            .map_or(String::new(), |(json, both)| format!(
                " (in the engine bench the JSON line alone costs {} of the {} per event)",
                ns(json),
                ns(both)
            ))
    );
    note
}

fn latency(phases: &[LoadPhase]) -> String {
    let Some(paced) = targets::phase_at(phases, targets::LATENCY_RATE) else {
        return String::new();
    };
    format!(
        "Measured p50 {}, p99 {}, max {} at {}/s over {} of {} trigger alerts, with the sensor at \
         {:.0}% of a core{}. The load test turns alert folding off (`alerts.fold.window_ms: 0`), \
         so every trigger's alert is written and timed; with the default 5 s window a burst \
         writes its first alert only, and the test timed two alerts per phase, the first ones \
         of the run.",
        paced.latency_p50_ms.map_or("–".into(), |ms| format!("{ms:.2} ms")),
        paced.latency_p99_ms.map_or("–".into(), |ms| format!("{ms:.2} ms")),
        paced.latency_max_ms.map_or("–".into(), |ms| format!("{ms:.2} ms")),
        count(paced.produced_per_second),
        paced.alerts_timed,
        paced.triggers,
        paced.sensor_cpu_percent,
        if paced.kernel_dropped == 0 { " and no drops" } else { "" }
    )
}

fn rss(phases: &[LoadPhase], engine: Option<&Engine>, idle: Option<&IdleMemory>) -> String {
    let Some(peak) = phases.iter().max_by_key(|phase| phase.peak_rss_bytes) else {
        return String::new();
    };
    let resident = &peak.resident_at_peak;
    let (without, after) = &peak.resident_at_peak_without_ring;
    let mut note = format!(
        "Peak {}; when RSS was highest: {} of BPF maps (the ring buffer mapped into the sensor: \
         its data pages are mapped twice so that records can wrap, and they count in the \
         sensor's RSS although they are kernel memory), {} of heap and stacks, {} of the \
         binary and libraries. Without the ring, RSS was highest at {} (start-up's peak as the \
         sensor logged it, before the ring was mapped: {}; the highest sample, {after:.1} s \
         after the sensor started: {} of heap and stacks, {} of binary{}). ",
        bytes(peak.peak_rss_bytes as f64),
        bytes(resident.bpf_maps as f64),
        bytes(resident.anonymous as f64),
        bytes(resident.files as f64),
        bytes(peak.peak_without_ring_bytes as f64),
        peak.startup_peak_bytes
            .map_or("not logged".to_string(), |bytes_| bytes(bytes_ as f64)),
        bytes(without.anonymous as f64),
        bytes(without.files as f64),
        if without.bpf_maps == 0 {
            ", before the ring was mapped: start-up"
        } else {
            ""
        }
    );
    match idle {
        Some(idle) => {
            let _ = write!(
                note,
                "The idle daemon holds {} ({} of heap); while starting it held at most {} without \
                 the ring, and {} with BPF LSM off (`enforcement.lsm: false`). The process table \
                 and the sessions are small beside it (a few hundred bytes per process by the \
                 memory bench). ",
                bytes(idle.default.total() as f64),
                bytes(idle.default.anonymous as f64),
                bytes(idle.default_startup_peak as f64),
                bytes(idle.lsm_off_startup_peak as f64)
            );
        }
        None => {
            let _ = write!(
                note,
                "The process table and the sessions are small beside the heap (a few hundred bytes \
                 per process by the memory bench). "
            );
        }
    }
    if let Some(engine) = engine {
        let memory = &engine.memory;
        let _ = write!(
            note,
            "The heap grows further with sessions: the engine remembers written paths per session \
             in an LRU cache created with room for 32,768 entries, {} per session from its first \
             write, for up to {} sessions ({} in all), and keeps them after the session ends. ",
            bytes(memory.writing_session.bytes),
            memory.max_write_sessions,
            bytes(memory.writing_session.bytes * memory.max_write_sessions as f64)
        );
    }
    let _ = write!(
        note,
        "Start-up keeps its peak down: the kernel's BTF is read mapped rather than parsed into \
         tables (btf-rs's mmap backend, from an in-memory copy where sysfs cannot be mapped); the \
         programs are loaded without it (they have no CO-RE relocation), and aya's loader, which \
         parses it when created, is created before the rules are compiled; the BPF LSM hooks \
         attach with a BTF built from their attach points' ids instead of aya's parse of the \
         kernel's; blocks of 256 KiB and more are mapped apart and the heap is trimmed after \
         each step. It then hands back the allocator's free memory (`malloc_trim`) and the pages \
         of the executable it read once (the kernel programs, rule packs and country data \
         embedded in the binary; `commands/startup_memory.rs`). *What would close the gap*: \
         the heap is mostly the compiled rules' automata (a \
         heap profile of start-up attributes about 12 MB to the rules, 5 MB of it regular \
         expressions and 4 MB glob sets): smaller automata or one glob set per pattern list \
         shared across actions; count the ring apart from the sensor's own memory (it is the \
         kernel's, sized by `capture.ring_buffer_bytes`); create the per-session caches empty \
         and let them grow, and drop a session's state when it ends."
    );
    note
}
