//! The capacity sections of docs/benchmarks.md: the rule engine's throughput and memory, and the
//! daemon under sustained load (drops, alert latency).

use std::fmt::Write as _;

use super::{
    Outcome, Results,
    load::{LoadPhase, TIMED_RULE},
    report::{bytes, count, ms, ns},
};

pub(super) fn engine_markdown(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Engine throughput and memory\n");
    let _ = writeln!(
        out,
        "`sensor/benches/engine.rs` (criterion, one thread): a repeating mix of 100 events of a \
         coding agent (opens of libraries, sources and build outputs, execs, forks, exits, a few \
         connects and deletions, and a few percent that raise alerts) through the shipped pack. \
         `default_pack` is the rule engine alone; `default_pack_and_ecs_json` adds the ECS JSON \
         line the sensor writes for every event when it keeps the audit trail. Warm-up {} s, \
         measurement {} s; the figure is the median, the range criterion's 95% interval.\n",
        results.settings.criterion_warm_up, results.settings.criterion_measurement
    );
    let Some(engine) = results.engine.measured_or_say_why(out) else {
        return;
    };
    let _ = writeln!(out, "| benchmark | events/s | per event |\n|---|---|---|");
    for result in &engine.throughput {
        let per_event = result.median_ns / result.events_per_iteration as f64;
        let _ = writeln!(
            out,
            "| {} | {} ({}…{}) | {} |",
            result.name,
            count(result.events_per_second()),
            count(result.events_per_iteration as f64 * 1e9 / result.high_ns),
            count(result.events_per_iteration as f64 * 1e9 / result.low_ns),
            ns(per_event)
        );
    }
    let memory = &engine.memory;
    let _ = writeln!(
        out,
        "\nMemory (`sensor/benches/memory.rs`): a counting allocator measures the heap the sensor \
         keeps while synthetic kernel records go through the enrichment and the engine with the \
         default pack, as in the daemon. Per tracked process: {} processes forked in one \
         session, each exec'd as a build command with five arguments and opening one file. Per \
         session: {} agent sessions started by a profile match, each with nine events (reads, a \
         connect, a deletion, a child running git that exits); then {} sessions that also write \
         one file each (the engine remembers written paths for its {} most recent sessions).\n",
        memory.process.count, memory.session.count, memory.writing_session.count, memory.max_write_sessions
    );
    let _ = writeln!(
        out,
        "| | heap per unit | heap blocks per unit | still held after they exited (all units) |\n|---|---|---|---|"
    );
    for (name, heap) in [
        ("tracked process", &memory.process),
        ("session (root process and activity)", &memory.session),
        ("session that writes a file", &memory.writing_session),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.1} | {} |",
            bytes(heap.bytes),
            heap.blocks,
            bytes(heap.residual_bytes as f64)
        );
    }
    let _ = writeln!(
        out,
        "\nThe allocator adds its own header to each block (16 bytes with glibc), and hash tables \
         keep their capacity after entries leave (most of what is still held after the processes \
         exited). In the kernel a tracked process is one entry of the `TRACKED` hash map, \
         preallocated when the programs load, so tracking more processes costs no more kernel \
         memory (see the load section for the map sizes).\n"
    );
}

/// How one row of the load table shows a phase.
type Row = dyn Fn(&LoadPhase) -> String;

