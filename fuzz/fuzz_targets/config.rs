//! The configuration file: any text loads or is refused with a `ConfigError`; never a panic.
#![no_main]

use agent_sensor::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = Config::from_text(text, std::path::Path::new("/nonexistent/agent-sensor/config.yaml"));
});
