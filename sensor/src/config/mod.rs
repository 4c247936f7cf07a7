//! The sensor's configuration file (YAML; see docs/configuration.md).

pub mod baseline;
pub mod dns;
pub mod handoff;
pub mod network;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    enforce::mode::Mode,
    profiles::{ProfileError, Profiles},
    yaml,
};

/// The configuration file read when `--config` is not given (if it exists).
pub const DEFAULT_PATH: &str = "/etc/agent-sensor/config.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error(transparent)]
    Profiles(#[from] ProfileError),
    #[error("{origin}: capture.ring_buffer_bytes must be a power of two of at least 4096, not {value}")]
    RingSize { origin: String, value: u32 },
    #[error("{origin}: {source}")]
    Handoff {
        origin: String,
        source: handoff::HandoffError,
    },
}

/// Settings of the kernel capture.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Size of the kernel-to-userspace ring buffer, in bytes (a power of two).
    pub ring_buffer_bytes: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Settings of enforcement (docs/enforcement.md).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementConfig {
    /// `monitor` (report what would be done) or `enforce`; `--mode` overrides it.
    pub mode: Mode,
    /// Use BPF LSM hooks where the kernel allows them (false: always the fallbacks).
    pub lsm: bool,
    /// The cgroup the daemon attaches its network programs to, when BPF LSM is unavailable
    /// (default: the root of the cgroup v2 hierarchy, so every agent is covered).
    pub cgroup: Option<PathBuf>,
    /// How often the daemon re-expands `~` and `*` in kernel rules for new homes and directories.
    pub refresh_seconds: u64,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Monitor,
            lsm: true,
            cgroup: None,
            refresh_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Agent profile file; the built-in profiles when absent. Relative to the config file.
    #[serde(default)]
    profiles: Option<PathBuf>,
    #[serde(default)]
    capture: CaptureConfig,
    #[serde(default)]
    enforcement: EnforcementConfig,
    /// Where baselines are kept (docs/baselines.md). Relative to the config file.
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    baseline: baseline::BaselineConfig,
    #[serde(default)]
    geo: network::GeoConfig,
    #[serde(default)]
    egress: Option<network::EgressConfig>,
    #[serde(default)]
    dns: dns::DnsConfig,
    #[serde(default)]
    handoff: handoff::HandoffConfig,
    /// Where alerts and events go (docs/outputs.md).
    #[serde(default)]
    outputs: Vec<serde_saphyr::Spanned<crate::output::config::OutputSpec>>,
    /// Rule pack files or directories (relative to the config file); the shipped packs when empty.
    #[serde(default)]
    rules: Vec<PathBuf>,
    /// Load the shipped Sigma pack (rules/sigma) beside the rules.
    #[serde(default)]
    sigma_pack: bool,
    #[serde(default)]
    control: crate::control::ControlConfig,
    #[serde(default)]
    metrics: crate::telemetry::MetricsConfig,
    #[serde(default)]
    loss_alert: crate::telemetry::LossPolicy,
    /// Folding bursts of alerts.
    #[serde(default)]
    alerts: crate::output::fold::AlertsConfig,
    #[serde(default)]
    inventory: crate::inventory::daemon::InventoryConfig,
}

/// The configuration in effect.
#[derive(Clone, Debug)]
pub struct Config {
    pub profiles: Profiles,
    pub capture: CaptureConfig,
    pub enforcement: EnforcementConfig,
    /// Where baselines are kept (`state_dir`, or `AGENT_SENSOR_STATE_DIR`).
    pub state_dir: PathBuf,
    pub baseline: baseline::BaselineConfig,
    /// Country database and test mappings; `geo.database` is absolute here.
    pub geo: network::GeoConfig,
    /// The egress allowlist behind `agent_sensor.destination.allowed`, when configured.
    pub egress: Option<network::EgressConfig>,
    /// Where the system's DNS resolvers are read from (`$system_resolvers`).
    pub dns: dns::DnsConfig,
    /// The servers that run commands for their clients (hand-offs out of the session).
    pub handoff: handoff::HandoffConfig,
    /// Outputs from the `outputs:` section (paths made absolute); the command line adds its own.
    pub outputs: Vec<crate::output::OutputConfig>,
    /// Rule packs (absolute); `--rules` replaces them, the shipped packs when both are empty.
    pub rules: Vec<PathBuf>,
    /// Load the shipped Sigma pack beside the rules (docs/sigma.md).
    pub sigma_pack: bool,
    pub control: crate::control::ControlConfig,
    pub metrics: crate::telemetry::MetricsConfig,
    pub loss_alert: crate::telemetry::LossPolicy,
    /// What alert outputs receive: bursts folded (docs/rules.md).
    pub alerts: crate::output::fold::AlertsConfig,
    /// The daemon's inventory scans (docs/inventory.md).
    pub inventory: crate::inventory::daemon::InventoryConfig,
    /// The file this came from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
}