pub(super) fn load_markdown(out: &mut String, results: &Results) {
    let settings = &results.settings;
    let _ = writeln!(out, "## Load\n");
    let _ = writeln!(
        out,
        "A tracked tree under `agent-sensor watch` (default pack, monitor mode, every event \
         serialized and written to `/dev/null`, so that the disk is not what is measured): worker \
         processes (one fewer than the cores, so the sensor has a core) open a file in a loop, {} s \
         per phase: first as fast as they can, then paced at 100,000 opens per second (the alert \
         latency target), then at 200,000 (the drops target). Every 10 ms \
         the tree's root reads a file under `~/.ssh` (a fresh one each time), which the default \
         pack alerts on (`{TIMED_RULE}`), with alert folding off so that every read's alert is \
         written; the alert latency runs from the clock reading just \
         before that `openat` to the moment the alert line arrives on the sensor's standard \
         output (a pipe the bench reads). Opens repeated by one process are counted in the \
         kernel and reported with their count (docs/events.md), so the workers' loop reaches \
         the sensor as few events. Produced: the workers' opens and the trigger reads; \
         delivered: events the sensor serialized and wrote (its count); drops: the kernel's \
         ring-buffer counter, which the sensor logs at exit. Sensor CPU: /proc/PID/stat of the \
         sensor, while the workload ran, and in all from the workload's start to the sensor's \
         exit (so the time to drain a backlog counts); peak RSS: VmHWM, and /proc/PID/smaps \
         sampled every 100 ms, split into the ring buffer's pages (`anon_inode:bpf-map` \
         mappings: kernel memory mapped into the sensor, its data pages twice so that records \
         can wrap) and the rest.\n",
        settings.load_seconds
    );
    let Some(phases) = results.load.measured_or_say_why(out) else {
        return;
    };
    let _ = write!(out, "| |");
    for phase in phases {
        let _ = write!(out, " {} |", phase.label);
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(phases.len()));
    let rows: [(&str, &Row); 17] = [
        ("workers", &|phase| phase.workers.to_string()),
        ("duration", &|phase| format!("{:.1} s", phase.seconds)),
        ("produced (events/s)", &|phase| {
            format!(
                "{} ({}/s)",
                count(phase.produced as f64),
                count(phase.produced_per_second)
            )
        }),
        ("written to the ring by the kernel", &|phase| {
            count(phase.kernel_emitted as f64)
        }),
        ("dropped by the kernel (ring full)", &|phase| {
            format!(
                "{} ({:.1}%)",
                count(phase.kernel_dropped as f64),
                100.0 * phase.kernel_dropped as f64 / (phase.kernel_emitted + phase.kernel_dropped).max(1) as f64
            )
        }),
        ("delivered (events written by the sensor)", &|phase| {
            format!(
                "{} ({:.1}% of produced)",
                count(phase.delivered as f64),
                100.0 * phase.delivered as f64 / phase.produced.max(1) as f64
            )
        }),
        ("timed alerts received", &|phase| {
            format!("{} of {}", phase.alerts_timed, phase.triggers)
        }),
        ("alert latency p50", &|phase| ms(phase.latency_p50_ms)),
        ("alert latency p99", &|phase| ms(phase.latency_p99_ms)),
        ("alert latency max", &|phase| ms(phase.latency_max_ms)),
        ("sensor CPU while the load ran", &|phase| {
            format!("{:.0}% of one core", phase.sensor_cpu_percent)
        }),
        ("sensor CPU in all (draining included)", &|phase| {
            format!(
                "{:.1} s, {} per delivered event",
                phase.sensor_cpu_seconds,
                ns(phase.sensor_cpu_seconds * 1e9 / phase.delivered.max(1) as f64)
            )
        }),
        ("sensor peak RSS (VmHWM)", &|phase| bytes(phase.peak_rss_bytes as f64)),
        ("sensor peak RSS without the ring buffer", &|phase| {
            bytes(phase.peak_without_ring_bytes as f64)
        }),
        ("resident at the peak: ring buffer / heap / binary", &|phase| {
            let resident = &phase.resident_at_peak;
            format!(
                "{} / {} / {}",
                bytes(resident.bpf_maps as f64),
                bytes(resident.anonymous as f64),
                bytes(resident.files as f64)
            )
        }),
        (
            "resident at the peak without the ring: ring buffer / heap / binary, seconds after start",
            &|phase| {
                let (resident, after) = &phase.resident_at_peak_without_ring;
                format!(
                    "{} / {} / {}, {after:.1} s",
                    bytes(resident.bpf_maps as f64),
                    bytes(resident.anonymous as f64),
                    bytes(resident.files as f64)
                )
            },
        ),
        ("kernel memory of the sensor's maps", &|phase| {
            bytes(phase.map_bytes as f64)
        }),
    ];
    for (name, value) in rows {
        let _ = write!(out, "| {name} |");
        for phase in phases {
            let _ = write!(out, " {} |", value(phase));
        }
        let _ = writeln!(out);
    }
    if let Outcome::Measured(idle) = &results.idle_memory {
        let _ = writeln!(
            out,
            "\nThe idle daemon (`agent-sensor run` with nothing to track), {} s after it started, holds \
             {} resident: {} of ring buffer, {} of heap, {} of binary and libraries; while \
             starting it held at most {} without the ring. With BPF LSM off \
             (`enforcement.lsm: false`, so the BTF the LSM hooks attach with is never built): \
             {} of heap and {} of binary once started, at most {} while starting.",
            super::load::IDLE_AFTER_SECONDS,
            bytes(idle.default.total() as f64),
            bytes(idle.default.bpf_maps as f64),
            bytes(idle.default.anonymous as f64),
            bytes(idle.default.files as f64),
            bytes(idle.default_startup_peak as f64),
            bytes(idle.lsm_off.anonymous as f64),
            bytes(idle.lsm_off.files as f64),
            bytes(idle.lsm_off_startup_peak as f64)
        );
    }
    if let Some((entry, entries, memlock)) = phases.iter().find_map(|phase| phase.tracked_map) {
        let _ = writeln!(
            out,
            "\nThe tracked-process map holds {entries} entries of {entry} bytes (key and value), \
             {} of kernel memory, allocated at load; the ring buffer is 16 MiB of the maps' memory \
             (`capture.ring_buffer_bytes`).",
            bytes(memlock as f64)
        );
    }
    let _ = writeln!(out);
}
