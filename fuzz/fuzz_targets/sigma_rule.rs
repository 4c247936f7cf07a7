//! Sigma rules: any text is translated or reported as skipped; never a panic.
#![no_main]

use agent_sensor::rules::sigma::{Source, translate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let sources = [Source {
        index: 0,
        origin: "fuzz.yml",
        text,
    }];
    let _ = translate(&sources, &[]);
});
