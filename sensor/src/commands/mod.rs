//! The subcommands of `agent-sensor`.

pub mod baseline;
pub mod config;
pub mod health;
pub mod inventory;
pub mod probe;
pub mod replay;
pub mod rules;
pub mod rules_coverage;
pub mod run;
pub mod session;
pub mod session_exec;
mod startup;
mod startup_memory;
pub mod status;
pub mod watch;

use std::{path::PathBuf, sync::Arc};

use anyhow::Result;

use crate::{
    config::Config,
    config::dns::DnsConfig,
    enforce::{Mode, egress::EgressPlan},
    geo::Network,
    output::{self, OutputTarget},
    rules::{Engine, RuleSet, loader},
};

/// Where `watch` and `run` write, which rules they apply, and their configuration file.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// `--events`: the event audit trail to a file or stdout, when asked for.
    pub events: Option<OutputTarget>,
    /// `--alerts`; without it alerts go to stdout unless a configured output takes them.
    pub alerts: Option<OutputTarget>,
    /// Rule pack files or directories; empty means the shipped packs.
    pub rules: Vec<PathBuf>,
    pub config: Option<PathBuf>,
    /// `--control-socket`, overriding the configuration's `control.socket`.
    pub control_socket: Option<PathBuf>,
    /// `--mode`, overriding the configuration's.
    pub mode: Option<Mode>,
}

impl Outputs {
    /// `--rules` when given, else the configuration's `rules`; empty means the shipped packs.
    pub fn rule_paths(&self, config: &Config) -> Vec<PathBuf> {
        if self.rules.is_empty() {
            config.rules.clone()
        } else {
            self.rules.clone()
        }
    }

    /// Loads the rules and opens the outputs (the configuration's and the flags'), failing with
    /// every rule problem listed.
    pub fn open(&self, config: &Config) -> Result<(Engine, output::Outputs)> {
        let rules = load_rules(&self.rule_paths(config), config.sigma_pack, &config.dns)?;
        tracing::info!(
            rules = rules.rules.len(),
            disabled = rules.disabled,
            packs = rules.files.len(),
            "rules loaded"
        );
        let configs = output::config::with_flags(&config.outputs, self.events.as_ref(), self.alerts.as_ref())
            .map_err(anyhow::Error::msg)?;
        let outputs = output::Outputs::open(&configs, &config.state_dir)?;
        tracing::info!("outputs:\n  {}", outputs.describe().join("\n  "));
        Ok((Engine::new(Arc::new(rules)), outputs))
    }
}

/// The configuration's egress allowlist compiled for the kernel (`None` without one).
pub fn egress_plan(config: &Config, network: &Network) -> Result<Option<EgressPlan>> {
    let plan = EgressPlan::from_config(config, network.countries())
        .map_err(|error| anyhow::anyhow!("compiling the egress allowlist for the kernel: {error}"))?;
    if let Some(plan) = &plan {
        tracing::info!(
            port_groups = plan.groups.len(),
            networks = plan.networks(),
            "egress allowlist compiled for the kernel"
        );
    }
    Ok(plan)
}

/// Loads rule packs (and the shipped Sigma pack when `sigma_pack`), with every problem in the
/// error; logs the Sigma rules left out. When the packs define the `system_resolvers` list, the
/// system's resolvers (`dns`) are appended to it by one more pack, loaded last.
pub fn load_rules(paths: &[PathBuf], sigma_pack: bool, dns: &DnsConfig) -> Result<RuleSet> {
    let extra = |sources: &[(String, String)]| {
        resolvers_pack(sources, dns)
            .map(|pack| ("system resolvers (dns.resolv_conf, dns.resolvers)".to_string(), pack))
            .into_iter()
            .collect()
    };
    let set = loader::load_with_extra(paths, sigma_pack, extra)
        .map_err(|problems| anyhow::anyhow!("the rule packs have problems:\n{problems}"))?;
    for skipped in &set.skipped {
        tracing::warn!("Sigma rule not loaded: {skipped}");
    }
    Ok(set)
}

/// The pack that appends the system's resolvers to `system_resolvers`, when a pack defines it.
fn resolvers_pack(sources: &[(String, String)], dns: &DnsConfig) -> Option<String> {
    let defined = sources.iter().any(|(origin, text)| {
        crate::rules::pack::parse_pack(origin, text)
            .0
            .is_some_and(|pack| pack.lists.iter().any(|(key, _)| key.name == "system_resolvers"))
    });
    let resolvers = dns.system_resolvers();
    if !defined || resolvers.is_empty() {
        return None;
    }
    let items: Vec<String> = resolvers.iter().map(|net| format!("'{net}'")).collect();
    tracing::info!(resolvers = %items.join(", "), "system DNS resolvers");
    Some(format!(
        "ruleset: system-resolvers\noverrides:\n  lists:\n    system_resolvers: {{append: [{}]}}\n",
        items.join(", ")
    ))
}
