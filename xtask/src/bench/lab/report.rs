//! docs/benchmarks-lab.md, and the summary on the terminal, from the guests' figure lines.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde_json::Value;

use super::Boot;
use crate::bench::{
    report::percent,
    variants::{Variant, describe_alerts},
    workload::Loop,
};

const COMPARED: [Variant; 3] = [Variant::Untracked, Variant::Tracked, Variant::TrackedAudit];

/// `+3.1% (−0.5…+6.0)` from a line's `ratio`.
fn ratio(line: &Value) -> String {
    let ratio = &line["ratio"];
    let Some(median) = ratio["median"].as_f64() else {
        return "–".into();
    };
    match (ratio["min"].as_f64(), ratio["max"].as_f64(), ratio["count"].as_u64()) {
        (Some(min), Some(max), Some(count)) if count > 1 => {
            format!("{} ({}…{})", percent(median), percent(min), percent(max))
        }
        _ => percent(median),
    }
}

fn base(line: &Value, section: &str) -> String {
    match (line["base"].as_f64(), section) {
        (Some(ns), "micro") if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        (Some(ns), "micro") if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        (Some(ns), "micro") => format!("{ns:.0} ns"),
        (Some(seconds), _) => format!("{seconds:.2} s"),
        (None, _) => "–".into(),
    }
}

fn label(section: &str, work: &str) -> String {
    match section {
        "micro" => Loop::parse(work).map_or(work.to_string(), |kind| kind.label().to_string()),
        _ => work.to_string(),
    }
}

/// Rows of one section of one boot: work → (base, variant → ratio cell).
fn rows(boot: &Boot, section: &str) -> Vec<(String, String, BTreeMap<Variant, String>)> {
    let mut rows: Vec<(String, String, BTreeMap<Variant, String>)> = Vec::new();
    for line in boot.lines.iter().filter(|line| line["section"] == section) {
        let (Some(work), Some(variant)) = (line["work"].as_str(), line["variant"].as_str().and_then(Variant::parse))
        else {
            continue;
        };
        let work = label(section, work);
        let index = match rows.iter().position(|row| row.0 == work) {
            Some(index) => index,
            None => {
                rows.push((work, base(line, section), BTreeMap::new()));
                rows.len() - 1
            }
        };
        rows[index].2.insert(variant, ratio(line));
    }
    rows
}

fn errors(boot: &Boot) -> Vec<String> {
    let mut errors: Vec<String> = boot
        .lines
        .iter()
        .filter_map(|line| Some(format!("{}: {}", line["section"].as_str()?, line["error"].as_str()?)))
        .collect();
    if let Some(error) = &boot.error {
        errors.push(format!("boot: {error}"));
    }
    errors
}

pub fn markdown(boots: &[Boot], quick: bool, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks in the kernel lab\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench --lab` (as root; {:.0} minutes this time); regenerate it \
         rather than editing it. Each Debian kernel of the lab boots under QEMU (TCG, 2 vCPUs, \
         2 GiB) with the release sensor and xtask in its initramfs, once per capture backend the \
         sensor has there. Inside the guest the bench runs the micro loops and the realistic work \
         that needs no compiler (the Python test suite, copying and reading a tree, which is the \
         guest's Python standard library instead of /usr/include, and short-lived processes; git \
         when the guest has it) with no sensor, untracked, tracked (alerts only) and tracked with \
         the audit trail, in rotating order, and prints each figure as a JSON line on the \
         console (`AGENT_SENSOR_BENCH {{…}}`; the consoles are kept under `target/bench/lab/`). \
         Under emulation absolute times are several times the host's and mean little; the \
         figures are ratios within one guest: the median over rounds of (variant ÷ no sensor in \
         the same round), smallest and largest round in brackets. See docs/benchmarks.md for \
         the host's figures and the targets.\n",
        (took.as_secs_f64() / 60.0).ceil()
    );
    if quick {
        let _ = writeln!(
            out,
            "> **Quick run**: one round, small pieces. The figures show that the lab bench works, \
             not what the sensor costs.\n"
        );
    }
    for boot in boots {
        let release = boot
            .lines
            .iter()
            .find_map(|line| line["release"].as_str())
            .unwrap_or(&boot.release);
        let _ = writeln!(out, "## Linux {} ({release}), {} capture\n", boot.version, boot.backend);
        let _ = writeln!(out, "Booted and measured in {:.0} s.\n", boot.seconds);
        for error in errors(boot) {
            // The first line says what failed; a verifier's log can be long: keep its end.
            let lines: Vec<&str> = error.lines().collect();
            let _ = writeln!(out, "**Failed**: {}\n", lines[0]);
            if lines.len() > 1 {
                let tail = &lines[lines.len().saturating_sub(12).max(1)..];
                let _ = writeln!(out, "```\n{}\n```\n", tail.join("\n"));
            }
        }
        for (section, title, base_title) in [
            ("micro", "Micro loops", "no sensor, per operation"),
            ("realistic", "Realistic work", "no sensor"),
        ] {
            let rows = rows(boot, section);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:\n");
            let _ = writeln!(
                out,
                "| work | {base_title} | sensor, untracked | sensor, tracked | tracked + audit trail |\n|---|---|---|---|---|"
            );
            for (work, base, cells) in rows {
                let cell = |variant| cells.get(&variant).cloned().unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    out,
                    "| {work} | {base} | {} | {} | {} |",
                    cell(Variant::Untracked),
                    cell(Variant::Tracked),
                    cell(Variant::TrackedAudit)
                );
            }
            let _ = writeln!(out);
        }
        let alerts: Vec<String> = boot
            .lines
            .iter()
            .filter(|line| line["section"] == "alerts")
            .filter_map(|line| {
                let variant = Variant::parse(line["variant"].as_str()?)?;
                if !COMPARED.contains(&variant) {
                    return None;
                }
                let counted: BTreeMap<String, u64> = line["alerts"]
                    .as_object()?
                    .iter()
                    .filter_map(|(rule, count)| Some((rule.clone(), count.as_u64()?)))
                    .collect();
                Some(format!("{}: {}", variant.label(), describe_alerts(&counted)))
            })
            .collect();
        if !alerts.is_empty() {
            let _ = writeln!(out, "Alerts on the realistic work: {}.\n", alerts.join("; "));
        }
    }
    out
}

/// A few lines for the terminal: the tracked ratios per kernel and backend.
pub fn summary(boots: &[Boot]) -> String {
    let mut out = String::from("\nKernel lab (median overhead, variant ÷ no sensor):");
    for boot in boots {
        let _ = write!(out, "\n  Linux {} {}:", boot.version, boot.backend);
        for section in ["micro", "realistic"] {
            for (work, _, cells) in rows(boot, section) {
                let _ = write!(
                    out,
                    "\n    {work:<26} untracked {:<24} tracked {:<24} + audit trail {}",
                    cells.get(&Variant::Untracked).map_or("–", String::as_str),
                    cells.get(&Variant::Tracked).map_or("–", String::as_str),
                    cells.get(&Variant::TrackedAudit).map_or("–", String::as_str)
                );
            }
        }
        for error in errors(boot) {
            let _ = write!(out, "\n    failed: {}", error.lines().next().unwrap_or_default());
        }
    }
    out
}
