//! The overhead section of docs/benchmarks.md: each micro loop and realistic workload with and
//! without the sensor (and auditd), paired by round.

use std::fmt::Write as _;

use super::{
    Results,
    overhead::AuditOutcome,
    report::{ns, overhead_cell},
    variants::Variant,
    workload::Loop,
};

pub(super) fn markdown(out: &mut String, results: &Results) {
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
    let Some(overhead) = results.overhead.measured_or_say_why(out) else {
        return;
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
