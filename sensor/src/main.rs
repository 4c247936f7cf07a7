// The daemon's runtime paths never panic on a `None` or an error (see lib.rs).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use agent_sensor::{
    cli::{Cli, Command, ConfigCommand, OutputArgs, RulesCommand},
    commands::{config, probe, replay, rules, rules_coverage, run, session, session_exec, status, watch},
    output::OutputTarget,
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::SessionExec {
        control_fd,
        uid,
        gid,
        groups,
        command,
    } = cli.command
    {
        let code = session_exec::run(session_exec::SessionExec {
            control_fd,
            uid,
            gid,
            groups,
            command,
        });
        return exit(code);
    }
    init_logging();
    let result = match cli.command {
        Command::Watch {
            output,
            name,
            user,
            on_exit,
            command,
        } => watch::run(watch::WatchOptions {
            outputs: outputs(output),
            name,
            user,
            on_exit,
            command,
        }),
        Command::Session(command) => session::run(command),
        Command::Run { output, pids, name } => run::run(run::RunOptions {
            outputs: outputs(output),
            pids,
            name,
        })
        .map(|()| 0),
        Command::Rules(RulesCommand::Check { paths }) => Ok(rules::check(&paths)),
        Command::Rules(RulesCommand::Test { paths }) => Ok(rules::test(&paths)),
        Command::Rules(RulesCommand::Coverage { paths, format, write }) => {
            rules_coverage::coverage(&paths, format, write.as_deref())
        }
        Command::Baseline(command) => agent_sensor::commands::baseline::run(command),
        Command::Inventory(command) => agent_sensor::commands::inventory::run(command),
        Command::Replay {
            events,
            rules,
            alerts,
            config,
        } => replay::run(&events, &replay_flags(rules, config), &alerts),
        Command::Probe { config } => probe::run(config.as_deref()).map(|()| 0),
        Command::Config(ConfigCommand::Check { config: path }) => Ok(config::check(path.as_deref())),
        Command::Status {
            control_socket,
            config: path,
            json,
        } => control_socket_path(control_socket, path.as_deref()).and_then(|socket| status::run(&socket, json)),
        Command::SessionExec { .. } => Ok(0),
    };
    match result {
        Ok(code) => exit(code),
        Err(error) => {
            eprintln!("agent-sensor: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn outputs(args: OutputArgs) -> agent_sensor::commands::Outputs {
    agent_sensor::commands::Outputs {
        events: args.events.as_deref().map(OutputTarget::parse),
        alerts: args.alerts.as_deref().map(OutputTarget::parse),
        rules: args.rules,
        config: args.config,
        mode: args.mode,
        control_socket: args.control_socket,
    }
}

/// What `replay` shares with `run`: the rule packs and the configuration.
fn replay_flags(rules: Vec<std::path::PathBuf>, config: Option<std::path::PathBuf>) -> agent_sensor::commands::Outputs {
    agent_sensor::commands::Outputs {
        events: None,
        alerts: None,
        rules,
        config,
        mode: None,
        control_socket: None,
    }
}

/// `--control-socket`, or the configuration's `control.socket`.
fn control_socket_path(
    flag: Option<std::path::PathBuf>,
    config: Option<&std::path::Path>,
) -> anyhow::Result<std::path::PathBuf> {
    match flag {
        Some(path) => Ok(path),
        None => Ok(agent_sensor::config::Config::load(config)?.control.socket),
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Logs go to standard error; `RUST_LOG` sets the level (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
