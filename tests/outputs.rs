//! End-to-end: outputs against real receivers, on loopback only.
//!
//! - file rotation: every line whole, none lost or reordered across rotations, the retention count;
//! - syslog over UDP, TCP, a unix datagram and a unix stream socket into a real rsyslogd that the
//!   test starts in the foreground with its own configuration in a temporary directory;
//! - HTTP (Elasticsearch `_bulk`, Splunk HEC) into a small HTTP/1.1 receiver the test runs,
//!   stopped and restarted mid-stream, and across a restart of the sensor with a full spool:
//!   every alert arrives (at least once: the test dedupes by `event.id`);
//! - filters by kind and severity; the daemon's SIGTERM delivers what is batched.

mod support;

use std::{
    collections::{BTreeSet, HashMap},
    io::{BufReader, Write},
    net::{Shutdown, TcpListener, TcpStream, UdpSocket},
    os::unix::{
        fs::PermissionsExt,
        net::{UnixDatagram, UnixStream},
    },
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, Once,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    configured_watch::ConfiguredWatch,
    http::{HttpRequest as Request, read_request, write_json_answer},
    *,
};

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Waits (up to `timeout`, stretched in the kernel lab) until `condition` holds.
fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let timeout = patience(timeout);
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A rule pack: reading a file named `high-*` raises a high alert, `low-*` a low one.
fn rule_pack(dir: &Path) -> PathBuf {
    let path = dir.join("pack.yaml");
    std::fs::write(
        &path,
        "ruleset: outputs-e2e\nrules:\n\
         \x20 - id: e2e-high\n    name: high marker read\n    description: e2e\n    severity: high\n\
         \x20   when: {event.action: open, file.name: {glob: 'high-*'}}\n\
         \x20 - id: e2e-low\n    name: low marker read\n    description: e2e\n    severity: low\n\
         \x20   when: {event.action: open, file.name: {glob: 'low-*'}}\n",
    )
    .expect("rule pack");
    for n in 1..=40 {
        std::fs::write(dir.join(format!("high-{n}")), "h").expect("marker");
        std::fs::write(dir.join(format!("low-{n}")), "l").expect("marker");
    }
    path
}

/// `cat` of markers `first..=last` with the prefix, as a shell fragment.
fn reads(dir: &Path, prefix: &str, first: u32, last: u32) -> String {
    format!(
        "for i in $(seq {first} {last}); do cat {}/{prefix}-$i > /dev/null; done",
        dir.display()
    )
}

/// Writes the configuration (state in `<dir>/state`) with the given `outputs:` entries. These
/// tests count deliveries of every alert, so bursts are not folded (`alerts.fold`, tested in
/// `output::fold` and tests/rules.rs).
fn config(dir: &Path, outputs: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "state_dir: {}\n{NO_FOLDING}outputs:\n{outputs}",
            dir.join("state").display()
        ),
    )
    .expect("config");
    path
}

/// The configuration section that turns folding of alert bursts off.
const NO_FOLDING: &str = "alerts:\n  fold: {window_ms: 0}\n";

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a partial line",
        path.display()
    );
    text.lines().map(str::to_string).collect()
}

