//! The results as a table on the terminal and as docs/benchmarks.md.

use std::{fmt::Write as _, process::Command};

use super::{
    Outcome, Results,
    engine::Engine,
    load::{LoadPhase, TIMED_RULE},
    overhead::AuditOutcome,
    stats::Spread,
    targets::{status, targets},
    variants::Variant,
    workload::Loop,
};
use crate::cmd;

pub(super) fn ns(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value >= 1e6 {
        format!("{:.2} ms", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.2} µs", value / 1e3)
    } else {
        format!("{value:.0} ns")
    }
}

pub(super) fn bytes(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1} MB", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1} kB", value / 1e3)
    } else {
        format!("{value:.0} B")
    }
}

pub(super) fn count(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

pub(super) fn percent(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}

/// `+3.1% (−0.5…+6.0)`: the median paired overhead and the range over the rounds.
fn overhead_cell(spread: &Spread) -> String {
    if spread.count > 1 {
        format!(
            "{} ({}…{})",
            percent(spread.median),
            percent(spread.min),
            percent(spread.max)
        )
    } else {
        percent(spread.median)
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".into(), |value| format!("{value:.2} ms"))
}

/// The table printed at the end of a run.
pub fn text(results: &Results) -> String {
    let mut out = String::new();
    let machine = &results.machine;
    let _ = writeln!(
        out,
        "\nAgent Sensor benchmarks ({}): {}, {} cores, {:.0} GiB, Linux {}; load average {:.1} → {:.1}",
        if results.settings.quick { "quick" } else { "full" },
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        results.load_average.0,
        results.load_average.1
    );
    match &results.overhead {
        Outcome::Measured(overhead) => {
            let _ = writeln!(
                out,
                "\nSyscall overhead: time per operation with no sensor, and each variant's overhead \
                 (median of {} paired rounds, min…max)",
                results.settings.rounds
            );
            let _ = writeln!(
                out,
                "{:<26} {:>10} {:>24} {:>24} {:>24} {:>24}",
                "loop", "no sensor", "untracked", "tracked", "tracked + audit trail", "auditd"
            );
            for kind in Loop::ALL {
                let base = overhead
                    .baseline(kind, 1)
                    .map_or("–".into(), |spread| ns(spread.median));
                let cell = |variant| {
                    overhead
                        .cell(kind, variant)
                        .and_then(|cell| cell.ratio)
                        .map_or("–".into(), |ratio| overhead_cell(&ratio))
                };
                let _ = writeln!(
                    out,
                    "{:<26} {:>10} {:>24} {:>24} {:>24} {:>24}",
                    kind.label(),
                    base,
                    cell(Variant::Untracked),
                    cell(Variant::Tracked),
                    cell(Variant::TrackedAudit),
                    cell(Variant::Auditd)
                );
            }
            if let AuditOutcome::Unavailable(reason) = &overhead.audit {
                let _ = writeln!(out, "auditd: not measured: {reason}");
            }
        }
        Outcome::Failed(error) => {
            let _ = writeln!(out, "\nSyscall overhead: failed: {error}");
        }
        Outcome::Skipped => {}
    }
    super::report_realistic::text(&mut out, results);
    match &results.engine {
        Outcome::Measured(engine) => {
            let _ = writeln!(out, "\nEngine (one core):");
            for result in &engine.throughput {
                let _ = writeln!(
                    out,
                    "  {:<28} {:>10} events/s",
                    result.name,
                    count(result.events_per_second())
                );
            }
            let _ = writeln!(
                out,
                "  heap per tracked process {}, per session {} ({} once it writes a file)",
                bytes(engine.memory.process.bytes),
                bytes(engine.memory.session.bytes),
                bytes(engine.memory.writing_session.bytes)
            );
        }
        Outcome::Failed(error) => {
            let _ = writeln!(out, "\nEngine: failed: {error}");
        }
        Outcome::Skipped => {}
    }
    match &results.load {
        Outcome::Measured(phases) => {
            let _ = writeln!(out, "\nLoad ({} s per phase):", results.settings.load_seconds);
            for phase in phases {
                let _ = writeln!(
                    out,
                    "  {:<20} produced {} ({} /s), delivered {}, kernel drops {}; alert latency p50 {} \
                     p99 {} ({} of {} alerts); sensor CPU {:.0}%, peak RSS {}",
                    phase.label,
                    count(phase.produced as f64),
                    count(phase.produced_per_second),
                    count(phase.delivered as f64),
                    count(phase.kernel_dropped as f64),
                    ms(phase.latency_p50_ms),
                    ms(phase.latency_p99_ms),
                    phase.alerts_timed,
                    phase.triggers,
                    phase.sensor_cpu_percent,
                    bytes(phase.peak_rss_bytes as f64)
                );
            }
        }
        Outcome::Failed(error) => {
            let _ = writeln!(out, "\nLoad: failed: {error}");
        }
        Outcome::Skipped => {}
    }
    let _ = writeln!(out, "\nTargets:");
    for target in targets(results) {
        let _ = writeln!(
            out,
            "  {:<27} {:<46} {:<13} {} ({})",
            target.name,
            target.goal,
            status(target.met).trim_matches('*'),
            target.measured,
            target.note
        );
    }
    let _ = writeln!(
        out,
        "\nMeasured in {:.1} min ({:.1} min with setup and builds).",
        results.measuring.as_secs_f64() / 60.0,
        results.total.as_secs_f64() / 60.0
    );
    out
}

fn today() -> String {
    cmd::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .map(|text| text.trim().to_string())
        .unwrap_or_default()
}

/// docs/benchmarks.md.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let machine = &results.machine;
    let settings = &results.settings;
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "What the sensor costs, beside auditd, and how far it scales. This page is written by \
         `cargo xtask bench` (as root; about {:.0} minutes here, setup and builds included); \
         regenerate it rather than editing it. `cargo xtask bench --quick` is a short smoke run \
         whose report goes to `target/bench/`.\n",
        (results.total.as_secs_f64() / 60.0).ceil()
    );
    if settings.quick {
        let _ = writeln!(
            out,
            "> **Quick run**: one round, short loops and 3-second load phases. The figures show that \
             the bench works, not what the sensor costs.\n"
        );
    }
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| date | {} |", today());
    let _ = writeln!(out, "| CPU | {} ({} cores) |", machine.cpu, machine.cores);
    if let Some(hypervisor) = &machine.hypervisor {
        let _ = writeln!(out, "| virtualisation | guest of {hypervisor} |");
    }
    let _ = writeln!(out, "| memory | {:.1} GiB |", machine.memory_gib);
    let _ = writeln!(out, "| kernel | Linux {} |", machine.kernel);
    let _ = writeln!(out, "| system | {} |", machine.os);
    let _ = writeln!(out, "| code | commit {}; {} |", machine.commit, machine.rustc);
    let _ = writeln!(
        out,
        "| load average (1 min) | {:.1} at the start, {:.1} at the end |",
        results.load_average.0, results.load_average.1
    );
    let _ = writeln!(
        out,
        "| time | {:.1} min measuring, {:.1} min with setup and builds |\n",
        results.measuring.as_secs_f64() / 60.0,
        results.total.as_secs_f64() / 60.0
    );
    if results.load_average.0.max(results.load_average.1) > machine.cores as f64 * 0.5 {
        let _ = writeln!(
            out,
            "> The machine was busy with other work during this run (load average above half the \
             core count): the overhead figures are noisy, and small differences (a few percent) \
             are within that noise. Re-run on a quiet machine for figures to rely on.\n"
        );
    }

    let _ = writeln!(out, "## Where we stand\n");
    let _ = writeln!(
        out,
        "The targets of issue 12. Realistic work and micro loops: the median over rounds of \
         (variant ÷ no sensor in the same round); tracked means a `watch` session with the \
         default pack and alerts only.\n"
    );
    let _ = writeln!(
        out,
        "| target | goal | measured | status | note |\n|---|---|---|---|---|"
    );
    for target in targets(results) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            target.name,
            target.goal,
            target.measured,
            status(target.met),
            target.note
        );
    }
    let _ = writeln!(out);
    if let Some(previous) = &results.previous {
        let _ = writeln!(
            out,
            "### Before: the report this one replaced

{}, {}.

{}
",
            previous.date,
            previous.code,
            previous.table.join("\n")
        );
    }

    super::report_realistic::markdown(&mut out, results);
    overhead_section(&mut out, results);
    engine_section(&mut out, results);
    load_section(&mut out, results);
    super::report_notes::write(&mut out, results);
    out
}

