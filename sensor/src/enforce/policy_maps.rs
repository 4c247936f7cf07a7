//! Writing a policy image into the kernel's policy maps, changing only what differs from the image
//! already there. The map handles themselves are taken at load time by `capture`.

use aya::maps::{MapError, lpm_trie::Key};
use sensor_common::policy::PolicyConfig;

use super::image::PolicyImage;
pub use crate::capture::policy_maps::PolicyMaps;

#[derive(Debug, thiserror::Error)]
#[error("writing the enforcement policy into the kernel map `{map}` failed: {source}")]
pub struct PolicyWriteError {
    pub map: &'static str,
    #[source]
    pub source: MapError,
}

fn failed(map: &'static str) -> impl Fn(MapError) -> PolicyWriteError {
    move |source| PolicyWriteError { map, source }
}

impl PolicyMaps {
    /// Makes the maps hold `next` (with `config` as given), knowing they hold `previous`.
    ///
    /// New entries go in before the rules and settings that use them, and stale ones come out
    /// after, so the kernel never judges with a rule whose paths are missing.
    pub fn apply(
        &mut self,
        next: &PolicyImage,
        config: &PolicyConfig,
        previous: Option<&PolicyImage>,
    ) -> Result<(), PolicyWriteError> {
        for (hash, sets) in &next.files {
            if previous.and_then(|p| p.files.get(hash)) != Some(sets) {
                self.files.insert(hash, sets, 0).map_err(failed("POLICY_FILES"))?;
            }
        }
        for (hash, patterns) in &next.dirs {
            if previous.and_then(|p| p.dirs.get(hash)) != Some(patterns) {
                self.dirs.insert(hash, patterns, 0).map_err(failed("POLICY_DIRS"))?;
            }
        }
        for (hash, sets) in &next.programs {
            if previous.and_then(|p| p.programs.get(hash)) != Some(sets) {
                self.programs.insert(hash, sets, 0).map_err(failed("POLICY_PROGRAMS"))?;
            }
        }
        for (bits, data) in &next.cidrs {
            if !previous.is_some_and(|p| p.cidrs.contains(&(*bits, *data))) {
                self.cidrs
                    .insert(&Key::new(*bits, *data), 1, 0)
                    .map_err(failed("POLICY_CIDRS"))?;
            }
        }
        for (slot, rule) in next.rules.iter().enumerate() {
            if previous.and_then(|p| p.rules.get(slot)) != Some(rule) {
                self.rules.set(slot as u32, rule, 0).map_err(failed("POLICY_RULES"))?;
            }
        }
        self.config.set(0, config, 0).map_err(failed("POLICY_CONFIG"))?;
        let Some(previous) = previous else {
            return Ok(());
        };
        for hash in previous.files.keys().filter(|hash| !next.files.contains_key(hash)) {
            let _ = self.files.remove(hash);
        }
        for hash in previous.dirs.keys().filter(|hash| !next.dirs.contains_key(hash)) {
            let _ = self.dirs.remove(hash);
        }
        for hash in previous
            .programs
            .keys()
            .filter(|hash| !next.programs.contains_key(hash))
        {
            let _ = self.programs.remove(hash);
        }
        for (bits, data) in previous.cidrs.iter().filter(|entry| !next.cidrs.contains(entry)) {
            let _ = self.cidrs.remove(&Key::new(*bits, *data));
        }
        Ok(())
    }

    /// Sets only the settings (mode, backends).
    pub fn set_config(&mut self, config: &PolicyConfig) -> Result<(), PolicyWriteError> {
        self.config.set(0, config, 0).map_err(failed("POLICY_CONFIG"))
    }
}
