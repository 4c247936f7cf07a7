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

use std::{
    io::{self, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket},
    os::{
        fd::{AsRawFd, RawFd},
        unix::net::{UnixDatagram, UnixStream},
    },
    sync::{
        Arc, Condvar, Mutex,
        mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use time::OffsetDateTime;

use super::{
    Kind,
    config::{SyslogConfig, Transport},
    stats::Counters,
    throttled,
};
use crate::rules::Severity;

const APP_NAME: &str = "agent-sensor";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_INITIAL: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The syslog severity of a line: alerts by their rule's severity, events are informational.
pub fn syslog_severity(kind: Kind, severity: Option<Severity>) -> u8 {
    match (kind, severity) {
        (Kind::Alert, Some(Severity::Critical)) => 2,
        (Kind::Alert, Some(Severity::High)) => 3,
        (Kind::Alert, Some(Severity::Medium)) => 4,
        (Kind::Alert, Some(Severity::Low)) => 5,
        _ => 6,
    }
}

/// The fixed parts of the header.
#[derive(Clone, Debug)]
pub struct Header {
    pub facility: u8,
    pub hostname: String,
    pub procid: u32,
}

impl Header {
    pub fn new(config: &SyslogConfig) -> Self {
        let hostname = config.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Self {
            facility: config.facility.0,
            hostname: header_field(&hostname, 255),
            procid: std::process::id(),
        }
    }

    /// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`.
    pub fn format(&self, kind: Kind, severity: Option<Severity>, now: OffsetDateTime, json: &[u8]) -> Vec<u8> {
        let pri = u32::from(self.facility) * 8 + u32::from(syslog_severity(kind, severity));
        let msgid = match kind {
            Kind::Alert => "alert",
            Kind::Event => "event",
        };
        let mut out = Vec::with_capacity(json.len() + 96);
        let _ = write!(
            out,
            "<{pri}>1 {} {} {APP_NAME} {} {msgid} - ",
            timestamp(now),
            self.hostname,
            self.procid
        );
        out.extend_from_slice(json);
        out
    }
}

/// RFC 5424 TIMESTAMP: UTC, microseconds (the most the RFC allows).
pub fn timestamp(now: OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// A header field: printable US-ASCII without spaces, at most `max` bytes, `-` when empty.
fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if field.is_empty() { "-".to_string() } else { field }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 8);
    let _ = write!(framed, "{} ", message.len());
    framed.extend_from_slice(message);
    framed
}

/// An open connection to the receiver.
enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
    UnixStream(UnixStream),
}

impl Connection {
    fn open(transport: Transport, address: &str, deadline: Option<Instant>) -> io::Result<Self> {
        let timeout = match deadline {
            Some(deadline) => CONNECT_TIMEOUT.min(deadline.saturating_duration_since(Instant::now())),
            None => CONNECT_TIMEOUT,
        }
        .max(Duration::from_millis(10));
        match transport {
            Transport::Udp => {
                let target = resolve(address)?;
                let local: SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(target)?;
                Ok(Self::Udp(socket))
            }
            Transport::Tcp => {
                let target = resolve(address)?;
                let stream = TcpStream::connect_timeout(&target, timeout)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                let _ = stream.set_nodelay(true);
                Ok(Self::Tcp(stream))
            }
            Transport::Unix => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(address)?;
                socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Self::Unix(socket))
            }
            Transport::UnixStream => {
                let stream = UnixStream::connect(address)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Self::UnixStream(stream))
            }
        }
    }

    /// Sends one message: a datagram, or an octet-counted frame. On a stream, a connection the
    /// receiver has closed is noticed first (receivers never send), so the message goes on a
    /// new connection instead of into a dead one.
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(socket) => socket.send(message).map(drop),
            Self::Unix(socket) => socket.send(message).map(drop),
            Self::Tcp(stream) => {
                check_open(stream.as_raw_fd())?;
                stream.write_all(&octet_counted(message))
            }
            Self::UnixStream(stream) => {
                check_open(stream.as_raw_fd())?;
                stream.write_all(&octet_counted(message))
            }
        }
    }
}

