//! `agent-sensor config check`: validates a configuration and everything it names (profiles,
//! rule packs, outputs, geo database) without starting the sensor.

use std::path::Path;

use crate::{commands::load_rules, config::Config, output::SinkConfig};

/// Prints what the configuration sets up, or every problem; returns the exit code.
pub fn check(path: Option<&Path>) -> i32 {
    let source = match path {
        Some(path) => path.display().to_string(),
        None if Path::new(crate::config::DEFAULT_PATH).exists() => crate::config::DEFAULT_PATH.to_string(),
        None => format!(
            "no file (built-in defaults; {} does not exist)",
            crate::config::DEFAULT_PATH
        ),
    };
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let mut problems = Vec::new();
    let rules = match load_rules(&config.rules, config.sigma_pack, &config.dns) {
        Ok(rules) => Some(rules),
        Err(error) => {
            problems.push(format!("{error:#}"));
            None
        }
    };
    if let Some(listen) = config.metrics.listen
        && !listen.ip().is_loopback()
    {
        println!(
            "warning: metrics.listen {listen} is not a loopback address: anyone who reaches it can read rule and output names"
        );
    }
    if let Some(database) = &config.geo.database
        && !database.exists()
    {
        problems.push(format!("geo.database {} does not exist", database.display()));
    }
    if let Err(errors) = crate::inventory::signatures::load(&config.inventory.signatures) {
        problems.extend(errors.iter().map(ToString::to_string));
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        return 1;
    }
    println!("ok: configuration {source}");
    println!(
        "  profiles:  {} agents ({})",
        config.profiles.agents.len(),
        config
            .profiles
            .agents
            .iter()
            .map(|agent| agent.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(rules) = rules {
        let packs = if config.rules.is_empty() {
            "the shipped packs".to_string()
        } else {
            config
                .rules
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  rules:     {} enabled, {} disabled, in {} files ({packs})",
            rules.rules.len(),
            rules.disabled,
            rules.files.len()
        );
    }
    println!("  mode:      {}", config.enforcement.mode);
    println!("  state dir: {}", config.state_dir.display());
    if config.outputs.is_empty() {
        println!("  outputs:   none configured (alerts to standard output)");
    }
    for output in &config.outputs {
        println!("  output:    {} ({})", output.name, describe_sink(&output.sink));
    }
    match config.metrics.listen {
        Some(listen) => println!("  metrics:   http://{listen}/metrics"),
        None => println!("  metrics:   off"),
    }
    println!("  control:   {}", config.control.socket.display());
    0
}

fn describe_sink(sink: &SinkConfig) -> String {
    let text = format!("{sink:?}");
    // The sink's own Debug redacts secrets; keep the line short.
    text.chars().take(160).collect()
}