fn ids(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|doc| str_field(doc, "event.id").to_string()).collect()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port()
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn file_outputs_rotate_by_size_with_whole_lines_and_a_retention_count() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let config = config(
        d,
        "  - {name: all, type: file, path: all.jsonl, kinds: [events], max_bytes: 0}\n\
         \x20 - {name: rotated, type: file, path: rotated.jsonl, kinds: [events], max_bytes: 65536, keep: 1000}\n\
         \x20 - {name: kept, type: file, path: kept.jsonl, kinds: [events], max_bytes: 65536, keep: 2}\n\
         \x20 - {type: file, path: alerts.jsonl}\n",
    );
    ConfiguredWatch::run(d, "files", &config, &pack, &reads(d, "low", 1, 40));

    let all = lines(&d.join("all.jsonl"));
    assert!(all.len() > 200, "40 cats make hundreds of events: {}", all.len());
    for line in &all {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    }

    // rotated.jsonl.N (oldest) … rotated.jsonl.1, rotated.jsonl: exactly the whole stream.
    let rotated = d.join("rotated.jsonl");
    let count = (1..).take_while(|&n| numbered(&rotated, n).exists()).count() as u32;
    assert!(
        (10..1000).contains(&count),
        "64 KiB files: many rotations (all kept), not {count}"
    );
    let mut files: Vec<PathBuf> = (1..=count).rev().map(|n| numbered(&rotated, n)).collect();
    files.push(rotated.clone());
    let mut joined = Vec::new();
    for file in &files {
        let size = std::fs::metadata(file).expect("file").len();
        let content = lines(file);
        assert!(
            size <= 65536 || content.len() == 1,
            "{} has {size} bytes in {} lines",
            file.display(),
            content.len()
        );
        joined.extend(content);
    }
    assert_eq!(joined.len(), all.len(), "no line lost or repeated across rotations");
    assert!(joined == all, "the rotated files hold the same lines in the same order");

    // keep: 2 keeps the current file and the two newest rotated ones.
    let kept = d.join("kept.jsonl");
    assert!(numbered(&kept, 2).exists() && !numbered(&kept, 3).exists());
    let tail: Vec<String> = [numbered(&kept, 2), numbered(&kept, 1), kept.clone()]
        .iter()
        .flat_map(|file| lines(file))
        .collect();
    assert!(tail.len() < all.len());
    assert!(all.ends_with(&tail), "the kept files are the newest part of the stream");

    let alerts = read_events(&d.join("alerts.jsonl"));
    assert_eq!(alerts.len(), 40, "the file output of alerts takes every alert");
}

/// `PATH.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Syslog: a real rsyslogd

static INSTALL: Once = Once::new();

/// rsyslogd, installed from Debian's packages when missing (without starting the system's).
fn rsyslogd() -> PathBuf {
    let binary = PathBuf::from("/usr/sbin/rsyslogd");
    INSTALL.call_once(|| {
        if binary.exists() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "rsyslog"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|status| status.success())
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            assert!(install(), "could not install rsyslog with apt-get");
        }
    });
    assert!(binary.exists(), "rsyslogd is not installed");
    binary
}

/// An rsyslogd of the test's own: UDP and TCP on loopback, a unix datagram socket (imuxsock)
/// and a unix stream socket (imptcp), each written to its own file with the parsed RFC 5424
/// fields. It never touches the system's syslog: its own config, work directory and sockets.
struct Rsyslog {
    child: Child,
    dir: PathBuf,
    udp: u16,
    tcp: u16,
}

const FIELDS: &str =
    "%hostname%|%app-name%|%procid%|%msgid%|%syslogfacility-text%|%syslogseverity-text%|%structured-data%|%msg%\\n";