/// Fails when the peer closed the stream (a non-blocking peek sees the end, or an error).
fn check_open(fd: RawFd) -> io::Result<()> {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`, which outlives the call.
    let read = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    if read == 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the receiver closed the connection",
        ));
    }
    if read < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::WouldBlock {
            return Err(error);
        }
    }
    Ok(())
}

fn resolve(address: &str) -> io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))
}

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

#[cfg(test)]
mod tests {
    use std::{
        io::Read,
        net::{TcpListener, UdpSocket},
        sync::atomic::Ordering::Relaxed,
    };

    use super::*;
    use crate::output::config::Facility;

    fn header() -> Header {
        Header {
            facility: 16,
            hostname: "dev-laptop".to_string(),
            procid: 4242,
        }
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(1_795_289_297_852_867_584).expect("time")
    }

    #[test]
    fn formats_an_rfc5424_line() {
        let line = header().format(Kind::Alert, Some(Severity::High), at(), br#"{"a":1}"#);
        assert_eq!(
            String::from_utf8(line).expect("utf-8"),
            r#"<131>1 2026-11-21T19:28:17.852867Z dev-laptop agent-sensor 4242 alert - {"a":1}"#
        );
        let event = header().format(Kind::Event, None, at(), b"{}");
        assert!(event.starts_with(b"<134>1 "), "local0.info");
        assert!(
            String::from_utf8_lossy(&event).contains(" 4242 event - {}"),
            "{}",
            String::from_utf8_lossy(&event)
        );
        let critical = header().format(Kind::Alert, Some(Severity::Critical), at(), b"{}");
        assert!(critical.starts_with(b"<130>1 "));
    }

    #[test]
    fn header_fields_are_printable_ascii() {
        assert_eq!(header_field("my host", 255), "my_host");
        assert_eq!(header_field("", 255), "-");
        assert_eq!(header_field("abcdef", 3), "abc");
    }

    #[test]
    fn frames_by_octet_count() {
        assert_eq!(octet_counted(b"<14>1 - - - - - - hi"), b"20 <14>1 - - - - - - hi");
        assert_eq!(octet_counted("é".as_bytes()), "2 é".as_bytes(), "bytes, not characters");
    }

    fn config(transport: Transport, address: String) -> SyslogConfig {
        SyslogConfig {
            transport,
            address,
            facility: Facility::USER,
            hostname: Some("h".into()),
            queue_size: 4,
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn sends_datagrams_and_frames_and_counts() {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let counters = Arc::new(Counters::default());
        let mut sink = SyslogSink::start(
            "u",
            &config(Transport::Udp, udp.local_addr().expect("addr").to_string()),
            counters.clone(),
        )
        .expect("start");
        assert!(sink.write(Kind::Event, None, br#"{"n":1}"#));
        let mut buffer = [0u8; 512];
        let n = udp.recv(&mut buffer).expect("datagram");
        assert!(buffer[..n].starts_with(b"<14>1 "));
        assert!(buffer[..n].ends_with(br#"event - {"n":1}"#));
        drop(sink);
        assert_eq!(counters.delivered.load(Relaxed), 1);

        let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
        let counters = Arc::new(Counters::default());
        let mut sink = SyslogSink::start(
            "t",
            &config(Transport::Tcp, tcp.local_addr().expect("addr").to_string()),
            counters.clone(),
        )
        .expect("start");
        sink.write(Kind::Alert, Some(Severity::Low), b"{}");
        sink.write(Kind::Alert, Some(Severity::Low), b"[]");
        let (mut stream, _) = tcp.accept().expect("accept");
        drop(sink);
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        let frames: Vec<&str> = text.split_inclusive(['}', ']']).collect();
        assert_eq!(frames.len(), 2, "{text}");
        for frame in frames {
            let (length, message) = frame.split_once(' ').expect("length");
            assert_eq!(length.parse::<usize>().expect("number"), message.len());
            assert!(message.starts_with("<13>1 "), "{message}");
        }
        assert_eq!(counters.delivered.load(Relaxed), 2);
    }

    #[test]
    fn a_connection_the_receiver_closed_is_replaced_before_writing() {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
        let counters = Arc::new(Counters::default());
        let mut sink = SyslogSink::start(
            "t",
            &config(Transport::Tcp, tcp.local_addr().expect("addr").to_string()),
            counters.clone(),
        )
        .expect("start");
        sink.write(Kind::Event, None, b"{\"n\":1}");
        let (mut first, _) = tcp.accept().expect("accept");
        let mut buffer = [0u8; 256];
        let n = first.read(&mut buffer).expect("first message");
        assert!(buffer[..n].ends_with(b"{\"n\":1}"));
        drop(first);
        sink.write(Kind::Event, None, b"{\"n\":2}");
        let (mut second, _) = tcp.accept().expect("a new connection");
        drop(sink);
        let mut text = String::new();
        second.read_to_string(&mut text).expect("read");
        assert!(text.ends_with("{\"n\":2}"), "{text}");
        assert_eq!(counters.delivered.load(Relaxed), 2);
        assert_eq!(counters.dropped.load(Relaxed), 0);
        assert_eq!(
            counters.failed.load(Relaxed),
            0,
            "a closed idle connection is no failure"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_closing_gives_up_at_the_deadline() {
        // Nothing listens on this port: every connection is refused.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let counters = Arc::new(Counters::default());
        let mut sink = SyslogSink::start(
            "down",
            &config(Transport::Tcp, format!("127.0.0.1:{port}")),
            counters.clone(),
        )
        .expect("start");
        let accepted = (0..20).filter(|_| sink.write(Kind::Event, None, b"{}")).count() as u64;
        assert!(accepted < 20, "the queue holds 4 (plus one in the thread's hands)");
        sink.begin_close(Instant::now());
        sink.finish_close();
        assert_eq!(counters.delivered.load(Relaxed), 0);
        assert_eq!(counters.dropped.load(Relaxed), 20, "every message is accounted for");
        assert_eq!(counters.queued.load(Relaxed), 0);
        assert!(counters.failed.load(Relaxed) >= 1);
    }
}
