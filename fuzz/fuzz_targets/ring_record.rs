//! Raw ring-buffer records: whatever the kernel (or a corrupted buffer) hands over decodes to a
//! record or a `DecodeError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = agent_sensor::decode::decode(bytes);
});
