//! `cargo xtask soak --minutes N`: the sensor under sustained load for N minutes. The bench's load
//! generator runs as one tracked tree (`watch`) at 100,000 opens per second with a credential
//! read every 100 ms (each one alert); alerts go to a file and to an HTTP receiver on loopback
//! that is stopped and restarted every few minutes. Printed: the sensor's RSS and open file
//! descriptors over time (and the RSS slope), alerts lost to the file and to the receiver, and
//! kernel drops. The run fails when an alert is lost, the kernel drops a record or descriptors
//! grow. CI runs a one-minute version beside the kernel lab (`cargo xtask test`).

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use super::{
    build_release,
    env::Env,
    load::LoadRun,
    procfs,
    sensor::{Alerts, Isolation, Sensor, WatchSpec},
    targets,
};
use crate::{cmd, setup};

#[derive(Debug, Args)]
pub struct SoakOptions {
    /// How long the load runs.
    #[arg(long, default_value_t = 60)]
    pub minutes: u64,
    /// How long the load runs, in seconds instead (a short run, as CI's).
    #[arg(long, conflicts_with = "minutes")]
    pub seconds: Option<u64>,
    /// The receiver is down once every this many seconds.
    #[arg(long, default_value_t = 120)]
    pub restart_every_seconds: u64,
    /// For how long the receiver is down each time.
    #[arg(long, default_value_t = 20)]
    pub down_seconds: u64,
    /// Use target/release as it is.
    #[arg(long)]
    pub no_build: bool,
    /// Take `agent-sensor` and `xtask` from this directory, as they are (no build).
    #[arg(long, value_name = "DIR")]
    pub binaries: Option<PathBuf>,
}

impl SoakOptions {
    /// CI's short soak: half a minute, the receiver down once (from 10 s to 20 s), the binaries
    /// the tests built. It runs beside the kernel lab, which it slows by about its own length.
    pub fn short(binaries: PathBuf) -> Self {
        Self {
            minutes: 1,
            seconds: Some(30),
            restart_every_seconds: 10,
            down_seconds: 10,
            no_build: true,
            binaries: Some(binaries),
        }
    }
}

/// Descriptors the sensor may open beyond the fewest it held once running (the receiver's
/// connection, a spool segment being rotated); more is a leak.
const FD_SLACK: usize = 8;

const TRIGGER_INTERVAL_MS: u64 = 100;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