impl Config {
    /// Built-in defaults: the shipped profiles, a 16 MiB ring buffer.
    pub fn builtin() -> Result<Self, ConfigError> {
        Ok(Self {
            profiles: Profiles::builtin()?,
            capture: CaptureConfig::default(),
            enforcement: EnforcementConfig::default(),
            state_dir: baseline::state_dir(None, None),
            baseline: baseline::BaselineConfig::default(),
            geo: network::GeoConfig::default(),
            egress: None,
            dns: dns::DnsConfig::default(),
            handoff: handoff::HandoffConfig::default(),
            outputs: Vec::new(),
            rules: Vec::new(),
            sigma_pack: false,
            control: crate::control::ControlConfig::default(),
            metrics: crate::telemetry::MetricsConfig::default(),
            loss_alert: crate::telemetry::LossPolicy::default(),
            alerts: Default::default(),
            inventory: Default::default(),
            source: None,
        })
    }

    /// Reads `path`; without one, the default file when it exists, else the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::load_file(path),
            None if Path::new(DEFAULT_PATH).exists() => Self::load_file(Path::new(DEFAULT_PATH)),
            None => Self::builtin(),
        }
    }

    /// Reads the configuration file at `path`.
    pub fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let text = yaml::read(path)?;
        Self::from_text(&text, path)
    }

    /// The configuration `text`, as if read from `path` (relative paths in it are relative to
    /// `path`'s directory; the profiles file it names is read).
    pub fn from_text(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let file: ConfigFile = yaml::parse(text, &origin)?;
        let size = file.capture.ring_buffer_bytes;
        if !size.is_power_of_two() || size < 4096 {
            return Err(ConfigError::RingSize { origin, value: size });
        }
        file.handoff.validate().map_err(|source| ConfigError::Handoff {
            origin: origin.clone(),
            source,
        })?;
        let profiles = match &file.profiles {
            Some(profiles) => {
                let base = path.parent().unwrap_or(Path::new("."));
                Profiles::load(&base.join(profiles))?
            }
            None => Profiles::builtin()?,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut geo = file.geo;
        geo.database = geo.database.map(|database| base.join(database));
        Ok(Self {
            profiles,
            capture: file.capture,
            enforcement: file.enforcement,
            state_dir: baseline::state_dir(file.state_dir.as_deref(), Some(base)),
            baseline: file.baseline,
            geo,
            egress: file.egress,
            dns: dns::DnsConfig {
                resolv_conf: file.dns.resolv_conf.iter().map(|path| base.join(path)).collect(),
                ..file.dns
            },
            handoff: file.handoff,
            outputs: crate::output::config::resolve(&file.outputs, &origin, base)?,
            rules: file.rules.iter().map(|pack| base.join(pack)).collect(),
            sigma_pack: file.sigma_pack,
            control: crate::control::ControlConfig {
                socket: base.join(file.control.socket),
            },
            metrics: file.metrics,
            loss_alert: file.loss_alert,
            alerts: file.alerts,
            inventory: file.inventory.relative_to(base),
            source: Some(path.to_path_buf()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_config_with_relative_profiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("agents.yaml"),
            "version: 1\nagents:\n  - name: my-agent\n    commands: [my-agent]\n",
        )
        .expect("write profiles");
        let config_path = dir.path().join("config.yaml");
        std::fs::write(
            &config_path,
            "profiles: agents.yaml\ncapture:\n  ring_buffer_bytes: 1048576\n",
        )
        .expect("write config");
        let config = Config::load(Some(&config_path)).expect("config");
        assert_eq!(config.capture.ring_buffer_bytes, 1 << 20);
        assert_eq!(config.profiles.agents[0].name, "my-agent");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_sizes_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "captur:\n  ring_buffer_bytes: 4096\n").expect("write");
        let error = Config::load(Some(&path)).expect_err("unknown key").to_string();
        assert!(error.contains("config.yaml:1:"), "{error}");
        std::fs::write(&path, "capture:\n  ring_buffer_bytes: 5000\n").expect("write");
        let error = Config::load(Some(&path)).expect_err("bad size").to_string();
        assert!(error.contains("power of two"), "{error}");
        assert!(error.contains("config.yaml"), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The packaged configuration mangled (lines dropped, indentation broken, colons
        /// removed, stray bytes) and cut: it loads or is refused with an error naming the file;
        /// never a panic.
        #[test]
        fn a_mangled_configuration_loads_or_is_refused_never_panics(
            edits in proptest::collection::vec((0usize..1000, 0u8..6, proptest::prelude::any::<u8>()), 0..6),
            cut in 0usize..60,
        ) {
            let text = include_str!("../../../packaging/config.yaml");
            let mangled = crate::rules::hostile_packs::mangle(text, &edits, cut);
            let path = Path::new("/nonexistent/agent-sensor/config.yaml");
            if let Err(error) = Config::from_text(&mangled, path) {
                let message = error.to_string();
                proptest::prop_assert!(message.contains("config.yaml") || message.contains("agents"), "{}", message);
            }
        }
    }
}
