//! HTTP spool segments: whatever a segment file holds (a crash mid-write, a damaged disk), the
//! spool opens, reads what is whole and sets the rest aside; never a panic.
#![no_main]

use std::{sync::Arc, time::Duration};

use agent_sensor::output::{
    Counters,
    http::spool::{Limits, Next, Spool},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if std::fs::write(dir.path().join("00000000000000000001.ndjson"), bytes).is_err() {
        return;
    }
    let limits = Limits {
        max_bytes: 1 << 20,
        batch_max_lines: 100,
        batch_max_bytes: 64 * 1024,
        batch_max_wait: Duration::from_millis(1),
    };
    let Ok(spool) = Spool::open("fuzz", dir.path(), limits, Arc::new(Counters::default())) else {
        return;
    };
    spool.begin_close(std::time::Instant::now() + Duration::from_secs(1));
    if let Next::Send(mut segment) = spool.next()
        && let Ok(lines) = spool.read(&mut segment)
    {
        spool.acknowledge(&segment, lines.len() as u64);
    }
});
