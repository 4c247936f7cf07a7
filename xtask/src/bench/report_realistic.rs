//! The realistic section of the report: on the terminal and in docs/benchmarks.md.

use std::fmt::Write as _;

use super::{
    Outcome, Results,
    realistic::Realistic,
    report::percent,
    stats::Spread,
    variants::{SENSOR_VARIANTS, Variant, describe_alerts},
};

/// The sensor's variants compared with no sensor.
const COMPARED: [Variant; 3] = [Variant::Untracked, Variant::Tracked, Variant::TrackedAudit];

fn seconds(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.1} s")
    } else {
        format!("{value:.2} s")
    }
}

fn ratio_cell(spread: &Spread) -> String {
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

fn cell(realistic: &Realistic, piece: super::realistic::Piece, variant: Variant) -> String {
    realistic
        .cell(piece, variant)
        .and_then(|cell| cell.ratio)
        .map_or("–".into(), |ratio| ratio_cell(&ratio))
}

pub fn text(out: &mut String, results: &Results) {
    let realistic = match &results.realistic {
        Outcome::Measured(realistic) => realistic,
        Outcome::Failed(error) => {
            let _ = writeln!(out, "\nRealistic work: failed: {error}");
            return;
        }
        Outcome::Skipped => return,
    };
    let _ = writeln!(
        out,
        "\nRealistic work: seconds with no sensor, and each variant's overhead (median of {} paired \
         round{}, min…max)",
        realistic.rounds,
        if realistic.rounds == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>24} {:>24} {:>24}",
        "piece", "no sensor", "untracked", "tracked", "tracked + audit trail"
    );
    for piece in realistic.pieces() {
        let base = realistic
            .cell(piece, Variant::None)
            .map_or("–".into(), |cell| seconds(cell.seconds.median));
        let _ = writeln!(
            out,
            "{:<14} {:>9} {:>24} {:>24} {:>24}",
            piece.name(),
            base,
            cell(realistic, piece, Variant::Untracked),
            cell(realistic, piece, Variant::Tracked),
            cell(realistic, piece, Variant::TrackedAudit)
        );
    }
    for variant in COMPARED {
        let _ = writeln!(
            out,
            "alerts, {}: {}",
            variant.label(),
            describe_alerts(&realistic.alerts(variant))
        );
    }
}

pub fn markdown(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Realistic work\n");
    let Some(realistic) = results.realistic.measured_or_say_why(out) else {
        return;
    };
    let _ = writeln!(
        out,
        "Work of the kind an agent does, each piece a shell script (`run.sh`) timed from spawn to \
         exit by the workload (`xtask __bench-workload realistic`), after an untimed `reset.sh` \
         that puts it back where a run starts, with the same pause ({} ms, after the sensor has \
         stopped using CPU) before and after each timed run. Everything the pieces write is on a \
         tmpfs mounted under `target/bench` for the run (not under /tmp or /dev/shm, where the \
         default pack watches programs that run from freshly written files), unmounted \
         afterwards. The pieces:\n",
        realistic.pause_ms
    );
    for prepared in &realistic.prepared {
        let _ = writeln!(out, "- **{}**: {};", prepared.piece.name(), prepared.detail);
    }
    let _ = writeln!(
        out,
        "\nVariants: {}. One no-sensor warm-up run first (not counted), then {} round{} in rotating \
         order, so that each variant takes each slot of a round once over four rounds. Overhead: \
         the median over rounds of (variant ÷ no-sensor run of the same round), smallest and \
         largest round in brackets.\n",
        SENSOR_VARIANTS
            .iter()
            .map(|variant| variant.label())
            .collect::<Vec<_>>()
            .join("; "),
        realistic.rounds,
        if realistic.rounds == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "| piece | no sensor | sensor, untracked | sensor, tracked | tracked + audit trail |\n|---|---|---|---|---|"
    );
    for piece in realistic.pieces() {
        let base = realistic.cell(piece, Variant::None).map_or("–".into(), |cell| {
            format!(
                "{} ({}…{})",
                seconds(cell.seconds.median),
                seconds(cell.seconds.min),
                seconds(cell.seconds.max)
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            piece.name(),
            base,
            cell(realistic, piece, Variant::Untracked),
            cell(realistic, piece, Variant::Tracked),
            cell(realistic, piece, Variant::TrackedAudit)
        );
    }
    let _ = writeln!(
        out,
        "\nAlerts the default pack raised on this work (counted per run by rule; alerts do not fail \
         the bench, but on work like this each one is a false positive to look at):\n"
    );
    for variant in COMPARED {
        let _ = writeln!(
            out,
            "- {}: {}",
            variant.label(),
            describe_alerts(&realistic.alerts(variant))
        );
    }
    let _ = writeln!(out);
}
