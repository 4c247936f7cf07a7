//! `agent-sensor inventory`: fixture homes for every agent family drive every record and finding
//! id both ways; the command's formats, exit status, secrecy and offline behaviour; real installs;
//! and the daemon's scans (that one loads eBPF, so it needs root).

#[path = "inventory/cli.rs"]
mod cli;
#[path = "inventory/daemon.rs"]
mod daemon;
#[path = "inventory/findings.rs"]
mod findings;
#[path = "inventory/fixture.rs"]
mod fixture;
#[path = "inventory/records.rs"]
mod records;
#[path = "support/mod.rs"]
mod support;
