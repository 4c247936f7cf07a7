use std::process::ExitCode;

use agent_sensor::{
    cli::{Cli, Command},
    commands::{run, session_exec, watch},
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
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    init_logging();
    let result = match cli.command {
        Command::Watch {
            events,
            config,
            name,
            user,
            command,
        } => watch::run(watch::WatchOptions {
            events: Some(OutputTarget::parse(&events)),
            config,
            name,
            user,
            command,
        }),
        Command::Run {
            config,
            events,
            pids,
            name,
        } => run::run(run::RunOptions {
            config,
            events: Some(OutputTarget::parse(&events)),
            pids,
            name,
        })
        .map(|()| 0),
        Command::SessionExec { .. } => Ok(0),
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(error) => {
            eprintln!("agent-sensor: {error:#}");
            ExitCode::from(1)
        }
    }
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
