//! The results as a table on the terminal and as docs/benchmarks.md.

use std::{fmt::Write as _, process::Command};

use super::{
    Outcome, Results,
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
pub(super) fn overhead_cell(spread: &Spread) -> String {
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

pub(super) fn ms(value: Option<f64>) -> String {
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
    super::report_overhead::markdown(&mut out, results);
    super::report_engine::engine_markdown(&mut out, results);
    super::report_engine::load_markdown(&mut out, results);
    super::report_notes::write(&mut out, results);
    out
}