impl Rsyslog {
    fn start(dir: &Path) -> Self {
        let binary = rsyslogd();
        let dir = dir.join("rsyslog");
        std::fs::create_dir_all(dir.join("work")).expect("rsyslog dir");
        let (udp, tcp) = (free_udp_port(), free_tcp_port());
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imptcp")
module(load="imuxsock" SysSock.Use="off")
template(name="fields" type="string" string="{FIELDS}")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="fields") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="fields") }}
ruleset(name="unix") {{ action(type="omfile" file="{d}/unix.log" template="fields") }}
ruleset(name="unix-stream") {{ action(type="omfile" file="{d}/unix-stream.log" template="fields") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
input(type="imptcp" path="{d}/stream.sock" unlink="on" ruleset="unix-stream")
input(type="imuxsock" socket="{d}/dgram.sock" ruleset="unix" useSpecialParser="off" parseHostname="on" rateLimit.interval="0" createPath="on")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).expect("rsyslog.conf");
        let log = std::fs::File::create(dir.join("rsyslogd.out")).expect("rsyslog log");
        let child = Command::new(binary)
            .arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        let rsyslog = Self { child, dir, udp, tcp };
        rsyslog.wait_ready();
        rsyslog
    }

    fn log_path(&self, transport: &str) -> PathBuf {
        self.dir.join(format!("{transport}.log"))
    }

    /// Sends a probe over every transport until each shows up in its file.
    fn wait_ready(&self) {
        let probe = b"<14>1 - probe-host probe - probe - ready";
        let mut framed = format!("{} ", probe.len()).into_bytes();
        framed.extend_from_slice(probe);
        let ready =
            |transport: &str| std::fs::read_to_string(self.log_path(transport)).is_ok_and(|t| t.contains("probe"));
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        wait_until(
            "rsyslogd to take messages on every transport",
            Duration::from_secs(30),
            || {
                let _ = udp.send_to(probe, ("127.0.0.1", self.udp));
                if !ready("tcp")
                    && let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.tcp))
                {
                    let _ = stream.write_all(&framed);
                }
                if !ready("unix-stream")
                    && let Ok(mut stream) = UnixStream::connect(self.dir.join("stream.sock"))
                {
                    let _ = stream.write_all(&framed);
                }
                if let Ok(socket) = UnixDatagram::unbound() {
                    let _ = socket.send_to(probe, self.dir.join("dgram.sock"));
                }
                let all = ["udp", "tcp", "unix", "unix-stream"].into_iter().all(ready);
                if !all {
                    std::thread::sleep(Duration::from_millis(200));
                }
                all
            },
        );
    }

    /// The messages from agent-sensor received over `transport`, split into their fields.
    fn messages(&self, transport: &str) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.log_path(transport))
            .unwrap_or_default()
            .lines()
            .map(|line| line.splitn(8, '|').map(str::to_string).collect::<Vec<String>>())
            .filter(|fields| fields.len() == 8 && fields[1] == "agent-sensor")
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

