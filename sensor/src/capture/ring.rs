//! Reading the two ring buffers from the async runtime: the priority ring (records that hit a
//! kernel rule or a protected file: always read first, and always woken for) and the event ring.
//!
//! The kernel wakes the event ring's reader at most once per wake-up interval (about 1 ms) and
//! leaves records in between unannounced; so after every wake-up and every batch that found
//! records, the reader looks again after that interval even if no wake-up came. A record therefore waits at most
//! about one interval. Before each such timed wait the reader also tells the programs until when
//! it will look by itself (`WAKE_READER_DEADLINE`: two intervals, which covers its timer's
//! slack), and they do not wake it before then; it keeps looking until a look after that
//! deadline finds nothing. A busy stream thus costs the writers no wake-up (an interrupt on the
//! writing CPU, an exit to the host in a virtual machine), only the reader's own timer.

use std::{io, time::Duration};

use aya::maps::{Array, MapData, RingBuf};
use sensor_common::maps::WAKE_READER_DEADLINE;
use tokio::io::unix::AsyncFd;

use super::loader::Rings;

/// How long after a batch that found records the reader looks again without a wake-up: the
/// kernel's wake-up interval (`CaptureOptions::wakeup_interval`).
pub const RING_LINGER: Duration = Duration::from_millis(1);

/// The stream of raw records from the kernel.
pub struct EventStream {
    events: AsyncFd<RingBuf<MapData>>,
    priority: Option<AsyncFd<RingBuf<MapData>>>,
    /// Where the reader says until when it looks again by itself (none: the kernel wakes it
    /// once per interval).
    wake: Option<Array<MapData, u64>>,
    /// The last batch found records or followed a wake-up: look again after `linger` even
    /// without one.
    lingering: bool,
    /// Boot-time ns until which the programs were told not to wake the reader (0: never).
    promised_until: u64,
    linger: Duration,
    /// Priority records read and not yet handled (reused between batches).
    early: std::collections::VecDeque<Vec<u8>>,
}

impl EventStream {
    /// A stream over the event ring and, when the kernel programs have one, the priority ring.
    pub fn new(rings: Rings, linger: Duration) -> io::Result<Self> {
        let Rings { events, priority, wake } = rings;
        // SAFETY: each ring buffer owns its descriptor, and it stays open and unchanged while
        // the AsyncFd owns the ring buffer.
        let events = unsafe { AsyncFd::register(events)? };
        let priority = match priority {
            // SAFETY: as for the event ring above.
            Some(ring) => Some(unsafe { AsyncFd::register(ring)? }),
            None => None,
        };
        Ok(Self {
            events,
            priority,
            wake,
            lingering: false,
            promised_until: 0,
            linger,
            early: std::collections::VecDeque::new(),
        })
    }

    /// Waits until records are available (or, after a batch that found some, until the linger
    /// interval passed), then hands the available records to `handle`: every priority record and
    /// up to a batch of events, in time order (see `merged`). Returns how many were handled.
    pub async fn next_batch(&mut self, mut handle: impl FnMut(&[u8])) -> io::Result<usize> {
        let now = boot_time_ns();
        let linger = if self.lingering {
            self.promise(now, 2 * self.linger);
            Some(self.linger)
        } else if self.promised_until > now {
            // Records committed until the promise ran out were not announced: one more look
            // after it.
            Some(Duration::from_nanos(self.promised_until - now))
        } else {
            None
        };
        let woke = wait(&self.events, self.priority.as_ref(), linger).await?;
        // Readiness is cleared before reading, so a record committed while the batch is read
        // wakes the next one.
        if let Some(ring) = self.priority.as_ref() {
            clear(ring);
        }
        let (priority, events) = self.merged(&mut handle, MAX_BATCH);
        let count = priority + events;
        // A full batch may have left records behind: stay ready so the loop comes straight back
        // (after flushing, and after its timers and signals had their turn).
        if events < MAX_BATCH {
            clear(&self.events);
        }
        // A wake-up that found nothing (its record was read by the batch before) still lingers:
        // records committed since, within the kernel's interval, were not announced. Only a
        // linger that found nothing ends it.
        self.lingering = count > 0 || woke == Woke::Ready;
        Ok(count)
    }

