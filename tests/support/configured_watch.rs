//! `agent-sensor watch --config CONFIG --rules PACK -- bash -c SCRIPT` in the background, its
//! standard error in a file: how the outputs and faults tests drive the sensor's outputs.

use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use super::{patience, sensor};

/// A running `watch` with a configuration and a rule pack, killed when dropped.
pub struct ConfiguredWatch {
    child: Child,
    log: PathBuf,
}

impl ConfiguredWatch {
    /// Starts it in `dir`, its log in `dir/watch-TAG.log`.
    pub fn start(dir: &Path, tag: &str, config: &Path, pack: &Path, script: &str) -> Self {
        Self::start_with(dir, tag, config, pack, script, &[])
    }

    /// [`Self::start`] with extra environment variables.
    pub fn start_with(dir: &Path, tag: &str, config: &Path, pack: &Path, script: &str, env: &[(&str, &str)]) -> Self {
        let log = dir.join(format!("watch-{tag}.log"));
        let stderr = std::fs::File::create(&log).expect("log");
        let child = sensor()
            .env_remove("AGENT_SENSOR_STATE_DIR")
            .envs(env.iter().copied())
            .current_dir(dir)
            .arg("watch")
            .arg("--config")
            .arg(config)
            .arg("--rules")
            .arg(pack)
            .args(["--", "bash", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start agent-sensor watch");
        Self { child, log }
    }

    /// Starts it and waits for a clean finish ([`Self::finish_clean`]); its log.
    pub fn run(dir: &Path, tag: &str, config: &Path, pack: &Path, script: &str) -> String {
        Self::start(dir, tag, config, pack, script).finish_clean()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        super::wait_until(&format!("watch to log {needle:?}"), timeout, || {
            self.log().contains(needle).then_some(())
        });
    }

    /// Waits for the sensor to exit; it must succeed. Its log.
    pub fn finish(mut self) -> String {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                start.elapsed() < patience(Duration::from_secs(400)),
                "watch did not finish; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = self.log();
        assert!(status.success(), "watch failed ({status}):\n{log}");
        log
    }

    /// [`Self::finish`], and the sensor reported no error.
    pub fn finish_clean(self) -> String {
        let log = self.finish();
        assert!(!log.contains("agent-sensor:"), "the sensor reported an error:\n{log}");
        log
    }
}

impl Drop for ConfiguredWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
