//! The daemon's periodic bookkeeping: metrics brought up to date, the status `agent-sensor
//! status` reads, and the event-loss alert.

use serde_json::{Map, Value, json};

use super::sessions::SessionOperator;
use crate::commands::health::Health;
use crate::{
    capture::{Capture, KernelCounters, environment},
    config::Config,
    control::{
        StatusReport,
        protocol::{OutputStatus, PackStatus, SessionStatus},
        server::ControlServer,
    },
    event::ecs::rfc3339,
    output::OutputStats,
    pipeline::Pipeline,
    process::{agent_id, cgroup::SessionState},
    telemetry::sensor_alert::now_ns,
};

pub struct Operations {
    started: String,
    kernel: String,
    metrics_url: Option<String>,
    pub control: Option<ControlServer>,
    pub health: Health,
}

impl Operations {
    pub fn new(config: &Config, control: Option<ControlServer>, metrics_url: Option<String>) -> Self {
        Self {
            started: rfc3339(now_ns()),
            kernel: environment::kernel_release(),
            metrics_url,
            control,
            health: Health::new(&config.loss_alert),
        }
    }

    /// Updates metrics and status, and raises the loss alert when loss passed its threshold.
    pub fn tick(
        &mut self,
        pipeline: &mut Pipeline,
        capture: &Capture,
        config: &Config,
        sessions: Option<&SessionOperator>,
    ) {
        let kernel = KernelCounters::read(&capture.counters);
        let outputs = pipeline.outputs.stats();
        if let Some(metrics) = &pipeline.metrics {
            metrics.update_kernel(&kernel);
            metrics.update_outputs(&outputs);
            let sessions = pipeline.enricher.sessions.iter();
            let (count, processes) = sessions.fold((0i64, 0i64), |(count, processes), session| {
                (count + 1, processes + session.live_processes as i64)
            });
            metrics.sessions.set(count);
            metrics.tracked_processes.set(processes);
        }
        self.health.tick(pipeline, capture, &kernel, &outputs);
        if let Some(control) = &self.control {
            control.publish(self.report(pipeline, &kernel, &outputs, config, sessions));
        }
    }

    /// Publishes the status now (after an operator changed a session, so `status` shows it).
    pub fn publish(&self, pipeline: &Pipeline, capture: &Capture, config: &Config, sessions: Option<&SessionOperator>) {
        if let Some(control) = &self.control {
            let kernel = KernelCounters::read(&capture.counters);
            let outputs = pipeline.outputs.stats();
            control.publish(self.report(pipeline, &kernel, &outputs, config, sessions));
        }
    }

    fn report(
        &self,
        pipeline: &Pipeline,
        kernel: &KernelCounters,
        outputs: &[OutputStats],
        config: &Config,
        operator: Option<&SessionOperator>,
    ) -> StatusReport {
        let mut rules = PackStatus::default();
        if let Some(engine) = &pipeline.engine {
            let set = engine.rules();
            rules.files = set.files.iter().map(|file| file.to_string()).collect();
            rules.rules = set.rules.len();
            rules.disabled = set.disabled;
        }
        let (mode, backends, backend_problems) = match &pipeline.enforcer {
            Some(enforcer) => {
                rules.kernel_rules = enforcer.kernel_rule_count();
                let chosen = enforcer.backends();
                let problems = [&chosen.lsm_problem, &chosen.cgroup_problem]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                (enforcer.mode().to_string(), chosen.summary(), problems)
            }
            None => ("monitor".to_string(), Vec::new(), Vec::new()),
        };
        let mut sessions: Vec<SessionStatus> = pipeline
            .enricher
            .sessions
            .iter()
            .map(|session| {
                let (state, cgroup) =
                    operator.map_or((SessionState::Running, None), |operator| operator.state(session.id));
                SessionStatus {
                    session: agent_id(session.id),
                    agent: session.agent.to_string(),
                    root_pid: session.root_pid,
                    origin: session.origin.as_str().to_string(),
                    live_processes: session.live_processes,
                    working_directory: session.working_directory.as_deref().map(str::to_string),
                    state,
                    cgroup,
                }
            })
            .collect();
        sessions.sort_by(|a, b| a.session.cmp(&b.session));
        let mut counters = match serde_json::to_value(kernel) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let stats = &pipeline.stats;
        for (name, value) in [
            ("records", stats.records),
            ("decode_errors", stats.decode_errors),
            ("events_written", stats.events_written),
            ("alerts", stats.alerts),
            ("output_errors", stats.output_errors),
        ] {
            counters.insert(name.into(), json!(value));
        }
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started: self.started.clone(),
            kernel: self.kernel.clone(),
            config: config.source.as_ref().map(|path| path.display().to_string()),
            mode,
            rules,
            backends,
            backend_problems,
            sessions,
            watch_sessions: Vec::new(),
            counters,
            outputs: outputs
                .iter()
                .map(|output| OutputStatus {
                    name: output.name.clone(),
                    kind: output.kind.to_string(),
                    delivered: output.delivered,
                    failed: output.failed,
                    dropped: output.dropped,
                    queued: output.queued,
                })
                .collect(),
            metrics: self.metrics_url.clone(),
        }
    }
}
