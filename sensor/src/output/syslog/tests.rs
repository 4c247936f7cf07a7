use std::{
    io::Read,
    net::{TcpListener, UdpSocket},
    sync::atomic::Ordering::Relaxed,
};

use super::{format::*, *};
use crate::output::config::{Facility, Transport};

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
