//! Inside a lab guest (`xtask __bench-lab-guest`, run by its `/init`): the micro loops and the
//! realistic work that need no compiler, in the sensor's variants, with each figure printed on
//! the console as one JSON line after [`LINE_PREFIX`].

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};

use super::{super::*, LINE_PREFIX};
use crate::bench::{
    realistic::{Piece, Plan, Scale, Sources},
    stats::Spread,
    variants::{SENSOR_VARIANTS, Variant},
    workload::Loop,
};

#[derive(Debug, Args)]
pub struct GuestArgs {
    /// The capture backend measured (a name of the BACKENDS table), reported with each line.
    #[arg(long)]
    backend: String,
    /// Short runs: one round, small pieces.
    #[arg(long)]
    quick: bool,
}

/// Prints one figure line on the console.
fn emit(value: Value) {
    println!("{LINE_PREFIX}{value}");
}

fn spread(spread: Option<Spread>) -> Value {
    spread.map_or(
        Value::Null,
        |spread| json!({"median": spread.median, "min": spread.min, "max": spread.max, "count": spread.count}),
    )
}

pub fn run(args: GuestArgs) -> Result<()> {
    let release = crate::cmd::output(std::process::Command::new("uname").arg("-r"))
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    let mut settings = Settings::new(args.quick);
    // Four variants: four rounds put each in each slot once.
    settings.rounds = if args.quick { 1 } else { 4 };
    let env = env::Env::create()?;
    let line = |section: &str, work: &str, variant: Variant, base: Value, ratio: Value| {
        emit(json!({
            "release": release,
            "backend": args.backend,
            "section": section,
            "work": work,
            "variant": variant.key(),
            "base": base,
            "ratio": ratio,
        }));
    };

    eprintln!("bench-lab: micro loops");
    match overhead::measure_sensor_variants(&env, &settings) {
        Ok(overhead) => {
            for kind in Loop::ALL {
                let base = overhead.baseline(kind, 1).map(|spread| spread.median);
                for variant in SENSOR_VARIANTS.into_iter().filter(|variant| *variant != Variant::None) {
                    let ratio = overhead.cell(kind, variant).and_then(|cell| cell.ratio);
                    line("micro", kind.name(), variant, json!(base), spread(ratio));
                }
            }
        }
        Err(error) => emit(json!({"release": release, "backend": args.backend, "section": "micro",
                                  "error": format!("{error:#}")})),
    }

    eprintln!("bench-lab: realistic work");
    let has_git = crate::cmd::output(std::process::Command::new("git").arg("--version")).is_some();
    let plan = Plan {
        pieces: Piece::ALL
            .into_iter()
            .filter(|piece| !piece.needs_compiler() && (*piece != Piece::Git || has_git))
            .collect(),
        scale: if args.quick { Scale::small() } else { lab_scale() },
        sources: Sources {
            tree: python_stdlib().context("finding the Python standard library")?,
            checkout: crate::cmd::workspace(),
            python: realistic::pieces::python(),
        },
        rounds: settings.rounds,
        pause_ms: settings.realistic_pause_ms,
    };
    match realistic::measure(&env, &plan, &env::target_dir().join("bench")) {
        Ok(realistic) => {
            for piece in realistic.pieces() {
                let base = realistic.cell(piece, Variant::None).map(|cell| cell.seconds.median);
                for variant in SENSOR_VARIANTS.into_iter().filter(|variant| *variant != Variant::None) {
                    let ratio = realistic.cell(piece, variant).and_then(|cell| cell.ratio);
                    line("realistic", piece.name(), variant, json!(base), spread(ratio));
                }
            }
            for variant in SENSOR_VARIANTS {
                emit(json!({"release": release, "backend": args.backend, "section": "alerts",
                            "variant": variant.key(), "alerts": realistic.alerts(variant)}));
            }
        }
        Err(error) => emit(
            json!({"release": release, "backend": args.backend, "section": "realistic",
                                  "error": format!("{error:#}")}),
        ),
    }
    emit(json!({"release": release, "backend": args.backend, "section": "done"}));
    Ok(())
}

/// Smaller than the host's: the guest runs under emulation, several times slower.
fn lab_scale() -> Scale {
    Scale {
        python_modules: 4,
        python_tests_per_module: 100,
        git_seconds: 0.5,
        copies: 2,
        processes: 200,
        ..Scale::small()
    }
}

/// `/usr/lib/python3.X` of the guest's python3 (what the initramfs carries).
fn python_stdlib() -> Option<PathBuf> {
    let real = std::fs::canonicalize(realistic::pieces::python()).ok()?;
    let name = real.file_name()?.to_str()?.to_string();
    let dir = PathBuf::from("/usr/lib").join(name);
    dir.is_dir().then_some(dir)
}