pub fn run(options: &SoakOptions) -> Result<()> {
    if !cmd::is_root() {
        bail!("the soak loads eBPF programs: run it as root");
    }
    if !options.no_build && options.binaries.is_none() {
        setup::run()?;
        build_release(&["--package", "xtask"])?;
        build_release(&["--package", "agent-sensor", "--bin", "agent-sensor"])?;
    }
    let env = match &options.binaries {
        Some(dir) => Env::create_from(dir)?,
        None => Env::create()?,
    };
    let seconds = options.seconds.unwrap_or(options.minutes * 60);
    let triggers = seconds * 1000 / TRIGGER_INTERVAL_MS + 10;
    let trigger_dir = env.create_trigger_files(triggers)?;
    let file = env.work.join("load-file");
    fs::write(&file, b"agent-sensor soak\n").with_context(|| format!("creating {}", file.display()))?;

    let received = Arc::new(Mutex::new(BTreeSet::new()));
    let mut receiver = Receiver::start(0, received.clone())?;
    let alerts = env.root.join("soak-alerts.jsonl");
    let config = env.root.join("soak.yaml");
    fs::write(
        &config,
        format!(
            "alerts:\n  fold: {{window_ms: 0}}\noutputs:\n  - name: siem\n    type: http\n    format: elasticsearch\n\
             \x20   url: http://127.0.0.1:{}/_bulk\n    retry_initial_ms: 200\n    retry_max_seconds: 5\n\
             \x20   shutdown_timeout_seconds: 60\n",
            receiver.port
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let out = env.root.join("soak-load.json");
    let command = LoadRun {
        file: &file,
        out: &out,
        seconds: seconds as f64,
        rate: targets::LATENCY_RATE,
        workers: 1,
        trigger_dir: &trigger_dir,
        triggers,
        trigger_interval_ms: TRIGGER_INTERVAL_MS,
    }
    .command(&env);
    eprintln!(
        "soak: {} s at {} opens/s, receiver down {} s every {} s",
        seconds,
        targets::LATENCY_RATE,
        options.down_seconds,
        options.restart_every_seconds
    );
    let sensor = Sensor::watch(
        &env.sensor,
        &WatchSpec {
            isolation: Isolation {
                config: &config,
                state_dir: &env.state_dir,
                control_socket: env.control_socket.as_deref(),
            },
            events: Some(Path::new("/dev/null")),
            alerts: Alerts::File(alerts.clone()),
            home: &env.home,
            cwd: &env.work,
            command,
            extra_env: &[],
        },
    )?;
    let pid = sensor.pid;

    // Sample the sensor, and take the receiver down and up, until the load ends.
    let started = Instant::now();
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    let mut outages = 0;
    let mut next_sample = Duration::ZERO;
    let down = Duration::from_secs(options.down_seconds);
    let cycle = Duration::from_secs(options.restart_every_seconds.max(options.down_seconds + 10));
    let mut down_since: Option<Instant> = None;
    while running(pid) {
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            if let (Some(rss), Some(fds)) = (procfs::status_bytes(pid, "VmRSS"), open_fds(pid)) {
                samples.push((elapsed.as_secs_f64(), rss, fds));
            }
            next_sample += SAMPLE_EVERY;
        }
        match down_since {
            None if elapsed.as_secs() < seconds
                && elapsed >= Duration::from_secs(options.restart_every_seconds) + cycle * outages =>
            {
                receiver.stop();
                down_since = Some(Instant::now());
                outages += 1;
                eprintln!("soak: {:>4.0} s receiver stopped", elapsed.as_secs_f64());
            }
            Some(since) if since.elapsed() >= down => {
                receiver = Receiver::start(receiver.port, received.clone())?;
                down_since = None;
                eprintln!("soak: {:>4.0} s receiver started again", elapsed.as_secs_f64());
            }
            _ => {}
        }
        thread::sleep(Duration::from_millis(200));
    }
    if down_since.is_some() {
        receiver = Receiver::start(receiver.port, received.clone())?;
    }
    let finished = sensor.wait(Duration::from_secs(600))?;
    receiver.stop();
    if !finished.status.success() {
        bail!("the sensor failed ({}):\n{}", finished.status, finished.log_tail());
    }

    let result: Value =
        serde_json::from_str(&fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?)
            .context("parsing the load results")?;
    let opens: u64 = result["workers"]
        .as_array()
        .map(|workers| workers.iter().map(|w| w["opens"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    let reads = result["triggers"].as_array().map_or(0, Vec::len);
    let in_file: BTreeSet<String> = fs::read_to_string(&alerts)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|alert| alert.pointer("/rule/id").and_then(Value::as_str) == Some(super::load::TIMED_RULE))
        .filter_map(|alert| alert.pointer("/event/id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let delivered = received.lock().map(|set| set.clone()).unwrap_or_default();
    let totals = finished.totals.unwrap_or_default();

    println!("soak: {seconds} s, {outages} receiver outages");
    println!(
        "load: {opens} opens ({:.0}/s), {reads} credential reads",
        opens as f64 / seconds as f64
    );
    println!(
        "kernel: emitted {}, ring buffer full {}, priority ring full {}, repeats counted {}",
        totals.get("kernel_emitted"),
        totals.get("ring_buffer_full"),
        totals.get("priority_ring_full"),
        totals.get("repeats_counted")
    );
    println!(
        "alerts: {} in the file (lost {}), {} of them at the receiver (lost {})",
        in_file.len(),
        reads.saturating_sub(in_file.len()),
        in_file.intersection(&delivered).count(),
        in_file.difference(&delivered).count()
    );
    for line in finished.log.iter().filter(|line| line.contains("output closed")) {
        println!("output: {}", line.split("output closed").nth(1).unwrap_or("").trim());
    }
    println!("  seconds   RSS MiB   fds");
    for (at, rss, fds) in &samples {
        println!("  {at:>7.0}   {:>7.1}   {fds:>3}", *rss as f64 / (1 << 20) as f64);
    }
    // The slope after the first minute (start-up and the first allocations settle).
    let settled: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(at, _, _)| *at >= 60.0)
        .map(|(at, rss, _)| (*at, *rss as f64))
        .collect();
    match slope(&settled) {
        Some(per_second) => println!(
            "RSS slope after the first minute: {:+.2} MiB/hour",
            per_second * 3600.0 / (1 << 20) as f64
        ),
        None => println!("RSS slope: too few samples"),
    }
    // Descriptors once running (the first sample is taken while the sensor starts).
    let fds: Vec<usize> = samples.iter().skip(1).map(|(_, _, fds)| *fds).collect();
    let (fewest, most) = (
        fds.iter().copied().min().unwrap_or(0),
        fds.iter().copied().max().unwrap_or(0),
    );
    println!("fds: min {fewest}, max {most}");

    let mut failures = Vec::new();
    let lost_in_file = reads.saturating_sub(in_file.len());
    let lost_at_receiver = in_file.difference(&delivered).count();
    if reads == 0 {
        failures.push("the load made no credential read".to_string());
    }
    if lost_in_file + lost_at_receiver > 0 {
        failures.push(format!(
            "alerts lost: {lost_in_file} in the file, {lost_at_receiver} at the receiver"
        ));
    }
    let drops = totals.get("ring_buffer_full") + totals.get("priority_ring_full");
    if drops > 0 {
        failures.push(format!("the kernel dropped {drops} records"));
    }
    if most > fewest + FD_SLACK {
        failures.push(format!("open descriptors grew from {fewest} to {most}"));
    }
    if !failures.is_empty() {
        bail!("the soak failed: {}", failures.join("; "));
    }
    Ok(())
}

/// Whether `pid` runs (an exited child not yet reaped, a zombie, does not).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Open file descriptors of `pid`.
fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mean_x, mean_y) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let covariance: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (variance > 0.0).then(|| covariance / variance)
}

/// A minimal `_bulk` receiver on 127.0.0.1: answers 200 and keeps the `event.id` of every
/// document. Stopping it closes its connections and frees the port.
struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, received: Arc<Mutex<BTreeSet<String>>>) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).context("binding the soak receiver")?;
        let port = listener.local_addr().context("the receiver's address")?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, connections) = (stop.clone(), connections.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let (Ok(clone), Ok(mut list)) = (stream.try_clone(), connections.lock()) {
                        list.push(clone);
                    }
                    let received = received.clone();
                    thread::spawn(move || serve(stream, &received));
                }
            })
        };
        Ok(Self {
            port,
            stop,
            connections,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Ok(mut list) = self.connections.lock() {
            for connection in list.drain(..) {
                let _ = connection.shutdown(Shutdown::Both);
            }
        }
    }
}

fn serve(stream: TcpStream, received: &Mutex<BTreeSet<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let ids = String::from_utf8_lossy(&body)
            .lines()
            .skip(1)
            .step_by(2)
            .filter_map(|doc| serde_json::from_str::<Value>(doc).ok())
            .filter_map(|doc| doc.pointer("/event/id").and_then(Value::as_str).map(str::to_string))
            .collect::<Vec<_>>();
        if let Ok(mut set) = received.lock() {
            set.extend(ids);
        }
        let answer = r#"{"took":1,"errors":false,"items":[]}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