#[test]
fn syslog_reaches_rsyslog_over_udp_tcp_and_unix_sockets() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rsyslog = Rsyslog::start(d);
    let pack = rule_pack(d);
    let common = "type: syslog, facility: local4, hostname: e2e-host";
    let config = config(
        d,
        &format!(
            "  - {{name: udp, {common}, transport: udp, address: '127.0.0.1:{}'}}\n\
             \x20 - {{name: tcp, {common}, transport: tcp, address: '127.0.0.1:{}'}}\n\
             \x20 - {{name: unix, {common}, transport: unix, address: {}/dgram.sock}}\n\
             \x20 - {{name: unix-stream, {common}, transport: unix-stream, address: {}/stream.sock}}\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n",
            rsyslog.udp,
            rsyslog.tcp,
            rsyslog.dir.display(),
            rsyslog.dir.display()
        ),
    );
    let script = format!("{}; {}", reads(d, "high", 1, 3), reads(d, "low", 1, 2));
    let watch = ConfiguredWatch::start(d, "syslog", &config, &pack, &script);
    let pid = watch.pid().to_string();
    watch.finish_clean();

    let reference = read_events(&d.join("alerts.jsonl"));
    assert_eq!(reference.len(), 5, "three high alerts and two low ones");
    let by_id: HashMap<String, &Value> = reference
        .iter()
        .map(|alert| (str_field(alert, "event.id").to_string(), alert))
        .collect();
    for transport in ["udp", "tcp", "unix", "unix-stream"] {
        wait_until(&format!("5 alerts over {transport}"), Duration::from_secs(30), || {
            rsyslog.messages(transport).len() >= 5
        });
        let messages = rsyslog.messages(transport);
        assert_eq!(messages.len(), 5, "{transport}: {messages:#?}");
        let mut seen = BTreeSet::new();
        for fields in &messages {
            let [host, app, procid, msgid, facility, severity, sd, msg] = &fields[..] else {
                unreachable!()
            };
            assert_eq!(host, "e2e-host", "{transport}: {fields:?}");
            assert_eq!(app, "agent-sensor");
            assert_eq!(procid, &pid, "PROCID is the sensor's pid");
            assert_eq!(msgid, "alert");
            assert_eq!(facility, "local4");
            assert_eq!(sd, "-");
            let doc: Value = serde_json::from_str(msg).unwrap_or_else(|e| panic!("{transport}: not JSON: {msg}: {e}"));
            let id = str_field(&doc, "event.id").to_string();
            let original = by_id
                .get(&id)
                .unwrap_or_else(|| panic!("{transport}: unknown alert {id}"));
            assert_eq!(&&doc, original, "{transport}: the message is the alert document");
            let expected = match str_field(&doc, "rule.id") {
                "e2e-high" => "err",
                "e2e-low" => "notice",
                other => panic!("unexpected rule {other}"),
            };
            assert_eq!(severity, expected, "{transport}: severity follows the rule");
            seen.insert(id);
        }
        assert_eq!(seen, ids(&reference), "{transport}: every alert once");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: a receiver of the test's own

#[derive(Default)]
struct Received {
    requests: Mutex<Vec<Request>>,
    /// Answer this many requests with 503 before accepting again.
    fail_next: AtomicUsize,
}

impl Received {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    /// The documents of every accepted request (`_bulk` or HEC), in arrival order.
    fn documents(&self) -> Vec<Value> {
        let mut documents = Vec::new();
        for request in self.requests() {
            let text = String::from_utf8(request.body).expect("utf-8 body");
            if request.path.ends_with("/_bulk") {
                for (index, line) in text.lines().enumerate() {
                    if index % 2 == 1 {
                        documents.push(serde_json::from_str(line).expect("bulk document"));
                    }
                }
            } else {
                for line in text.lines() {
                    let envelope: Value = serde_json::from_str(line).expect("HEC envelope");
                    documents.push(envelope["event"].clone());
                }
            }
        }
        documents
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length bodies).
struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, received: Arc<Received>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, connections, received) = (stop.clone(), connections.clone(), received.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        connections.lock().expect("lock").push(clone);
                    }
                    let received = received.clone();
                    std::thread::spawn(move || serve(stream, &received));
                }
            })
        };
        Self {
            port,
            stop,
            connections,
            thread: Some(thread),
        }
    }

    /// Stops listening and closes every connection: the port refuses connections until
    /// [`Receiver::start`] binds it again.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            thread.join().expect("receiver thread");
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, received: &Received) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader, &mut writer) {
        let failing = received
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let (status, answer) = if failing {
            ("503 Service Unavailable", r#"{"error":"busy"}"#)
        } else {
            received.requests.lock().expect("lock").push(request);
            ("200 OK", r#"{"took":1,"errors":false,"items":[]}"#)
        };
        if !write_json_answer(&mut writer, status, answer) {
            return;
        }
    }
}

fn spooled(state: &Path, output: &str) -> usize {
    std::fs::read_dir(state.join("spool").join(output))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".ndjson"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn http_delivers_every_alert_across_a_receiver_outage() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let received = Arc::new(Received::default());
    let mut receiver = Receiver::start(0, received.clone());
    let url = receiver.url("/_bulk");
    let config = config(
        d,
        &format!(
            "  - name: siem\n    type: http\n    format: elasticsearch\n    url: {url}\n    index: e2e-alerts\n\
             \x20   batch_max_events: 4\n    batch_max_wait_ms: 100\n    retry_initial_ms: 50\n    retry_max_seconds: 1\n\
             \x20   shutdown_timeout_seconds: 30\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n"
        ),
    );
    let step = |name: &str| d.join(name).display().to_string();
    let script = format!(
        "{}; touch {}; while [ ! -e {} ]; do sleep 0.05; done; {}; touch {}; while [ ! -e {} ]; do sleep 0.05; done; {}",
        reads(d, "high", 1, 10),
        step("phase1"),
        step("go2"),
        reads(d, "high", 11, 20),
        step("phase2"),
        step("go3"),
        reads(d, "high", 21, 30),
    );
    let watch = ConfiguredWatch::start(d, "outage", &config, &pack, &script);

    // Phase 1: the receiver is up; alerts arrive as they happen.
    wait_for_file(&d.join("phase1"), Duration::from_secs(60));
    wait_until("the first ten alerts at the receiver", Duration::from_secs(30), || {
        ids(&received.documents()).len() >= 10
    });

    // Phase 2: the receiver is down; alerts are spooled and the failure is logged clearly.
    receiver.stop();
    std::fs::write(d.join("go2"), "").expect("go2");
    wait_for_file(&d.join("phase2"), Duration::from_secs(60));
    wait_until("20 alerts raised", Duration::from_secs(30), || {
        read_events(&d.join("alerts.jsonl")).len() >= 20
    });
    wait_until("the sensor to report the outage", Duration::from_secs(30), || {
        watch.log().contains("http output cannot deliver")
    });
    let log = watch.log();
    let failure = log
        .lines()
        .find(|line| line.contains("http output cannot deliver"))
        .expect("failure line");
    assert!(
        failure.contains("siem") && failure.contains(&url),
        "names the output and address: {failure}"
    );
    wait_until("alerts in the spool", Duration::from_secs(30), || {
        spooled(&d.join("state"), "siem") > 0
    });

    // Phase 3: the receiver is back, refusing its first two requests (503: retried).
    received.fail_next.store(2, Ordering::SeqCst);
    let _receiver = Receiver::start(receiver.port, received.clone());
    std::fs::write(d.join("go3"), "").expect("go3");
    let log = watch.finish_clean();
    assert!(log.contains("http output delivers again"), "{log}");

    let reference = read_events(&d.join("alerts.jsonl"));
    assert_eq!(reference.len(), 30);
    let documents = received.documents();
    assert_eq!(ids(&documents), ids(&reference), "every alert delivered, none lost");
    assert_eq!(received.fail_next.load(Ordering::SeqCst), 0, "the 503s were retried");
    for request in received.requests() {
        assert_eq!(request.path, "/_bulk");
        assert_eq!(request.headers["content-type"], "application/x-ndjson");
        let text = String::from_utf8(request.body).expect("utf-8");
        for (index, line) in text.lines().enumerate().filter(|(i, _)| i % 2 == 0) {
            let action: Value = serde_json::from_str(line).expect("action line");
            assert_eq!(action["create"]["_index"], "e2e-alerts", "line {index}");
            assert!(action["create"]["_id"].is_string(), "the _id dedupes retried documents");
        }
    }
    assert_eq!(
        spooled(&d.join("state"), "siem"),
        0,
        "the spool is empty once delivered"
    );
}

#[test]
fn http_spool_survives_a_sensor_restart() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let port = free_tcp_port();
    let url = format!("http://127.0.0.1:{port}/_bulk");
    let config = config(
        d,
        &format!(
            "  - name: siem\n    type: http\n    format: elasticsearch\n    url: {url}\n\
             \x20   batch_max_wait_ms: 100\n    retry_initial_ms: 50\n    retry_max_seconds: 1\n    shutdown_timeout_seconds: 1\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n"
        ),
    );
    // Nothing listens on the port: the alerts of the first run stay spooled.
    let log = ConfiguredWatch::run(d, "first", &config, &pack, &reads(d, "high", 1, 6));
    assert!(log.contains("undelivered lines stay in the spool"), "{log}");
    assert!(spooled(&d.join("state"), "siem") > 0);
    let reference = read_events(&d.join("alerts.jsonl"));
    assert_eq!(reference.len(), 6);

    // The receiver is up for the second run, which raises nothing of its own.
    let received = Arc::new(Received::default());
    let _receiver = Receiver::start(port, received.clone());
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("config")
            .replace("shutdown_timeout_seconds: 1", "shutdown_timeout_seconds: 30"),
    )
    .expect("config");
    let log = ConfiguredWatch::run(d, "second", &config, &pack, "true");
    assert!(log.contains("undelivered lines from an earlier run"), "{log}");
    assert_eq!(
        ids(&received.documents()),
        ids(&reference),
        "the first run's alerts, delivered by the second"
    );
    assert_eq!(spooled(&d.join("state"), "siem"), 0);
}

