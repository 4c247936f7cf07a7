//! `agent-sensor baseline show|reset|export|import`: the stored baselines of agent profiles
//! (docs/baselines.md).

use std::{io::Write as _, path::PathBuf};

use anyhow::{Context, Result, bail};

use crate::{
    baseline::{Profile, Store, persist},
    cli::{BaselineCommand, BaselineFormat, StateArgs},
    config::Config,
    event::ecs::rfc3339,
};

/// Runs one `baseline` subcommand; returns the exit code.
pub fn run(command: BaselineCommand) -> Result<i32> {
    match command {
        BaselineCommand::Show { name, json, state } => show(&state_dir(&state)?, name.as_deref(), json),
        BaselineCommand::Reset { name, state } => reset(&state_dir(&state)?, &name),
        BaselineCommand::Export {
            name,
            output,
            format,
            state,
        } => export(&state_dir(&state)?, &name, output, format),
        BaselineCommand::Import { name, file, state } => {
            // The sensor trims what it loads to its caps; trim now so the file says what it will use.
            let caps = Config::load(state.config.as_deref())
                .map(|config| config.baseline.caps)
                .unwrap_or_default();
            import(&state_dir(&state)?, &name, &file, &caps)
        }
    }
}

/// `--state-dir`, else the configuration's (which honours `AGENT_SENSOR_STATE_DIR`).
fn state_dir(args: &StateArgs) -> Result<PathBuf> {
    match &args.state_dir {
        Some(dir) => Ok(dir.clone()),
        None => Ok(Config::load(args.config.as_deref())?.state_dir),
    }
}

fn read(store: &Store, name: &str) -> Result<Profile> {
    store.read(name)?.with_context(|| {
        format!(
            "there is no baseline for `{name}` in {} (agent-sensor baseline show lists them)",
            store.dir().display()
        )
    })
}

fn time(seconds: i64) -> String {
    if seconds <= 0 {
        return "never".to_string();
    }
    rfc3339(seconds as i128 * 1_000_000_000)
}

fn show(dir: &std::path::Path, name: Option<&str>, json: bool) -> Result<i32> {
    let store = Store::read_only(dir);
    let Some(name) = name else {
        let names = store.names()?;
        if names.is_empty() {
            println!("no baselines in {}", store.dir().display());
            return Ok(0);
        }
        println!(
            "{:<24} {:<10} {:>8} {:>10}  last seen",
            "profile", "status", "learned", "events"
        );
        for name in names {
            match store.read(&name) {
                Ok(Some(profile)) => println!(
                    "{:<24} {:<10} {:>8} {:>10}  {}",
                    name,
                    profile.status.as_str(),
                    profile.sessions_learned,
                    profile.events_learned,
                    time(profile.last_seen)
                ),
                Ok(None) => {}
                Err(error) => println!("{name:<24} unusable: {error}"),
            }
        }
        return Ok(0);
    };
    let profile = read(&store, name)?;
    if json {
        std::io::stdout().write_all(&persist::encode_json(&profile)?)?;
        return Ok(0);
    }
    print!("{}", summary(&profile, &store.path_of(name)));
    Ok(0)
}

/// A readable summary of a profile.
pub fn summary(profile: &Profile, path: &std::path::Path) -> String {
    let mut out = String::new();
    let status = match profile.enforcing_since {
        Some(since) => format!("{} since {}", profile.status.as_str(), time(since)),
        None => profile.status.as_str().to_string(),
    };
    out.push_str(&format!("{}: {status}\n", profile.name));
    out.push_str(&format!("  file:      {}\n", path.display()));
    out.push_str(&format!(
        "  learned:   {} events in {} sessions; {} sessions ended, {} seen; first seen {}, last seen {}\n",
        profile.events_learned,
        profile.sessions_learned,
        profile.sessions_ended,
        profile.sessions_seen,
        time(profile.first_seen),
        time(profile.last_seen)
    ));
    for (label, set) in profile.sets() {
        let evicted = if set.evicted() > 0 {
            format!(", {} forgotten at the cap", set.evicted())
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {label:<13} {} known from {} observations{evicted}\n",
            set.len(),
            set.observations()
        ));
        for (value, seen) in set.top(5) {
            out.push_str(&format!("      {:>7}×  {value}\n", seen.count));
        }
    }
    out.push_str("  rates per active minute (mean ± spread, minutes learned):\n");
    for action in crate::event::Action::ALL {
        let rate = profile.rates.get(action);
        if rate.minutes > 0 {
            out.push_str(&format!(
                "      {:<8} {:.1} ± {:.1} ({})\n",
                action.as_str(),
                rate.mean,
                rate.stddev(),
                rate.minutes
            ));
        }
    }
    out
}

fn reset(dir: &std::path::Path, name: &str) -> Result<i32> {
    let store = Store::open(dir, true)?;
    if !store.remove(name)? {
        bail!("there is no baseline for `{name}` in {}", store.dir().display());
    }
    println!("reset the baseline of {name}: it learns afresh from its next session");
    Ok(0)
}

fn export(dir: &std::path::Path, name: &str, output: Option<PathBuf>, format: BaselineFormat) -> Result<i32> {
    let profile = read(&Store::read_only(dir), name)?;
    let bytes = match format {
        BaselineFormat::Json => persist::encode_json(&profile)?,
        BaselineFormat::Rmp => persist::encode(&profile)?,
    };
    match output {
        Some(path) => {
            persist::write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported the baseline of {name} to {}", path.display());
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .context("writing to standard output")?,
    }
    Ok(0)
}

fn import(
    dir: &std::path::Path,
    name: &str,
    file: &std::path::Path,
    caps: &crate::config::baseline::CapsConfig,
) -> Result<i32> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut profile =
        persist::decode_any(&bytes).with_context(|| format!("{} is not a usable baseline", file.display()))?;
    profile.name = name.to_string();
    profile.sanitize(caps);
    let store = Store::open(dir, true)?;
    store.save(&profile)?;
    println!(
        "imported the baseline of {name} ({}, {} events learned) into {}",
        profile.status.as_str(),
        profile.events_learned,
        store.path_of(name).display()
    );
    Ok(0)
}
