//! Syslog (RFC 5424) with the JSON document as the message, over UDP (RFC 5426: one datagram per
//! message), TCP (RFC 6587 octet counting), a unix datagram socket (`/dev/log` style) or a unix
//! stream socket (octet counting).
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME agent-sensor PROCID MSGID - {"@timestamp":…}
//! ```
//! PRI is facility × 8 + severity: alerts map critical → 2 (crit), high → 3 (err), medium → 4
//! (warning), low → 5 (notice), info → 6 (info); events are 6. MSGID is `alert` or `event`.
//!
//! Messages are formatted on the pipeline thread and handed to the output's own thread through
//! a bounded queue, so the pipeline never waits for the network. That thread connects, sends,
//! and on any failure logs it (naming the output and the address), drops the connection,
//! waits (exponential backoff, 0.5 s to 30 s) and tries the same message again. When the queue
//! is full new messages are dropped and counted.

mod connection;
mod format;
#[cfg(test)]
mod tests;

use std::{
    io,
    sync::{
        Arc, Condvar, Mutex,
        mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use time::OffsetDateTime;

use self::connection::Connection;
pub use self::format::{Header, octet_counted, syslog_severity, timestamp};
use super::{
    Kind,
    config::{SyslogConfig, Transport},
    stats::Counters,
    throttled,
};
use crate::rules::Severity;

const APP_NAME: &str = "agent-sensor";
const RETRY_INITIAL: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// State shared with the output's thread.
struct Shared {
    /// Set when closing: the thread gives up on undeliverable messages after this instant.
    deadline: Mutex<Option<Instant>>,
    wake: Condvar,
}

/// The pipeline's end of a syslog output.
pub struct SyslogSink {
    name: String,
    header: Header,
    queue: Option<SyncSender<Vec<u8>>>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
    full: u64,
}

impl SyslogSink {
    pub fn start(name: &str, config: &SyslogConfig, counters: Arc<Counters>) -> io::Result<Self> {
        let (queue, receiver) = sync_channel(config.queue_size);
        let shared = Arc::new(Shared {
            deadline: Mutex::new(None),
            wake: Condvar::new(),
        });
        let worker = Worker {
            name: name.to_string(),
            transport: config.transport,
            address: config.address.clone(),
            receiver,
            shared: shared.clone(),
            counters: counters.clone(),
            failures: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("syslog-{name}"))
            .spawn(move || worker.run())?;
        Ok(Self {
            name: name.to_string(),
            header: Header::new(config),
            queue: Some(queue),
            shared,
            counters,
            thread: Some(thread),
            shutdown_timeout: config.shutdown_timeout,
            full: 0,
        })
    }

    /// Formats and queues one line; never waits. Returns false when the queue was full.
    pub fn write(&mut self, kind: Kind, severity: Option<Severity>, json: &[u8]) -> bool {
        let message = self.header.format(kind, severity, OffsetDateTime::now_utc(), json);
        let Some(queue) = &self.queue else {
            Counters::add(&self.counters.dropped, 1);
            return false;
        };
        Counters::add(&self.counters.queued, 1);
        match queue.try_send(message) {
            Ok(()) => {
                Counters::add(&self.counters.written, 1);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                Counters::sub(&self.counters.queued, 1);
                Counters::add(&self.counters.dropped, 1);
                self.full += 1;
                if throttled(self.full) {
                    tracing::error!(
                        output = %self.name,
                        dropped = self.full,
                        "syslog output queue is full (the receiver is down or too slow): messages dropped"
                    );
                }
                false
            }
        }
    }

    /// The time the output may still take to deliver its queue when closing.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Stops taking messages and tells the thread to deliver what is queued until `deadline`.
    pub fn begin_close(&mut self, deadline: Instant) {
        self.queue = None;
        if let Ok(mut slot) = self.shared.deadline.lock() {
            *slot = Some(deadline);
        }
        self.shared.wake.notify_all();
    }

    /// Waits for the thread (after [`Self::begin_close`]).
    pub fn finish_close(&mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(output = %self.name, "the syslog output thread panicked");
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.begin_close(Instant::now() + self.shutdown_timeout);
            self.finish_close();
        }
    }
}

/// The output's own thread.
struct Worker {
    name: String,
    transport: Transport,
    address: String,
    receiver: Receiver<Vec<u8>>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    failures: u64,
}

impl Worker {
    fn run(mut self) {
        let mut connection: Option<Connection> = None;
        let mut pending: Option<Vec<u8>> = None;
        let mut backoff = RETRY_INITIAL;
        loop {
            let message = match pending.take() {
                Some(message) => message,
                None => match self.receiver.try_recv() {
                    Ok(message) => message,
                    Err(TryRecvError::Empty) => match self.receiver.recv() {
                        Ok(message) => message,
                        Err(_) => break,
                    },
                    Err(TryRecvError::Disconnected) => break,
                },
            };
            let reused = connection.is_some();
            let mut sent = self.send(&mut connection, &message);
            if sent.is_err() && reused && matches!(self.transport, Transport::Tcp | Transport::UnixStream) {
                // The receiver closed an idle connection (or restarted): one immediate try on a
                // new connection before this counts as a failure.
                connection = None;
                sent = self.send(&mut connection, &message);
            }
            match sent {
                Ok(()) => {
                    Counters::sub(&self.counters.queued, 1);
                    Counters::add(&self.counters.delivered, 1);
                    if self.failures > 0 {
                        tracing::info!(output = %self.name, address = %self.address, failures = self.failures, "syslog output delivers again");
                        self.failures = 0;
                    }
                    backoff = RETRY_INITIAL;
                }
                Err(error) if error.raw_os_error() == Some(libc::EMSGSIZE) => {
                    Counters::sub(&self.counters.queued, 1);
                    Counters::add(&self.counters.dropped, 1);
                    Counters::add(&self.counters.failed, 1);
                    tracing::error!(
                        output = %self.name,
                        address = %self.address,
                        bytes = message.len(),
                        "syslog message too large for a {} datagram: dropped",
                        self.transport.as_str()
                    );
                }
                Err(error) => {
                    connection = None;
                    self.failures += 1;
                    Counters::add(&self.counters.failed, 1);
                    if throttled(self.failures) {
                        tracing::error!(
                            output = %self.name,
                            transport = self.transport.as_str(),
                            address = %self.address,
                            %error,
                            failures = self.failures,
                            "syslog output cannot deliver; retrying in {:.1}s",
                            backoff.as_secs_f64()
                        );
                    }
                    pending = Some(message);
                    if !self.wait(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
        // Closing, and what is left cannot be delivered in time.
        let left = u64::from(pending.is_some()) + self.receiver.try_iter().count() as u64;
        if left > 0 {
            Counters::sub(&self.counters.queued, left);
            Counters::add(&self.counters.dropped, left);
            tracing::error!(
                output = %self.name,
                address = %self.address,
                messages = left,
                "syslog output closed with undelivered messages: they are lost"
            );
        }
    }

    /// Sends on the connection, opening one first when there is none.
    fn send(&self, connection: &mut Option<Connection>, message: &[u8]) -> io::Result<()> {
        if connection.is_none() {
            *connection = Some(Connection::open(self.transport, &self.address, self.deadline())?);
        }
        match connection.as_mut() {
            Some(open) => open.send(message),
            None => Err(io::Error::other("no connection")),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.shared.deadline.lock().ok().and_then(|slot| *slot)
    }

    /// Waits `pause` (cut short by closing). False when closing and past the deadline.
    fn wait(&self, pause: Duration) -> bool {
        let Ok(mut slot) = self.shared.deadline.lock() else {
            return false;
        };
        let until = Instant::now() + pause;
        loop {
            let now = Instant::now();
            if let Some(deadline) = *slot
                && now >= deadline
            {
                return false;
            }
            if now >= until {
                return true;
            }
            let limit = match *slot {
                Some(deadline) => until.min(deadline),
                None => until,
            };
            slot = match self.shared.wake.wait_timeout(slot, limit - now) {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
        }
    }
}
