//! Baseline state files (MessagePack, or JSON): any bytes decode to a profile or an error;
//! never a panic.
#![no_main]

use agent_sensor::baseline::persist;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = persist::decode(bytes);
    let _ = persist::decode_any(bytes);
});
