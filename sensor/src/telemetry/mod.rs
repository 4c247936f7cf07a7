//! What the sensor tells operators about itself: Prometheus metrics, the event-loss alert, and
//! alerts the sensor raises on its own behalf (not from a rule pack).

pub mod loss;
pub mod metrics;
pub mod metrics_server;
pub mod sensor_alert;
pub mod session_loss;
pub mod tamper;

pub use loss::{LossPolicy, LossWatch};
pub use metrics::Metrics;
pub use sensor_alert::SensorAlert;
pub use session_loss::SessionLossWatch;

/// `metrics:` in the configuration.
#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus endpoint (`GET /metrics`), e.g. `127.0.0.1:9464`; off when
    /// absent. Keep it on loopback: the metrics name rules and outputs.
    pub listen: Option<std::net::SocketAddr>,
}
