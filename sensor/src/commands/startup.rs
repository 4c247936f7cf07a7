//! The start-up and shutdown that `run` and `watch` share, in the one order both follow:
//! environment, configuration, rules and outputs ([`Prepared::load`]), the kernel programs
//! ([`Prepared::capture`]), enforcement ([`enforce`]), the pipeline ([`pipeline`]), and at the end
//! the baseline saved, the outputs closed and the counters reported ([`finish`]). What differs
//! between them (which processes are tracked, where the socket programs attach, the event loop)
//! stays in each command. `replay` builds its pipeline with [`pipeline`] too.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::{Outputs, egress_plan};
use crate::{
    capture::{Capture, CaptureOptions, KernelCounters, Rings, environment, preload::Preload},
    config::Config,
    enforce::{Enforcer, Mode},
    event::Enricher,
    geo::Network,
    output,
    pipeline::{Pipeline, PipelineStats},
    rules::Engine,
};

/// What the sensor has before it touches the kernel: checked before anything is loaded, so a
/// bad configuration or rule pack fails with its own error and loads no program.
pub struct Prepared {
    pub config: Config,
    pub network: Arc<Network>,
    pub mode: Mode,
    pub engine: Engine,
    pub outputs: output::Outputs,
    environment: environment::Environment,
    /// Created before the rules are compiled (creating it parses the kernel's BTF, start-up's
    /// largest transient allocation); used once, by [`Prepared::capture`].
    preload: Option<Preload>,
}

impl Prepared {
    /// Checks the environment (root, tracefs), reads the configuration, loads the rules and
    /// opens the outputs.
    pub fn load(flags: &Outputs) -> Result<Self> {
        super::startup_memory::bound_allocator();
        let environment = environment::check()?;
        let config = Config::load(flags.config.as_deref())?;
        let preload = Preload::before_rules();
        super::startup_memory::trim_heap();
        let network = Arc::new(Network::from_config(&config)?);
        let (engine, outputs) = flags.open(&config)?;
        let mode = flags.mode.unwrap_or(config.enforcement.mode);
        super::startup_memory::trim_heap();
        Ok(Self {
            config,
            network,
            mode,
            engine,
            outputs,
            environment,
            preload: Some(preload),
        })
    }

    /// Loads the kernel programs and takes their ring buffers. `match_profiles`: execs that match
    /// an agent profile start sessions in the kernel (the daemon).
    pub fn capture(&mut self, match_profiles: bool) -> Result<(Capture, Rings)> {
        let preload = self.preload.take().context("the kernel programs were already loaded")?;
        let mut capture = Capture::load(
            &self.environment,
            &CaptureOptions {
                ring_buffer_bytes: self.config.capture.ring_buffer_bytes,
                match_profiles,
                use_lsm: self.config.enforcement.lsm,
                ..CaptureOptions::default()
            },
            preload,
        )?;
        super::startup_memory::trim_heap();
        let rings = capture.take_rings().context("the ring buffers were already taken")?;
        capture
            .set_spawner_programs(&self.config.handoff.spawner_programs)
            .context("loading the spawner programs (handoff.spawner_programs) into the kernel")?;
        Ok((capture, rings))
    }

    /// Starts enforcement (after the socket programs are attached, so the backends it reports
    /// are the ones in place). The command hands the memory start-up used back to the system
    /// (`startup_memory::release`) once it has nothing left to set up.
    pub fn enforce(&mut self, capture: &mut Capture) -> Result<Enforcer> {
        start_enforcement(capture, &mut self.engine, &self.config, &self.network, self.mode)
    }
}

/// The pipeline of a live or replayed run: rules, outputs, alert folding from `config`, the
/// enforcer when there is one, and the baselines when `baselines` (a replay leaves them out:
/// they would learn from the recording and change the saved state).
pub fn pipeline(
    enricher: Enricher,
    engine: Engine,
    outputs: output::Outputs,
    enforcer: Option<Enforcer>,
    config: &Config,
    baselines: bool,
) -> Pipeline {
    let mut pipeline = Pipeline::new(enricher, Some(engine), outputs);
    pipeline.folder.reconfigure(config.alerts.fold.clone());
    pipeline.enforcer = enforcer;
    if baselines {
        pipeline.baseline = crate::baseline::Baselines::open(config);
    }
    pipeline
}

/// The end both share, once the last events are drained: the baselines saved, the outputs
/// flushed and closed, and the counters logged.
pub fn finish(pipeline: &mut Pipeline, capture: &Capture) {
    if let Some(baseline) = pipeline.baseline.as_mut() {
        baseline.finish();
    }
    pipeline.close_outputs();
    report_counters(capture, &pipeline.stats);
}

/// Starts enforcement: writes the kernel rules of `engine`'s rule set (and the configuration's
/// egress allowlist) into the kernel, tells the engine which rules the kernel judges, and logs
/// the backends.
fn start_enforcement(
    capture: &mut Capture,
    engine: &mut Engine,
    config: &Config,
    network: &Network,
    mode: Mode,
) -> Result<Enforcer> {
    let egress = egress_plan(config, network)?;
    let enforcer = Enforcer::start(capture, engine.rules().clone(), egress, mode)?;
    engine.skip_rules(enforcer.skipped_rules());
    tracing::info!(
        mode = %mode,
        kernel_rules = enforcer.kernel_rule_count(),
        "enforcement started; backends:\n{}",
        enforcer.backends()
    );
    Ok(enforcer)
}

/// Logs what the kernel and the pipeline counted, and warns about any loss.
fn report_counters(capture: &Capture, stats: &PipelineStats) -> KernelCounters {
    let kernel = KernelCounters::read(&capture.counters);
    tracing::info!(
        kernel_emitted = kernel.emitted,
        ring_buffer_full = kernel.ringbuf_full,
        priority_ring_full = kernel.priority_full,
        repeats_counted = kernel.repeats,
        compat_calls = kernel.compat_calls,
        io_uring_submissions = kernel.io_uring_submissions,
        unreadable_arguments = kernel.unreadable_arguments,
        policy_verdicts = kernel.policy_fired,
        records = stats.records,
        events_written = stats.events_written,
        alerts = stats.alerts,
        decode_errors = stats.decode_errors,
        output_errors = stats.output_errors,
        "capture totals"
    );
    if kernel.lost() > 0 {
        tracing::warn!(
            lost = kernel.lost(),
            "events were lost in the kernel because the ring buffer was full; raise capture.ring_buffer_bytes"
        );
    }
    if kernel.signal_failed > 0 {
        tracing::warn!(
            signals = kernel.signal_failed,
            "the kernel could not send SIGKILL for some kill verdicts (see the alerts marked failed)"
        );
    }
    if kernel.policy_depth > 0 {
        tracing::warn!(
            paths = kernel.policy_depth,
            "some paths were too deep for the enforcement policy to match"
        );
    }
    if kernel.tracked_full > 0 {
        tracing::warn!(
            children = kernel.tracked_full,
            "children of tracked processes could not be tracked: the tracked-process map was full"
        );
    }
    kernel
}
