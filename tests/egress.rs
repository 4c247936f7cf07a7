//! End-to-end egress enforcement: an unprivileged agent session (`watch --user nobody`) whose
//! configuration has an egress allowlist (loopback and Germany), with loopback addresses standing
//! for countries (`geo.overrides`: 127.0.0.2 is the test country ZZ, 127.0.0.4 is DE) and one
//! configured DNS resolver (127.0.0.5, from a resolv.conf of the test's own). `unexpected-egress`
//! is made `deny` by a site pack, as docs/enforcement.md shows.
//!
//! Monitor mode reports what would be denied and lets everything through; enforce mode fails the
//! connect to "ZZ" and the UDP sendto to 127.0.0.3:53 (DNS to a resolver that is not the
//! system's) with EPERM. The allowed country, the local dev server and the configured resolver
//! raise nothing and work. Only loopback is ever contacted.
//!
//! On the dev/CI kernel the cgroup socket programs judge (`cgroup-sock-addr`); in the kernel lab
//! (`cargo xtask vm-test --test egress`, `AGENT_SENSOR_VM=1`) BPF LSM does (`bpf-lsm`).

mod support;

use std::{
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Output, Stdio},
};

use serde_json::Value;
use support::*;

/// The shipped packs, as the test's own copies (the kernel lab has no source tree; a test below
/// checks the list against rules/default where the tree exists).
const DEFAULT_PACKS: [(&str, &str); 14] = [
    ("00-base.yaml", include_str!("../rules/default/00-base.yaml")),
    (
        "10-credentials.yaml",
        include_str!("../rules/default/10-credentials.yaml"),
    ),
    (
        "20-destruction.yaml",
        include_str!("../rules/default/20-destruction.yaml"),
    ),
    ("25-impact.yaml", include_str!("../rules/default/25-impact.yaml")),
    ("30-execution.yaml", include_str!("../rules/default/30-execution.yaml")),
    (
        "35-evasive-execution.yaml",
        include_str!("../rules/default/35-evasive-execution.yaml"),
    ),
    ("40-network.yaml", include_str!("../rules/default/40-network.yaml")),
    (
        "45-exfiltration.yaml",
        include_str!("../rules/default/45-exfiltration.yaml"),
    ),
    (
        "50-persistence.yaml",
        include_str!("../rules/default/50-persistence.yaml"),
    ),
    (
        "60-defense-evasion.yaml",
        include_str!("../rules/default/60-defense-evasion.yaml"),
    ),
    (
        "62-history-and-logs.yaml",
        include_str!("../rules/default/62-history-and-logs.yaml"),
    ),
    (
        "65-sensor-blind-spots.yaml",
        include_str!("../rules/default/65-sensor-blind-spots.yaml"),
    ),
    ("70-discovery.yaml", include_str!("../rules/default/70-discovery.yaml")),
    (
        "75-process-and-kernel.yaml",
        include_str!("../rules/default/75-process-and-kernel.yaml"),
    ),
];

const SITE_PACK: &str = "ruleset: egress-e2e-site\noverrides:\n  rules:\n    unexpected-egress: {action: deny}\n";

fn in_lab() -> bool {
    std::env::var("AGENT_SENSOR_VM").is_ok_and(|value| value == "1")
}

