//! `agent-sensor inventory`: fixture homes for every agent family drive every record and finding
//! id both ways; the command's formats, exit status, secrecy and offline behaviour; real installs.
//! No root needed: nothing here loads eBPF.

#[path = "inventory/cli.rs"]
mod cli;
#[path = "inventory/findings.rs"]
mod findings;
#[path = "inventory/fixture.rs"]
mod fixture;
#[path = "inventory/records.rs"]
mod records;
