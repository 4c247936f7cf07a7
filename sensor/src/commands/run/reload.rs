//! SIGHUP: the daemon reads its configuration and rule packs again. Everything is checked before
//! anything changes: a broken file is reported (with its path and line) and the running
//! configuration and rules stay.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};

use crate::{
    capture::Capture,
    commands::health::Health,
    commands::{Outputs as Flags, egress_plan, load_rules},
    config::Config,
    output::{self, Outputs},
    pipeline::Pipeline,
    telemetry::metrics::ReasonLabels,
};

/// What a reload may change besides the pipeline.
pub struct Reload<'a> {
    pub pipeline: &'a mut Pipeline,
    pub capture: &'a mut Capture,
    pub config: &'a mut Config,
    pub flags: &'a Flags,
    pub health: &'a mut Health,
}

impl Reload<'_> {
    /// Reloads; logs and counts the result.
    pub fn run(mut self) {
        let result = self.apply();
        let outcome = if result.is_ok() { "applied" } else { "rejected" };
        if let Some(metrics) = &self.pipeline.metrics {
            metrics
                .reloads
                .get_or_create(&ReasonLabels { reason: outcome.into() })
                .inc();
        }
        if let Err(error) = result {
            tracing::error!("reload rejected; the previous configuration and rules stay active: {error:#}");
        }
    }

    fn apply(&mut self) -> Result<()> {
        let next = Config::load(self.flags.config.as_deref()).context("reading the configuration")?;
        let rules = Arc::new(load_rules(&self.flags.rule_paths(&next), next.sigma_pack, &next.dns)?);
        let output_configs =
            output::config::with_flags(&next.outputs, self.flags.events.as_ref(), self.flags.alerts.as_ref())
                .map_err(|problem| anyhow!(problem))?;
        let mode = self.flags.mode.unwrap_or(next.enforcement.mode);
        let geography = crate::geo::Network::from_config(&next).context("loading the geo database")?;
        let egress = egress_plan(&next, &geography)?;
        let network = (next.geo != self.config.geo || next.egress != self.config.egress).then_some(geography);

        // Checked: now apply, the kernel policy first (it can still refuse the rules).
        if let Some(enforcer) = self.pipeline.enforcer.as_mut() {
            enforcer
                .replace_rules(rules.clone(), egress)
                .context("the new rules cannot be enforced")?;
            if enforcer.mode() != mode {
                enforcer.set_mode(mode).context("switching the enforcement mode")?;
                tracing::info!(%mode, "enforcement mode changed");
            }
        }
        if let Some(engine) = self.pipeline.engine.as_mut() {
            engine.replace_rules(rules.clone());
            if let Some(enforcer) = self.pipeline.enforcer.as_ref() {
                engine.skip_rules(enforcer.skipped_rules());
            }
        }
        tracing::info!(rules = rules.rules.len(), packs = rules.files.len(), "rules reloaded");
        if next.profiles != self.config.profiles {
            self.replace_profiles(&next);
        }
        if let Some(network) = network {
            self.pipeline.enricher.set_network(Arc::new(network));
            tracing::info!("geo database and egress allowlist reloaded");
        }
        if next.handoff != self.config.handoff {
            self.pipeline.enricher.set_handoff(&next.handoff);
            if let Err(error) = self.capture.set_spawner_programs(&next.handoff.spawner_programs) {
                tracing::error!(%error, "cannot load the spawner programs into the kernel");
            }
            tracing::info!("spawner lists reloaded");
        }
        if next.outputs != self.config.outputs {
            self.replace_outputs(&output_configs, &next)?;
        }
        self.health.set_policy(&next.loss_alert);
        self.pipeline.folder.reconfigure(next.alerts.fold.clone());
        warn_about_restart(self.config, &next);
        *self.config = next;
        Ok(())
    }

    /// New agent profiles: the kernel matches execs against the new names from now on.
    fn replace_profiles(&mut self, next: &Config) {
        let old: Vec<u64> = self.capture.exec_names.keys().filter_map(Result::ok).collect();
        for key in old {
            let _ = self.capture.exec_names.remove(&key);
        }
        for (hash, entry) in next.profiles.kernel_entries() {
            if let Err(error) = self.capture.exec_names.insert(hash, entry, 0) {
                tracing::error!(%error, "cannot load an agent profile into the kernel");
            }
        }
        self.pipeline.enricher.set_profile_names(next.profiles.names());
        tracing::info!(profiles = next.profiles.agents.len(), "agent profiles reloaded");
    }

    /// New outputs: the old ones deliver what they hold and close, then the new ones open (an
    /// HTTP output's spool is handed over through its directory). If the new ones cannot open,
    /// the old configuration opens again.
    fn replace_outputs(&mut self, configs: &[output::OutputConfig], next: &Config) -> Result<()> {
        self.pipeline.close_outputs();
        match Outputs::open(configs, &next.state_dir) {
            Ok(outputs) => {
                tracing::info!("outputs reloaded:\n  {}", outputs.describe().join("\n  "));
                self.pipeline.outputs = outputs;
                Ok(())
            }
            Err(error) => {
                let previous = output::config::with_flags(
                    &self.config.outputs,
                    self.flags.events.as_ref(),
                    self.flags.alerts.as_ref(),
                )
                .map_err(|problem| anyhow!(problem))?;
                self.pipeline.outputs = Outputs::open(&previous, &self.config.state_dir)
                    .context("reopening the previous outputs after the new ones failed")?;
                Err(anyhow!(error).context("opening the new outputs (the previous outputs are open again)"))
            }
        }
    }
}

/// Settings only a restart applies.
fn warn_about_restart(current: &Config, next: &Config) {
    let changed = [
        ("capture", current.capture != next.capture),
        ("enforcement.lsm", current.enforcement.lsm != next.enforcement.lsm),
        (
            "enforcement.cgroup",
            current.enforcement.cgroup != next.enforcement.cgroup,
        ),
        ("metrics", current.metrics != next.metrics),
        ("control", current.control != next.control),
        ("state_dir", current.state_dir != next.state_dir),
        ("baseline", current.baseline != next.baseline),
    ];
    for (setting, _) in changed.iter().filter(|(_, changed)| *changed) {
        tracing::warn!(
            setting,
            "this setting changed; it takes effect when the daemon restarts"
        );
    }
}
