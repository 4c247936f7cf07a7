//! Reading the ring buffer from the async runtime.

use std::io;

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

/// The stream of raw records from the kernel.
pub struct EventStream {
    fd: AsyncFd<RingBuf<MapData>>,
}

impl EventStream {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its descriptor, and it stays open and unchanged while the
        // AsyncFd owns the ring buffer.
        Ok(Self {
            fd: unsafe { AsyncFd::register(ring)? },
        })
    }

    /// Waits until records are available, then hands every available record to `handle`.
    /// Returns how many were handled.
    pub async fn next_batch(&mut self, mut handle: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut guard = self.fd.readable_mut().await?;
        let count = drain_ring_up_to(guard.get_inner_mut(), &mut handle, MAX_BATCH);
        // A full batch may have left records behind: stay ready so the loop comes straight back
        // (after flushing, and after its timers and signals had their turn).
        if count < MAX_BATCH {
            guard.clear_ready();
        }
        Ok(count)
    }

    /// Hands every record available now to `handle`, without waiting.
    pub fn drain(&mut self, mut handle: impl FnMut(&[u8])) -> usize {
        drain_ring(self.fd.get_mut(), &mut handle)
    }
}

/// Records handled per wake-up at most: under a steady flood the outputs are still flushed and
/// the daemon's timers and signals still run.
const MAX_BATCH: usize = 4_096;

fn drain_ring_up_to(ring: &mut RingBuf<MapData>, handle: &mut impl FnMut(&[u8]), limit: usize) -> usize {
    let mut count = 0;
    while count < limit {
        let Some(item) = ring.next() else {
            break;
        };
        handle(&item);
        count += 1;
    }
    count
}

fn drain_ring(ring: &mut RingBuf<MapData>, handle: &mut impl FnMut(&[u8])) -> usize {
    let mut count = 0;
    while let Some(item) = ring.next() {
        handle(&item);
        count += 1;
    }
    count
}