fn overhead_section(out: &mut String, results: &Results) {
    let settings = &results.settings;
    let _ = writeln!(out, "## Syscall overhead\n");
    let _ = writeln!(
        out,
        "One workload program (`xtask __bench-workload`, built in release) runs four loops and \
         times each itself, so starting or stopping a sensor is never part of a figure:\n\n\
         - **open/close**: `openat` + `close` of an existing file;\n\
         - **fork+exec**: spawn `/bin/true` and wait for it (`clone` + `execve` + `wait4`; the \
         child's own start-up opens count too);\n\
         - **connect/close**: TCP `connect` to the workload's own listener on 127.0.0.1, `accept`, \
         and `close` of both ends (accepting in the same thread keeps the listen queue from \
         overflowing);\n\
         - **create+unlink**: `openat(O_CREAT|O_TRUNC)` + `close` + `unlink`.\n\n\
         Each loop runs a fixed number of iterations, sized by a calibration run with no sensor \
         to take about {} s, after a short warm-up. Variants:\n\n\
         - **no sensor**;\n\
         - **sensor, untracked**: the daemon (`agent-sensor run`, default rules, monitor mode) \
         with a profile that matches nothing, so the workload is not tracked; its connect \
         programs are attached to the bench's cgroup, where the workload runs, as they are \
         attached to the root cgroup when deployed;\n\
         - **sensor, tracked**: the workload is the command of `agent-sensor watch` (default \
         pack, monitor mode, alerts to `--alerts`, no audit trail);\n\
         - **tracked + audit trail**: the same, with every event also written to `--events`;\n\
         - **auditd**: Debian's auditd {} with the package's settings (`auditd.conf` as shipped, \
         `-b 8192 --backlog_wait_time 60000 -f 1` from its `audit.rules`) and one rule recording \
         what the sensor records (`-a always,exit -F arch=b64 -S {}`) for the workload's tree \
         only (`-F auid=`: the workload sets its audit login uid to a value no login uses; its \
         children inherit it).\n\n\
         Variants alternate in rotating order, {} round{}. Between loops the workload waits until \
         the collector (the sensor, or auditd and kauditd) stops using CPU, so one loop's backlog \
         does not slow the next. Enabling audit gives every process started afterwards an audit \
         context until reboot, which slows syscalls a little even with no rules; so auditd runs \
         in a second phase, after the others, alternating with its own no-sensor runs, and each \
         variant is compared with the no-sensor runs of its own phase, round by round.\n",
        settings.loop_seconds,
        match results.overhead.measured().map(|overhead| &overhead.audit) {
            Some(AuditOutcome::Measured { prepared, .. }) => prepared.version.clone(),
            _ => "3.x".into(),
        },
        super::auditd::SYSCALLS.join(" -S "),
        settings.rounds,
        if settings.rounds == 1 { "" } else { "s" }
    );
    let overhead = match &results.overhead {
        Outcome::Measured(overhead) => overhead,
        Outcome::Failed(error) => {
            let _ = writeln!(out, "**Not measured**: {error}\n");
            return;
        }
        Outcome::Skipped => {
            let _ = writeln!(out, "Not run this time.\n");
            return;
        }
    };
    let _ = writeln!(
        out,
        "Overhead against no sensor: the median over rounds of (variant ÷ no-sensor run of the \
         same round), with the smallest and largest round in brackets.\n"
    );
    let _ = writeln!(
        out,
        "| loop | iterations | no sensor | sensor, untracked | sensor, tracked | tracked + audit trail | auditd |\n|---|---|---|---|---|---|---|"
    );
    for (kind, iterations) in &overhead.iterations {
        let cell = |variant: Variant| {
            overhead
                .cell(*kind, variant)
                .and_then(|cell| {
                    let ratio = cell.ratio?;
                    Some(format!(
                        "{} ({}){}",
                        overhead_cell(&ratio),
                        ns(cell.ns_per_op.median),
                        if cell.incomplete { " †" } else { "" }
                    ))
                })
                .unwrap_or_else(|| "–".into())
        };
        let base = overhead.baseline(*kind, 1).map_or("–".into(), |spread| {
            format!("{} ({}…{})", ns(spread.median), ns(spread.min), ns(spread.max))
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            kind.label(),
            iterations,
            base,
            cell(Variant::Untracked),
            cell(Variant::Tracked),
            cell(Variant::TrackedAudit),
            cell(Variant::Auditd)
        );
    }
    let _ = writeln!(
        out,
        "\nIn brackets after each overhead: the median time per operation in that variant. \
         No sensor: the median of phase 1 (smallest…largest run)."
    );
    if overhead
        .runs
        .iter()
        .any(|run| run.loops.iter().any(|run| !run.completed))
    {
        let _ = writeln!(
            out,
            "† Some runs of this loop stopped at the time limit ({} s) before their iterations were done; \
             the figure is over the iterations that ran.",
            settings.loop_limit_seconds
        );
    }
    let _ = writeln!(
        out,
        "\nCPU time of the collector per operation, outside the workload (the sensor's process; \
         auditd plus the kauditd kernel thread), median over rounds, from /proc at clock-tick \
         resolution:\n"
    );
    let _ = writeln!(
        out,
        "| loop | sensor, untracked | sensor, tracked | tracked + audit trail | auditd |\n|---|---|---|---|---|"
    );
    for kind in Loop::ALL {
        let cell = |variant| {
            overhead
                .cell(kind, variant)
                .and_then(|cell| cell.collector_ns_per_op)
                .map_or("–".into(), ns)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            kind.label(),
            cell(Variant::Untracked),
            cell(Variant::Tracked),
            cell(Variant::TrackedAudit),
            cell(Variant::Auditd)
        );
    }
    match &overhead.attribution {
        Ok(runs) => {
            let _ = writeln!(
                out,
                "\nWhere the kernel's share goes: one more untracked and one more tracked run with \
                 `kernel.bpf_stats_enabled=1` (set back afterwards), and the run time of the \
                 sensor's kernel programs per operation (their `run_time_ns` over the loop, from \
                 /proc/PID/fdinfo, divided by the iterations; the untracked figure also counts \
                 other processes' calls during the loop, each of which leaves after one lookup). \
                 The rest of the overhead is the kernel's own price for syscall tracepoints (every \
                 syscall of every process takes the slow path while one is attached) and, when \
                 tracked, the sensor's CPU time competing with the workload.\n"
            );
            let _ = writeln!(out, "| loop | untracked | tracked |\n|---|---|---|");
            for kind in Loop::ALL {
                let cell = |variant: Variant| {
                    runs.iter()
                        .filter(|run| run.variant == variant)
                        .flat_map(|run| run.loops.iter().filter(|run| run.kind == kind))
                        .find_map(|run| run.bpf_ns_per_op)
                        .map_or("–".into(), ns)
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    kind.label(),
                    cell(Variant::Untracked),
                    cell(Variant::Tracked)
                );
            }
        }
        Err(error) => {
            let _ = writeln!(out, "\nKernel program time was not measured: {error}.");
        }
    }
    let (dropped, emitted) = overhead.tracked_drops();
    let _ = writeln!(
        out,
        "\nDuring the tracked runs the kernel wrote {emitted} events to the ring buffer and dropped \
         {dropped} (ring buffer full)."
    );
    for variant in [Variant::Untracked, Variant::Tracked, Variant::TrackedAudit] {
        let mut alerts = std::collections::BTreeMap::new();
        for run in overhead.runs.iter().filter(|run| run.variant == variant) {
            for (rule, count) in &run.alerts {
                *alerts.entry(rule.clone()).or_insert(0) += count;
            }
        }
        let _ = writeln!(
            out,
            "Alerts during the loops, {}: {}.",
            variant.label(),
            super::variants::describe_alerts(&alerts)
        );
    }
    match &overhead.audit {
        AuditOutcome::Unavailable(reason) => {
            let _ = writeln!(out, "\n**auditd was not measured**: {reason}.");
        }
        AuditOutcome::Measured {
            prepared,
            started_by_bench,
            recorded,
            expected,
        } => {
            let lost: u64 = overhead.runs.iter().filter_map(|run| run.audit_lost).sum();
            let _ = writeln!(
                out,
                "\nauditd: version {}{}{}; before the bench the kernel said `enabled {}`. Check: of {expected} \
                 opens of one file by the workload, auditd logged {recorded}. The kernel lost {lost} audit \
                 records during the auditd runs.",
                prepared.version,
                if prepared.installed_by_bench {
                    ", installed by the bench"
                } else {
                    ""
                },
                if *started_by_bench {
                    ", started by the bench and stopped after"
                } else {
                    ", already running"
                },
                prepared.status_at_start.enabled,
            );
            let phase1: Vec<String> = Loop::ALL
                .iter()
                .filter_map(|&kind| {
                    let (one, two) = (overhead.baseline(kind, 1)?, overhead.baseline(kind, 2)?);
                    Some(format!("{} {} → {}", kind.label(), ns(one.median), ns(two.median)))
                })
                .collect();
            if !phase1.is_empty() {
                let _ = writeln!(
                    out,
                    "No-sensor medians, phase 1 → phase 2 (after audit was enabled once): {}.",
                    phase1.join(", ")
                );
            }
            let _ = writeln!(out, "\n{}", super::report_notes::versus_auditd(overhead));
        }
    }
    let _ = writeln!(out);
}

fn engine_section(out: &mut String, results: &Results) {
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
    let engine: &Engine = match &results.engine {
        Outcome::Measured(engine) => engine,
        Outcome::Failed(error) => {
            let _ = writeln!(out, "**Not measured**: {error}\n");
            return;
        }
        Outcome::Skipped => {
            let _ = writeln!(out, "Not run this time.\n");
            return;
        }
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

fn load_section(out: &mut String, results: &Results) {
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
         pack alerts on (`{TIMED_RULE}`); the alert latency runs from the clock reading just \
         before that `openat` to the moment the alert line arrives on the sensor's standard \
         output (a pipe the bench reads). Produced: the workers' opens and the trigger reads; \
         delivered: events the sensor serialized and wrote (its count); drops: the kernel's \
         ring-buffer counter, which the sensor logs at exit. Sensor CPU: /proc/PID/stat of the \
         sensor, while the workload ran, and in all from the workload's start to the sensor's \
         exit (so the time to drain a backlog counts); peak RSS: VmHWM, and /proc/PID/smaps \
         sampled every 100 ms, split into the ring buffer's pages (`anon_inode:bpf-map` \
         mappings: kernel memory mapped into the sensor, its data pages twice so that records \
         can wrap) and the rest.\n",
        settings.load_seconds
    );
    let phases: &Vec<LoadPhase> = match &results.load {
        Outcome::Measured(phases) => phases,
        Outcome::Failed(error) => {
            let _ = writeln!(out, "**Not measured**: {error}\n");
            return;
        }
        Outcome::Skipped => {
            let _ = writeln!(out, "Not run this time.\n");
            return;
        }
    };
    let _ = write!(out, "| |");
    for phase in phases {
        let _ = write!(out, " {} |", phase.label);
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(phases.len()));
    let rows: [(&str, &Row); 16] = [
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
             {} resident: {} of ring buffer, {} of \
             heap, {} of binary and libraries. Run with glibc told to hand freed memory back \
             (`MALLOC_TRIM_THRESHOLD_` and `MALLOC_MMAP_THRESHOLD_` at 128 KiB) its heap is {}: \
             the difference is memory freed after start-up that the allocator keeps.",
            super::load::IDLE_AFTER_SECONDS,
            bytes(idle.default.total() as f64),
            bytes(idle.default.bpf_maps as f64),
            bytes(idle.default.anonymous as f64),
            bytes(idle.default.files as f64),
            bytes(idle.trimmed.anonymous as f64)
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
