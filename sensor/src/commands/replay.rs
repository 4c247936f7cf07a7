//! `agent-sensor replay`: recorded events through rule packs, offline.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};

use crate::{
    event::from_json::event_from_json,
    output::{JsonLines, OutputTarget},
    rules::{Engine, loader},
};

/// Returns the exit code: 0, or 1 when some lines were not events.
pub fn run(events: &Path, rules: &[PathBuf], alerts: &str) -> Result<i32> {
    let set = loader::load(rules).map_err(|problems| anyhow::anyhow!("the rule packs have problems:\n{problems}"))?;
    let mut engine = Engine::new(Arc::new(set));
    let mut out = JsonLines::open(OutputTarget::parse(alerts))?;
    let file = std::fs::File::open(events).with_context(|| format!("cannot open {}", events.display()))?;
    let mut bad_lines = 0u64;
    let mut count = 0u64;
    let mut raised = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", events.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(&line)
            .map_err(|error| error.to_string())
            .and_then(|doc| event_from_json(&doc).map_err(|error| error.to_string()));
        match parsed {
            Ok(event) => {
                count += 1;
                engine.process(&event, &mut raised);
                for alert in raised.drain(..) {
                    out.write_line(&alert.to_json())?;
                }
            }
            Err(error) => {
                bad_lines += 1;
                eprintln!("{}:{}: not an event: {error}", events.display(), index + 1);
            }
        }
    }
    out.flush()?;
    eprintln!(
        "replayed {count} events through {} rules: {} alerts{}",
        engine.rules().rules.len(),
        engine.alert_count(),
        if bad_lines > 0 {
            format!(", {bad_lines} lines skipped")
        } else {
            String::new()
        }
    );
    Ok(if bad_lines > 0 { 1 } else { 0 })
}
