//! Control-socket requests: any line a client sends parses to a request or an error; never a
//! panic.
#![no_main]

use agent_sensor::control::protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = serde_json::from_slice::<Request>(bytes);
});
