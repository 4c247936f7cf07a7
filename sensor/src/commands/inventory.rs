//! `agent-sensor inventory scan|advisories import`: the offline inventory of AI agents, their
//! skills, MCP servers and settings, with findings (docs/inventory.md).

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
};

use anyhow::{Context, Result};

use crate::{
    cli::inventory::{AdvisoriesCommand, InventoryCommand, ScanArgs, SignaturesCommand},
    config::Config,
    event::ecs::SensorContext,
    inventory::{self, Report, ScanOptions, homes, report::Format, signatures},
    output::{self, JsonLines, OutputTarget},
};

/// Exit status when a finding reaches `--fail-on`.
pub const EXIT_FINDINGS: i32 = 3;

/// Runs one `inventory` subcommand; returns the exit code.
pub fn run(command: InventoryCommand) -> Result<i32> {
    match command {
        InventoryCommand::Scan(args) => scan(&args),
        InventoryCommand::Advisories(AdvisoriesCommand::Import { file, state }) => {
            let dir = match state.state_dir {
                Some(dir) => dir,
                None => Config::load(state.config.as_deref())?.state_dir,
            };
            let (path, count) = inventory::advisories::import(&file, &advisory_dir(&dir))
                .with_context(|| format!("cannot import {}", file.display()))?;
            println!("imported {count} advisories into {}", path.display());
            Ok(0)
        }
        InventoryCommand::Signatures(SignaturesCommand::Check { paths }) => Ok(match signatures::load(&paths) {
            Ok(loaded) => {
                println!(
                    "ok: {} phrases, {} key patterns, in {} packs",
                    loaded.phrases.len(),
                    loaded.keys.len(),
                    loaded.files.len()
                );
                0
            }
            Err(problems) => {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                1
            }
        }),
    }
}

fn advisory_dir(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("inventory").join("advisories")
}

/// What `scan` reads, from its flags.
pub fn options(args: &ScanArgs, config: &Config) -> Result<ScanOptions> {
    let mut homes_to_scan = Vec::new();
    if args.all_users {
        homes_to_scan.extend(homes::all_users());
    }
    for user in &args.users {
        homes_to_scan.push(homes::of_user(user)?);
    }
    for dir in &args.homes {
        homes_to_scan.push(homes::of_dir(dir)?);
    }
    let mut codex_home = None;
    if homes_to_scan.is_empty() {
        let home = homes::current()?;
        codex_home = std::env::var_os("CODEX_HOME").map(|dir| (home.path.clone(), PathBuf::from(dir)));
        homes_to_scan.push(home);
    }
    homes_to_scan.dedup_by(|a, b| a.path == b.path);
    let advisories = args.advisories.clone().or_else(|| {
        let dir = advisory_dir(&config.state_dir);
        dir.is_dir().then_some(dir)
    });
    Ok(ScanOptions {
        homes: homes_to_scan,
        projects: args.projects.clone(),
        system_root: args.root.clone(),
        npm_prefixes: args.prefixes.clone(),
        allow_hosts: args.allow_hosts.clone(),
        codex_home,
        advisories,
    })
}

fn scan(args: &ScanArgs) -> Result<i32> {
    let config = Config::load(args.config.as_deref())?;
    let packs: Vec<PathBuf> = config
        .inventory
        .signatures
        .iter()
        .chain(&args.signatures)
        .cloned()
        .collect();
    match signatures::load(&packs) {
        Ok(loaded) => signatures::install(loaded),
        Err(problems) => {
            let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::bail!("the signature packs have problems:\n{}", shown.join("\n"));
        }
    }
    let options = options(args, &config)?;
    let show_progress = std::io::stderr().is_terminal();
    let mut progress = |place: &str| {
        if show_progress {
            let short: String = place.chars().take(70).collect();
            eprint!("\r\x1b[Kscanning {short}…");
        }
    };
    let report = inventory::scan(&options, &mut progress);
    if show_progress {
        eprint!("\r\x1b[K");
    }
    for problem in &report.problems {
        tracing::debug!("not read: {problem}");
    }
    let target = OutputTarget::parse(&args.output);
    let format = args
        .format
        .unwrap_or(if target == OutputTarget::Stdout && std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        });
    write(&report, format, target)?;
    if args.send {
        send(&report, &config)?;
    }
    let failed = args
        .fail_on
        .is_some_and(|threshold| report.worst().is_some_and(|worst| worst >= threshold));
    Ok(if failed { EXIT_FINDINGS } else { 0 })
}

fn write(report: &Report, format: Format, target: OutputTarget) -> Result<()> {
    let mut out = JsonLines::open(target)?;
    match format {
        Format::Jsonl => {
            for (_, line) in inventory::report::ecs::documents(report, &SensorContext::current()) {
                out.write_line(&line)?;
            }
        }
        Format::Json => out.write_line(&serde_json::to_vec_pretty(report)?)?,
        Format::Sarif => out.write_line(&serde_json::to_vec_pretty(&inventory::report::sarif::render(report))?)?,
        Format::Table => {
            let text = inventory::report::table::render(report);
            out.write_line(text.trim_end().as_bytes())?;
        }
    }
    out.flush()?;
    std::io::stdout().flush()?;
    Ok(())
}

/// Through the configuration's outputs: records where events go, findings where alerts of their
/// severity go.
fn send(report: &Report, config: &Config) -> Result<()> {
    let mut outputs = output::Outputs::open(&config.outputs, &config.state_dir)?;
    let mut failed = 0;
    for (severity, line) in inventory::report::ecs::documents(report, &SensorContext::current()) {
        let delivery = match severity {
            Some(severity) => outputs.write_alert(&line, severity),
            None => outputs.write_event(&line),
        };
        failed += delivery.failed;
    }
    outputs.close();
    if failed > 0 {
        tracing::warn!(failed, "some inventory lines could not be taken by the outputs");
    }
    Ok(())
}
