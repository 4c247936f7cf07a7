//! Realistic work: builds, a test suite, git, copying, reading and many short-lived processes,
//! each piece timed from spawn to exit, in every sensor variant, round after round in rotating
//! order after a warm-up with no sensor. Overhead is the median over rounds of (variant ÷ no
//! sensor in the same round), with the smallest and largest round.
//!
//! - `generate`: the sources built and tested; `pieces`: the pieces' scripts;
//! - `scratch`: the tmpfs they work in; `runner`: the workload side (`__bench-workload realistic`).

pub mod generate;
pub mod pieces;
pub mod runner;
pub mod scratch;

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use anyhow::Result;

use super::{
    env::Env,
    stats::Spread,
    variants::{self, SENSOR_VARIANTS, Variant},
};
pub use pieces::{Piece, Prepared, Scale, Sources};

/// How the realistic section runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pieces: Vec<Piece>,
    pub scale: Scale,
    pub sources: Sources,
    pub rounds: usize,
    pub pause_ms: u64,
}

/// One workload run: every piece once, in one variant.
#[derive(Clone, Debug)]
pub struct RealisticRun {
    pub round: usize,
    pub variant: Variant,
    pub seconds: BTreeMap<String, f64>,
    pub alerts: BTreeMap<String, u64>,
}

pub struct Realistic {
    pub prepared: Vec<Prepared>,
    pub rounds: usize,
    pub pause_ms: u64,
    pub runs: Vec<RealisticRun>,
}

/// One piece in one variant.
pub struct Cell {
    pub seconds: Spread,
    /// Paired with the no-sensor run of the same round: variant / none.
    pub ratio: Option<Spread>,
}

impl Realistic {
    pub fn cell(&self, piece: Piece, variant: Variant) -> Option<Cell> {
        let seconds_of = |run: &RealisticRun| run.seconds.get(piece.name()).copied();
        let runs: Vec<&RealisticRun> = self.runs.iter().filter(|run| run.variant == variant).collect();
        let seconds = Spread::of(&runs.iter().filter_map(|run| seconds_of(run)).collect::<Vec<_>>())?;
        let ratios: Vec<f64> = runs
            .iter()
            .filter_map(|run| {
                let base = self
                    .runs
                    .iter()
                    .find(|other| other.variant == Variant::None && other.round == run.round)?;
                Some(seconds_of(run)? / seconds_of(base)?)
            })
            .collect();
        Some(Cell {
            seconds,
            ratio: if variant == Variant::None {
                None
            } else {
                Spread::of(&ratios)
            },
        })
    }

    /// The median overhead of `variant` on `piece` (variant ÷ no sensor).
    pub fn ratio(&self, piece: Piece, variant: Variant) -> Option<f64> {
        self.cell(piece, variant)?.ratio.map(|ratio| ratio.median)
    }

    pub fn pieces(&self) -> impl Iterator<Item = Piece> + '_ {
        self.prepared.iter().map(|prepared| prepared.piece)
    }

    /// Alerts over all runs of `variant`, by rule.
    pub fn alerts(&self, variant: Variant) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for run in self.runs.iter().filter(|run| run.variant == variant) {
            for (rule, count) in &run.alerts {
                *total.entry(rule.clone()).or_insert(0) += count;
            }
        }
        total
    }
}

/// Mounts the scratch tmpfs under `scratch_parent`, prepares the pieces, runs the warm-up and the
/// rounds, and unmounts.
pub fn measure(env: &Env, plan: &Plan, scratch_parent: &Path) -> Result<Realistic> {
    let scratch = scratch::Scratch::mount(scratch_parent)?;
    let prepared = pieces::prepare(scratch.path(), &plan.sources, &plan.scale, &plan.pieces)?;
    for piece in &prepared {
        eprintln!("bench: realistic {}: {}", piece.piece.name(), piece.detail);
    }
    let run = |label: &str, variant: Variant, round: usize| -> Result<RealisticRun> {
        eprintln!("bench: realistic {label} {}", variant.label());
        let out = env.root.join(format!("realistic-{}.json", variant.key()));
        let mut command = Command::new(&env.workload);
        command
            .args(["__bench-workload", "realistic", "--dir"])
            .arg(scratch.path())
            .arg("--out")
            .arg(&out)
            .args(["--pause-ms", &plan.pause_ms.to_string()])
            .current_dir(scratch.path())
            .env("HOME", &env.home);
        for piece in &plan.pieces {
            command.args(["--piece", piece.name()]);
        }
        let launched = variants::launch(env, variant, command, "realistic", Duration::from_secs(1800))?;
        let seconds: BTreeMap<String, f64> = runner::read(&out)?.into_iter().collect();
        eprintln!(
            "bench:   {}; {}",
            plan.pieces
                .iter()
                .filter_map(|piece| Some(format!("{} {:.2} s", piece.name(), seconds.get(piece.name())?)))
                .collect::<Vec<_>>()
                .join(", "),
            launched.describe_alerts()
        );
        Ok(RealisticRun {
            round,
            variant,
            seconds,
            alerts: launched.alerts,
        })
    };
    // The warm-up fills caches (the page cache, Python's bytecode) and is not counted.
    run("warm-up", Variant::None, usize::MAX)?;
    let mut runs = Vec::new();
    for round in 0..plan.rounds {
        for variant in variants::rotation(&SENSOR_VARIANTS, round) {
            runs.push(run(&format!("round {}", round + 1), variant, round)?);
        }
    }
    drop(scratch);
    Ok(Realistic {
        prepared,
        rounds: plan.rounds,
        pause_ms: plan.pause_ms,
        runs,
    })
}