#[test]
fn splunk_hec_and_filters_by_kind_and_severity() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let received = Arc::new(Received::default());
    let receiver = Receiver::start(0, received.clone());
    let config = config(
        d,
        &format!(
            "  - name: splunk\n    type: http\n    format: splunk\n    url: {}\n    token: e2e-token\n    index: security\n\
             \x20   min_severity: high\n    batch_max_wait_ms: 100\n    shutdown_timeout_seconds: 30\n\
             \x20 - {{name: events-only, type: file, path: events.jsonl, kinds: [events]}}\n\
             \x20 - {{name: all-alerts, type: file, path: alerts.jsonl, kinds: [alerts], min_severity: low}}\n\
             \x20 - {{name: medium-up, type: file, path: medium.jsonl, min_severity: medium}}\n",
            receiver.url("/services/collector/event")
        ),
    );
    let script = format!("{}; {}", reads(d, "high", 1, 3), reads(d, "low", 1, 4));
    ConfiguredWatch::run(d, "filters", &config, &pack, &script);

    let alerts = read_events(&d.join("alerts.jsonl"));
    let high: Vec<Value> = alerts
        .iter()
        .filter(|a| str_field(a, "agent_sensor.alert.severity") == "high")
        .cloned()
        .collect();
    assert_eq!((alerts.len(), high.len()), (7, 3), "three high, four low");
    assert!(alerts.iter().all(|a| str_field(a, "event.kind") == "alert"));
    let medium = read_events(&d.join("medium.jsonl"));
    assert_eq!(ids(&medium), ids(&high), "min_severity: medium drops the low alerts");
    let events = read_events(&d.join("events.jsonl"));
    assert!(events.len() > 7, "the audit trail");
    assert!(
        events.iter().all(|e| str_field(e, "event.kind") == "event"),
        "kinds: [events] only"
    );

    let documents = received.documents();
    assert_eq!(ids(&documents), ids(&high), "only high alerts reach Splunk");
    for request in received.requests() {
        assert_eq!(request.path, "/services/collector/event");
        assert_eq!(request.headers["authorization"], "Splunk e2e-token");
        for line in String::from_utf8(request.body).expect("utf-8").lines() {
            let envelope: Value = serde_json::from_str(line).expect("envelope");
            assert_eq!(envelope["index"], "security");
            assert_eq!(envelope["sourcetype"], "_json");
            assert_eq!(envelope["source"], "agent-sensor");
            assert!(envelope["time"].as_f64().is_some_and(|t| t > 1.7e9), "{envelope}");
            assert_eq!(envelope["host"], envelope["event"]["host"]["hostname"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon

#[test]
fn the_daemon_delivers_batched_alerts_when_stopped() {
    if !require_root("outputs e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pack = rule_pack(d);
    let command = format!("e2e-outputs-{}", std::process::id());
    std::fs::write(
        d.join("agents.yaml"),
        format!("version: 1\nagents:\n  - name: outputs-agent\n    commands: [{command}]\n"),
    )
    .expect("profiles");
    let agent = d.join(&command);
    std::fs::write(&agent, format!("#!/bin/bash\n{}\n", reads(d, "high", 1, 5))).expect("agent");
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cgroup = TestCgroup::new("outputs");
    let received = Arc::new(Received::default());
    let receiver = Receiver::start(0, received.clone());
    // Batches wait ten minutes: only the shutdown sends them.
    let config_path = d.join("config.yaml");
    std::fs::write(
        &config_path,
        format!(
            "profiles: agents.yaml\n{NO_FOLDING}enforcement:\n  cgroup: {}\nstate_dir: {}\noutputs:\n\
             \x20 - name: siem\n    type: http\n    format: elasticsearch\n    url: {}\n\
             \x20   batch_max_events: 1000\n    batch_max_wait_ms: 600000\n    shutdown_timeout_seconds: 30\n\
             \x20 - {{name: reference, type: file, path: alerts.jsonl}}\n",
            cgroup.path.display(),
            d.join("state").display(),
            receiver.url("/_bulk")
        ),
    )
    .expect("config");
    let daemon = Daemon::start(
        d,
        &[
            "--config",
            &config_path.display().to_string(),
            "--rules",
            &pack.display().to_string(),
        ],
    );
    let status = Command::new(&agent).status().expect("agent");
    assert!(status.success());
    wait_until("five alerts raised", Duration::from_secs(30), || {
        read_events(&d.join("alerts.jsonl")).len() >= 5
    });
    assert!(
        received.requests().is_empty(),
        "nothing is sent before the batch is due"
    );
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon.stop();
    let reference = read_events(&d.join("alerts.jsonl"));
    assert_eq!(reference.len(), 5);
    assert_eq!(
        ids(&received.documents()),
        ids(&reference),
        "SIGTERM delivers what was batched"
    );
}