    /// Tells the programs the reader looks again within `span` of `now` by itself. If the map
    /// cannot be written, the reader stops saying so, and the kernel's interval wake-ups remain.
    fn promise(&mut self, now: u64, span: Duration) {
        let Some(wake) = self.wake.as_mut() else {
            return;
        };
        if now == u64::MAX {
            // No clock: promise nothing (a deadline never reached would silence the kernel).
            return;
        }
        let until = now.saturating_add(span.as_nanos() as u64);
        match wake.set(WAKE_READER_DEADLINE, until, 0) {
            Ok(()) => self.promised_until = until,
            Err(error) => {
                tracing::warn!(%error, "the event ring's reader cannot tell the kernel when it looks again: woken once per interval instead");
                self.wake = None;
            }
        }
    }

    /// Hands every record available now to `handle`, without waiting.
    pub fn drain(&mut self, mut handle: impl FnMut(&[u8])) -> usize {
        let (priority, events) = self.merged(&mut handle, usize::MAX);
        priority + events
    }

    /// Every priority record and up to `limit` events, handled in time order: priority records
    /// are never crowded out, but a verdict on a program's first open comes after the exec and
    /// fork records that say which program it is. Returns (priority records, events) handled.
    fn merged(&mut self, handle: &mut impl FnMut(&[u8]), limit: usize) -> (usize, usize) {
        let mut early = std::mem::take(&mut self.early);
        let mut early_count = 0;
        // Priority records committed up to `sampled` are in `early`; an event newer than that
        // may have priority records before it that were committed since: look again first.
        let mut sampled = 0;
        let mut events = 0;
        while events < limit {
            let Some(item) = self.events.get_mut().next() else {
                break;
            };
            let at = record_time(&item);
            if at > sampled {
                sampled = boot_time_ns();
                if let Some(priority) = self.priority.as_mut() {
                    while let Some(record) = priority.get_mut().next() {
                        early.push_back(record.to_vec());
                        early_count += 1;
                    }
                }
            }
            while let Some(record) = early.pop_front_if(|record| record_time(record) <= at) {
                handle(&record);
            }
            handle(&item);
            events += 1;
        }
        if let Some(priority) = self.priority.as_mut() {
            while let Some(record) = priority.get_mut().next() {
                early.push_back(record.to_vec());
                early_count += 1;
            }
        }
        for record in early.drain(..) {
            handle(&record);
        }
        self.early = early;
        (early_count, events)
    }
}

/// `CLOCK_BOOTTIME` now, in nanoseconds: the clock of the records' timestamps.
fn boot_time_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|now| now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64)
        .unwrap_or(u64::MAX)
}

/// The kernel time of a record (`EventHeader::time_ns`, bytes 8..16); 0 when too short.
fn record_time(record: &[u8]) -> u64 {
    record
        .get(8..16)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// Records handled per wake-up at most: under a steady flood the outputs are still flushed and
/// the daemon's timers and signals still run.
const MAX_BATCH: usize = 4_096;

/// Why [`wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Woke {
    /// A ring was readable (the kernel woke the reader).
    Ready,
    /// The linger interval passed.
    Lingered,
}

/// Waits until a ring is readable, or `linger` passed.
async fn wait(
    events: &AsyncFd<RingBuf<MapData>>,
    priority: Option<&AsyncFd<RingBuf<MapData>>>,
    linger: Option<Duration>,
) -> io::Result<Woke> {
    let priority_ready = async {
        match priority {
            Some(priority) => priority.readable().await.map(drop),
            None => std::future::pending().await,
        }
    };
    let lingered = async {
        match linger {
            Some(linger) => tokio::time::sleep(linger).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        ready = priority_ready => ready.map(|()| Woke::Ready),
        ready = events.readable() => ready.map(|_| Woke::Ready),
        () = lingered => Ok(Woke::Lingered),
    }
}

/// Clears the readiness of `ring` unless it is readable right now (the next `readable` then
/// waits for the kernel's next wake-up).
fn clear(ring: &AsyncFd<RingBuf<MapData>>) {
    if let Some(Ok(mut guard)) = futures_now(ring) {
        guard.clear_ready();
    }
}

/// The readiness guard of `ring` if it is ready now, without waiting.
fn futures_now(
    ring: &AsyncFd<RingBuf<MapData>>,
) -> Option<io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, RingBuf<MapData>>>> {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    match ring.poll_read_ready(&mut context) {
        std::task::Poll::Ready(guard) => Some(guard),
        std::task::Poll::Pending => None,
    }
}