/// A loopback TCP listener on `ip` that answers every connection with `name`.
fn listener(ip: &str, name: &'static str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("listen");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(name.as_bytes());
        }
    });
    port
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    script: String,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("egress-e2e-").tempdir().expect("dir");
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).expect("rules dir");
        for (name, text) in DEFAULT_PACKS {
            std::fs::write(rules.join(name), text).expect("write pack");
        }
        std::fs::write(rules.join("90-site.yaml"), SITE_PACK).expect("write site pack");
        std::fs::write(dir.path().join("resolv.conf"), "nameserver 127.0.0.5\n").expect("write resolv.conf");
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            "rules: [rules]\n\
             geo:\n  overrides:\n    - {cidr: 127.0.0.2, country: ZZ}\n    - {cidr: 127.0.0.4, country: DE}\n\
             egress:\n  allow:\n    - scopes: [loopback]\n    - countries: [DE]\n\
             dns:\n  resolv_conf: [resolv.conf]\n",
        )
        .expect("write config");
        let dev = listener("127.0.0.1", "dev");
        let foreign = listener("127.0.0.2", "foreign");
        let germany = listener("127.0.0.4", "germany");
        let script = format!(
            "import socket
for name, ip, port in ((\"dev\", \"127.0.0.1\", {dev}), (\"foreign\", \"127.0.0.2\", {foreign}), (\"germany\", \"127.0.0.4\", {germany})):
    s = socket.socket()
    try:
        s.connect((ip, port))
        print(name, \"connected\", s.recv(16).decode(), flush=True)
    except OSError as e:
        print(name, \"errno\", e.errno, flush=True)
for name, ip in ((\"resolver\", \"127.0.0.5\"), (\"elsewhere\", \"127.0.0.3\")):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        print(name, \"sent\", u.sendto(b\"\\x00\", (ip, 53)), flush=True)
    except OSError as e:
        print(name, \"errno\", e.errno, flush=True)
"
        );
        Self { dir, config, script }
    }

    fn watch(&self, mode: &str) -> (String, Vec<Value>) {
        let (text, alerts, _) = self.watch_script(mode, &self.script);
        (text, alerts)
    }

    /// Runs `script` (Python) in a session: its output, alerts and events.
    fn watch_script(&self, mode: &str, script: &str) -> (String, Vec<Value>, Vec<Value>) {
        let alerts = self.dir.path().join(format!("alerts-{mode}.jsonl"));
        let events = self.dir.path().join(format!("events-{mode}.jsonl"));
        let _ = std::fs::remove_file(&alerts);
        let _ = std::fs::remove_file(&events);
        let output: Output = sensor()
            .arg("watch")
            .arg("--config")
            .arg(&self.config)
            .arg("--alerts")
            .arg(&alerts)
            .arg("--events")
            .arg(&events)
            .args(["--user", "nobody", "--mode", mode, "--", "python3", "-c", script])
            .current_dir(Path::new("/"))
            .stdin(Stdio::null())
            .output()
            .expect("run agent-sensor watch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("agent-sensor:"), "the sensor failed:\n{stderr}");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            read_events(&alerts),
            read_events(&events),
        )
    }
}

fn alerts_of<'a>(alerts: &'a [Value], id: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|alert| str_field(alert, "rule.id") == id)
        .collect()
}

/// Alerts about a connection to `ip` (whatever rule).
fn about<'a>(alerts: &'a [Value], ip: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|alert| field(alert, "destination.ip").as_str() == Some(ip))
        .collect()
}

fn the_alert<'a>(alerts: &'a [Value], id: &str, ip: &str) -> &'a Value {
    let found: Vec<&Value> = alerts_of(alerts, id)
        .into_iter()
        .filter(|alert| field(alert, "destination.ip").as_str() == Some(ip))
        .collect();
    assert_eq!(found.len(), 1, "one alert of {id} about {ip} in {alerts:#?}");
    found[0]
}

fn assert_quiet_and_working(text: &str, alerts: &[Value]) {
    assert!(text.contains("dev connected dev"), "{text}");
    assert!(text.contains("germany connected germany"), "{text}");
    assert!(text.contains("resolver sent 1"), "{text}");
    for ip in ["127.0.0.1", "127.0.0.4", "127.0.0.5"] {
        assert!(about(alerts, ip).is_empty(), "{ip} raised {:#?}", about(alerts, ip));
    }
}

#[test]
fn an_allowlist_and_the_system_resolvers_are_enforced_in_the_kernel() {
    if !require_root("an_allowlist_and_the_system_resolvers_are_enforced_in_the_kernel") {
        return;
    }
    let setup = Setup::new();

    let (text, alerts) = setup.watch("monitor");
    assert_quiet_and_working(&text, &alerts);
    assert!(
        text.contains("foreign connected foreign"),
        "monitor mode must not interfere: {text}"
    );
    assert!(
        text.contains("elsewhere sent 1"),
        "monitor mode must not interfere: {text}"
    );
    let foreign = the_alert(&alerts, "unexpected-egress", "127.0.0.2");
    assert_eq!(str_field(foreign, "agent_sensor.action"), "would-deny", "{foreign:#}");
    assert_eq!(
        str_field(foreign, "destination.geo.country_iso_code"),
        "ZZ",
        "{foreign:#}"
    );
    let dns = the_alert(&alerts, "dns-unexpected-resolver", "127.0.0.3");
    assert_eq!(str_field(dns, "agent_sensor.action"), "would-deny", "{dns:#}");
    assert_eq!(field(dns, "destination.port").as_u64(), Some(53));

    let (text, alerts) = setup.watch("enforce");
    assert_quiet_and_working(&text, &alerts);
    assert!(text.contains(&format!("foreign errno {}", libc::EPERM)), "{text}");
    assert!(text.contains(&format!("elsewhere errno {}", libc::EPERM)), "{text}");
    let expected = if in_lab() { "bpf-lsm" } else { "cgroup-sock-addr" };
    for (id, ip) in [
        ("unexpected-egress", "127.0.0.2"),
        ("dns-unexpected-resolver", "127.0.0.3"),
    ] {
        let alert = the_alert(&alerts, id, ip);
        assert_eq!(str_field(alert, "agent_sensor.action"), "denied", "{alert:#}");
        assert_eq!(
            str_field(alert, "agent_sensor.enforcement.backend"),
            expected,
            "{alert:#}"
        );
        assert_eq!(str_field(alert, "user.id"), "65534", "{alert:#}");
    }
}

