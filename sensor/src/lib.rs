//! Agent Sensor: eBPF runtime detection and enforcement for AI agents.
//!
//! The modules follow the flow of an event:
//! - [`capture`]: check the machine, load and attach the kernel programs, track sessions in the
//!   kernel, read the ring buffer;
//! - [`decode`]: ring-buffer records to checked Rust values;
//! - [`process`]: the process table, sessions, cgroups, path resolution;
//! - [`event`]: enriched events and their ECS JSON form;
//! - [`rules`]: YAML rule packs compiled into an engine that turns events into alerts;
//! - [`geo`]: where connections go (scope, country, egress allowlist);
//! - [`baseline`]: what each agent profile usually does, and alerts when it does something new;
//! - [`inventory`]: offline inventory of agents, skills, MCP servers and risky settings;
//! - [`enforce`]: kernel rules compiled into the kernel's policy maps, verdicts into alerts, kills;
//! - [`output`]: where events and alerts go;
//! - [`telemetry`]: metrics and the sensor's own alerts (event loss); [`control`]: the daemon's
//!   control socket (`status`, `watch` registration);
//! - [`pipeline`]: the loop that joins them; [`commands`] and [`cli`]: the user's entry points;
//! - [`yaml`]: reading YAML files (configuration, profiles, inventory signatures) with errors that
//!   name the file, line and column.

// The daemon's runtime paths never panic on a `None` or an error: they report and go on (tests
// may). `unwrap_used` and `undocumented_unsafe_blocks` come from the workspace lints; the library
// refuses `expect` too.
#![cfg_attr(not(test), deny(clippy::expect_used))]

pub mod baseline;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod decode;
pub mod enforce;
pub mod event;
pub mod geo;
pub mod inventory;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod profiles;
pub mod random;
pub mod rules;
pub mod telemetry;
pub mod yaml;
