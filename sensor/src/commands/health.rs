//! The sensor's report on its own health, the same under `run` and `watch`: event loss overall
//! and per session becomes `sensor-event-loss` alerts on the alert outputs.

use std::time::Instant;

use crate::{
    capture::{Capture, KernelCounters},
    output::OutputStats,
    pipeline::Pipeline,
    telemetry::{LossPolicy, LossWatch, SessionLossWatch, loss::LossTotals, session_loss::name_sessions},
};

pub struct Health {
    loss: LossWatch,
    sessions: SessionLossWatch,
}

impl Health {
    pub fn new(policy: &LossPolicy) -> Self {
        Self {
            loss: LossWatch::new(policy.clone()),
            sessions: SessionLossWatch::new(policy),
        }
    }

    pub fn set_policy(&mut self, policy: &LossPolicy) {
        self.loss.set_policy(policy.clone());
        self.sessions.set_policy(policy);
    }

    /// Raises the loss alerts due now, per session first (they name who was affected).
    pub fn tick(
        &mut self,
        pipeline: &mut Pipeline,
        capture: &Capture,
        kernel: &KernelCounters,
        outputs: &[OutputStats],
    ) {
        let now = Instant::now();
        let totals = LossTotals::gather(kernel, pipeline.stats.decode_errors, outputs);
        // One alert for everything lost now, naming the sessions; between overall alerts (one
        // per interval), a session that starts losing records gets one of its own.
        let alerts = match self.loss.check(totals, now) {
            Some(mut alert) => {
                let sessions = self.sessions.absorb(capture.session_losses(), now);
                name_sessions(&mut alert, &sessions);
                vec![alert]
            }
            None => self.sessions.check(capture.session_losses(), now),
        };
        if alerts.is_empty() {
            return;
        }
        for alert in &alerts {
            if let Some(metrics) = &pipeline.metrics {
                metrics.loss_alerts.inc();
            }
            pipeline.write_sensor_alert(alert);
        }
        pipeline.flush();
    }
}