/// Connect events to `ip`:`port`.
fn connects_to<'a>(events: &'a [Value], ip: &str, port: u16) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| {
            str_field(event, "event.action") == "connect"
                && field(event, "destination.ip").as_str() == Some(ip)
                && field(event, "destination.port").as_u64() == Some(port as u64)
        })
        .collect()
}

#[test]
fn datagrams_and_fast_open_are_connect_events_and_judged() {
    if !require_root("datagrams_and_fast_open_are_connect_events_and_judged") {
        return;
    }
    let setup = Setup::new();
    let foreign = listener("127.0.0.2", "foreign");
    let germany = listener("127.0.0.4", "germany");
    // Three datagrams to one destination (one event and a count), one through sendmsg, a TCP
    // Fast Open connect (sendto with MSG_FASTOPEN: no connect call) and a plain connect (its
    // event comes from the connect call alone).
    let script = format!(
        "import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    u.sendto(b\"x\", (\"127.0.0.2\", 9999))
u.sendmsg([b\"y\"], [], 0, (\"127.0.0.2\", 9998))
t = socket.socket()
try:
    t.sendto(b\"hello\", socket.MSG_FASTOPEN, (\"127.0.0.2\", {foreign}))
    print(\"fastopen\", t.recv(16).decode(), flush=True)
except OSError as e:
    print(\"fastopen errno\", e.errno, flush=True)
c = socket.socket()
c.connect((\"127.0.0.4\", {germany}))
print(\"done\", flush=True)
"
    );
    let (text, alerts, events) = setup.watch_script("monitor", &script);
    assert!(text.contains("done"), "{text}");
    assert!(text.contains("fastopen foreign"), "{text}");

    let datagrams = connects_to(&events, "127.0.0.2", 9999);
    assert!(!datagrams.is_empty(), "no event for the datagrams in {events:#?}");
    let sent: u64 = datagrams
        .iter()
        .map(|event| field(event, "agent_sensor.repeat.count").as_u64().unwrap_or(1))
        .sum();
    assert_eq!(sent, 3, "three datagrams counted: {datagrams:#?}");
    assert!(
        datagrams.len() < 3,
        "repeats are counted, not reported one by one: {datagrams:#?}"
    );
    for event in datagrams.iter().chain(connects_to(&events, "127.0.0.2", 9998).iter()) {
        assert_eq!(str_field(event, "network.transport"), "udp", "{event:#}");
        assert_eq!(str_field(event, "agent_sensor.call.door"), "socket", "{event:#}");
        assert_eq!(str_field(event, "user.id"), "65534", "{event:#}");
    }
    assert_eq!(connects_to(&events, "127.0.0.2", 9998).len(), 1, "sendmsg: {events:#?}");

    let fast_open = connects_to(&events, "127.0.0.2", foreign);
    assert_eq!(
        fast_open.len(),
        1,
        "one event for the Fast Open connect: {fast_open:#?}"
    );
    assert_eq!(str_field(fast_open[0], "network.transport"), "tcp");
    assert_eq!(str_field(fast_open[0], "agent_sensor.call.door"), "socket");

    let plain = connects_to(&events, "127.0.0.4", germany);
    assert_eq!(plain.len(), 1, "a connect call is one event, not two: {plain:#?}");
    assert!(field(plain[0], "agent_sensor.call.door").is_null(), "{:#}", plain[0]);

    // The allowlist judges them like connects (bursts fold: a follow-up alert names the
    // destinations it folded in its sample).
    let mut judged: Vec<String> = Vec::new();
    for alert in alerts_of(&alerts, "unexpected-egress") {
        if let Some(port) = field(alert, "destination.port").as_u64() {
            judged.push(format!("{}:{port}", str_field(alert, "destination.ip")));
        }
        let sample = field(alert, "agent_sensor.alert.folded.sample");
        let names = sample.as_array().into_iter().flatten().filter_map(Value::as_str);
        judged.extend(names.map(str::to_string));
    }
    for port in [9999, 9998, foreign] {
        let destination = format!("127.0.0.2:{port}");
        assert!(
            judged.contains(&destination),
            "unexpected-egress about {destination}: {alerts:#?}"
        );
    }
}

#[test]
fn the_copied_packs_are_the_shipped_ones() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/default"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return; // the kernel lab: no source tree
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    let copied: Vec<&str> = DEFAULT_PACKS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, copied, "update DEFAULT_PACKS in tests/egress.rs");
}
