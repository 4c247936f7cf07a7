//! `agent-sensor replay`: recorded events through the rules, offline, along the live path: the
//! same configuration (`--config`, else the one `run` reads), the same rule loading (Sigma pack
//! and system resolvers included) and the same pipeline (alert folding and numbering), so a
//! recording replays to the alerts the live run wrote. Left out: the enforcer (nothing is
//! enforced, so alerts carry no response) and the baselines (they would learn from the
//! recording and change the saved state).

use std::{
    io::{BufRead, BufReader},
    path::Path,
};

use anyhow::{Context, Result, bail};

use super::{Outputs as Flags, startup};
use crate::{
    config::Config,
    event::{Enricher, ecs::SensorContext, from_json::event_from_json},
    output::{self, OutputTarget},
    process::{ProcessTable, Procfs, cgroup::CgroupNames},
    rules::Engine,
};

/// Returns the exit code: 0, or 1 when some lines were not events.
pub fn run(events: &Path, flags: &Flags, alerts: &str) -> Result<i32> {
    let config = Config::load(flags.config.as_deref())?;
    let rules = super::load_rules(&flags.rule_paths(&config), config.sigma_pack, &config.dns)?;
    let rule_count = rules.rules.len();
    let engine = Engine::new(std::sync::Arc::new(rules));
    // Only the `--alerts` target: a replay does not send to the configuration's outputs.
    let targets = output::config::with_flags(&[], None, Some(&OutputTarget::parse(alerts)))?;
    let outputs = output::Outputs::open(&targets, &config.state_dir)?;
    let enricher = Enricher::new(
        ProcessTable::on_demand(Procfs::default()),
        CgroupNames::new(None),
        Vec::new(),
        SensorContext::current(),
    );
    let mut pipeline = startup::pipeline(enricher, engine, outputs, None, &config, false);

    let file = std::fs::File::open(events).with_context(|| format!("cannot open {}", events.display()))?;
    let mut bad_lines = 0u64;
    let mut count = 0u64;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", events.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(&line)
            .map_err(|error| error.to_string())
            .and_then(|doc| event_from_json(&doc).map_err(|error| error.to_string()));
        match parsed {
            Ok(mut event) => {
                count += 1;
                pipeline.handle_event(&mut event);
            }
            Err(error) => {
                bad_lines += 1;
                eprintln!("{}:{}: not an event: {error}", events.display(), index + 1);
            }
        }
    }
    pipeline.close_outputs();
    if pipeline.stats.output_errors > 0 {
        bail!("writing the alerts to {alerts} failed (see the errors above)");
    }
    eprintln!(
        "replayed {count} events through {rule_count} rules: {} alerts{}",
        pipeline.stats.alerts,
        if bad_lines > 0 {
            format!(", {bad_lines} lines skipped")
        } else {
            String::new()
        }
    );
    Ok(if bad_lines > 0 { 1 } else { 0 })
}
