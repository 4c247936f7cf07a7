//! The work the benchmark measures, run as `xtask __bench-workload` (built in release): the same
//! code in every variant, with or without a sensor or auditd beside it. Each loop times itself, so
//! starting and stopping a sensor is never part of a figure. Results go to a JSON file, never to
//! standard output (under `watch`, standard output carries the alerts).

use std::{
    fs::{self, File},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::procfs;

/// The syscall loops of the overhead measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loop {
    /// `openat` + `close` of an existing file.
    OpenClose,
    /// `fork`/`exec` of /bin/true and `wait` (std's spawn: clone + execve).
    ForkExec,
    /// `socket` + `connect` to a listener on 127.0.0.1, `accept`, and `close` of both ends.
    ConnectClose,
    /// `openat(O_CREAT|O_TRUNC)` + `close` + `unlink` of a file.
    CreateUnlink,
}

impl Loop {
    pub const ALL: [Loop; 4] = [Loop::OpenClose, Loop::ForkExec, Loop::ConnectClose, Loop::CreateUnlink];

    pub fn name(self) -> &'static str {
        match self {
            Loop::OpenClose => "open-close",
            Loop::ForkExec => "fork-exec",
            Loop::ConnectClose => "connect-close",
            Loop::CreateUnlink => "create-unlink",
        }
    }

    /// The label used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Loop::OpenClose => "open/close",
            Loop::ForkExec => "fork+exec /bin/true",
            Loop::ConnectClose => "connect/close (loopback)",
            Loop::CreateUnlink => "create+unlink",
        }
    }

    pub fn parse(name: &str) -> Option<Loop> {
        Loop::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

#[derive(Debug, Args)]
pub struct WorkloadArgs {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run each loop a given number of times (or for a given time) and report ns per operation.
    Loops(LoopArgs),
    /// Open a file as fast as allowed for a while, from worker processes, with credential reads
    /// now and then whose alerts the bench times.
    Load(LoadArgs),
    /// One load worker (started by `load`).
    LoadWorker(WorkerArgs),
    /// Run the realistic pieces (reset, then timed run) and report seconds per piece.
    Realistic(super::realistic::runner::RealisticArgs),
    /// Open a file COUNT times (checks that audit rules record the workload).
    Verify {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        loginuid: Option<u32>,
    },
}

#[derive(Debug, Args)]
struct LoopArgs {
    /// A scratch directory the loops may use.
    #[arg(long)]
    dir: PathBuf,
    /// Where to write the results (JSON).
    #[arg(long)]
    out: PathBuf,
    /// `LOOP=N`, repeatable: run LOOP for N iterations. Loop names: open-close, fork-exec,
    /// connect-close, create-unlink.
    #[arg(long = "iterations", value_name = "LOOP=N")]
    iterations: Vec<String>,
    /// Instead of fixed counts, run every loop for this many seconds (calibration).
    #[arg(long)]
    calibrate_seconds: Option<f64>,
    /// Stop a loop after this many seconds even if it has not finished its iterations.
    #[arg(long, default_value_t = 60.0)]
    max_seconds: f64,
    /// Write this audit login uid to /proc/self/loginuid first (what the audit rules filter on).
    #[arg(long)]
    loginuid: Option<u32>,
    /// Move this process into this cgroup (its `cgroup.procs`) first.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// A collector process (sensor, auditd, kauditd) to wait for between loops and whose CPU time
    /// per operation is reported (repeatable).
    #[arg(long = "collector-pid")]
    collector_pids: Vec<u32>,
    /// The parent process is a collector (the sensor, under `watch`).
    #[arg(long)]
    collector_parent: bool,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The file the workers open.
    #[arg(long)]
    file: PathBuf,
    /// Where to write the results (JSON).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    seconds: f64,
    /// Opens per second over all workers; 0: as fast as they can.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// A directory of files named `bench-key-N` (under ~/.ssh: reading one raises an alert).
    #[arg(long)]
    triggers: PathBuf,
    /// How many trigger files there are.
    #[arg(long)]
    trigger_count: u64,
    /// Milliseconds between two trigger reads.
    #[arg(long, default_value_t = 10)]
    trigger_interval_ms: u64,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[arg(long)]
    file: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    seconds: f64,
    /// Opens per second; 0: as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

pub fn run(args: WorkloadArgs) -> Result<()> {
    match args.mode {
        Mode::Loops(args) => loops(&args),
        Mode::Load(args) => load(&args),
        Mode::LoadWorker(args) => worker(&args),
        Mode::Realistic(args) => super::realistic::runner::run(&args),
        Mode::Verify { file, count, loginuid } => {
            if let Some(uid) = loginuid {
                set_loginuid(uid)?;
            }
            for _ in 0..count {
                drop(File::open(&file).with_context(|| format!("opening {}", file.display()))?);
            }
            Ok(())
        }
    }
}

fn set_loginuid(uid: u32) -> Result<()> {
    fs::write("/proc/self/loginuid", uid.to_string()).context("setting the audit login uid (/proc/self/loginuid)")
}

fn loops(args: &LoopArgs) -> Result<()> {
    if let Some(uid) = args.loginuid {
        set_loginuid(uid)?;
    }
    if let Some(cgroup) = &args.cgroup {
        fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())
            .with_context(|| format!("moving into cgroup {}", cgroup.display()))?;
    }
    let mut collectors = args.collector_pids.clone();
    if args.collector_parent {
        collectors.push(std::os::unix::process::parent_id());
    }
    let mut plan: Vec<(Loop, u64)> = Vec::new();
    if args.calibrate_seconds.is_some() {
        plan = Loop::ALL.iter().map(|&kind| (kind, u64::MAX)).collect();
    }
    for spec in &args.iterations {
        let (name, count) = spec
            .split_once('=')
            .with_context(|| format!("`{spec}` is not LOOP=N"))?;
        let kind = Loop::parse(name).with_context(|| format!("no loop named `{name}`"))?;
        let count: u64 = count.parse().with_context(|| format!("`{count}` is not a count"))?;
        plan.push((kind, count));
    }
    let limit = Duration::from_secs_f64(args.calibrate_seconds.unwrap_or(args.max_seconds));
    let tick_ns = 1e9 / procfs::ticks_per_second() as f64;

    let mut results = serde_json::Map::new();
    for (kind, iterations) in plan {
        settle(&collectors);
        let ticks_before = procfs::cpu_ticks_of(&collectors);
        let bpf_before = bpf_run_time(&collectors);
        let measured = measure(kind, &args.dir, iterations, limit)?;
        let bpf_after = bpf_run_time(&collectors);
        settle(&collectors);
        let ticks_after = procfs::cpu_ticks_of(&collectors);
        let bpf_ns = match (bpf_before, bpf_after) {
            (Some(before), Some(after)) if after > before => {
                Some(after.saturating_sub(before) as f64 / measured.iterations.max(1) as f64)
            }
            _ => None,
        };
        let ns_per_op = measured.elapsed.as_nanos() as f64 / measured.iterations.max(1) as f64;
        let collector_ns = (!collectors.is_empty())
            .then(|| ticks_after.saturating_sub(ticks_before) as f64 * tick_ns / measured.iterations.max(1) as f64);
        results.insert(
            kind.name().to_string(),
            json!({
                "iterations": measured.iterations,
                "ns_per_op": ns_per_op,
                "completed": measured.iterations >= iterations,
                "collector_ns_per_op": collector_ns,
                "bpf_ns_per_op": bpf_ns,
            }),
        );
    }
    write_json(&args.out, &Value::Object(results))
}

struct Measured {
    iterations: u64,
    elapsed: Duration,
}

/// Runs `kind` `iterations` times (after a short warm-up), or until `limit` has passed.
fn measure(kind: Loop, dir: &Path, iterations: u64, limit: Duration) -> Result<Measured> {
    let op = Operation::new(kind, dir)?;
    // Warm up: at most 500 operations or 100 ms.
    let warm_up = Instant::now();
    for _ in 0..(iterations / 50).clamp(1, 500) {
        op.once()?;
        if warm_up.elapsed() >= Duration::from_millis(100) {
            break;
        }
    }
    let start = Instant::now();
    let mut done = 0u64;
    while done < iterations {
        op.once()?;
        done += 1;
        if done.is_multiple_of(16) && start.elapsed() >= limit {
            break;
        }
    }
    let elapsed = start.elapsed();
    Ok(Measured {
        iterations: done,
        elapsed,
    })
}

/// One loop's state: its paths, or its listener.
struct Operation {
    kind: Loop,
    path: PathBuf,
    listener: Option<Listener>,
}

struct Listener {
    listener: TcpListener,
    address: SocketAddr,
}

impl Operation {
    fn new(kind: Loop, dir: &Path) -> Result<Self> {
        let path = match kind {
            Loop::OpenClose => {
                let path = dir.join("bench-file");
                fs::write(&path, b"agent-sensor benchmark\n")
                    .with_context(|| format!("creating {}", path.display()))?;
                path
            }
            _ => dir.join("bench-created"),
        };
        let listener = match kind {
            Loop::ConnectClose => Some(Listener::start()?),
            _ => None,
        };
        Ok(Self { kind, path, listener })
    }

    fn once(&self) -> Result<()> {
        match self.kind {
            Loop::OpenClose => {
                drop(File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?)
            }
            Loop::ForkExec => {
                let status = Command::new("/bin/true").status().context("running /bin/true")?;
                if !status.success() {
                    bail!("/bin/true failed: {status}");
                }
            }
            Loop::ConnectClose => self
                .listener
                .as_ref()
                .context("the listener is not running")?
                .connect_once()?,
            Loop::CreateUnlink => {
                drop(File::create(&self.path).with_context(|| format!("creating {}", self.path.display()))?);
                fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))?;
            }
        }
        Ok(())
    }
}

impl Listener {
    fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("listening on 127.0.0.1")?;
        let address = listener.local_addr().context("the listener's address")?;
        Ok(Self { listener, address })
    }

    /// Connects, accepts, closes both ends. Accepting in the same thread keeps the listen queue
    /// from overflowing (an overflow drops the SYN and the client waits a second to resend it).
    fn connect_once(&self) -> Result<()> {
        let client = TcpStream::connect(self.address).with_context(|| format!("connecting to {}", self.address))?;
        let (server, _) = self.listener.accept().context("accepting on 127.0.0.1")?;
        drop(client);
        drop(server);
        Ok(())
    }
}

/// The run time of the collectors' BPF programs, when they have any.
fn bpf_run_time(collectors: &[u32]) -> Option<u64> {
    collectors
        .iter()
        .filter_map(|&pid| procfs::bpf_run_time_ns(pid))
        .reduce(|a, b| a + b)
}

/// Waits until the collectors' CPU time stops growing (they have caught up with what the last
/// loop produced), at most 20 s.
pub(super) fn settle(collectors: &[u32]) {
    if collectors.is_empty() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = procfs::cpu_ticks_of(collectors);
    let mut quiet = 0;
    while quiet < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        let now = procfs::cpu_ticks_of(collectors);
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string(value).context("serializing results")?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The load generator: workers open a file as fast as allowed; this process reads a credential
/// file every few milliseconds, noting the time just before each read.
fn load(args: &LoadArgs) -> Result<()> {
    let exe = std::env::current_exe().context("finding the workload's executable")?;
    let sensor = std::os::unix::process::parent_id();
    let ticks_start = procfs::cpu_ticks(sensor);
    let start_ns = procfs::realtime_ns();
    let workers = args.workers.max(1);
    let mut children = Vec::new();
    for index in 0..workers {
        let out = args.out.with_extension(format!("worker{index}.json"));
        let child = Command::new(&exe)
            .args(["__bench-workload", "load-worker", "--file"])
            .arg(&args.file)
            .arg("--out")
            .arg(&out)
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--rate", &(args.rate / u64::from(workers)).to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context("starting a load worker")?;
        children.push((child, out));
    }

    let started = Instant::now();
    let duration = Duration::from_secs_f64(args.seconds);
    let interval = Duration::from_millis(args.trigger_interval_ms.max(1));
    let mut triggers: Vec<u128> = Vec::new();
    while started.elapsed() < duration && (triggers.len() as u64) < args.trigger_count {
        let path = args.triggers.join(format!("bench-key-{}", triggers.len()));
        let before = procfs::realtime_ns();
        drop(File::open(&path).with_context(|| format!("opening {}", path.display()))?);
        triggers.push(before);
        let next = interval * triggers.len() as u32;
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
    }

    let mut opens = Vec::new();
    for (mut child, out) in children {
        let status = child.wait().context("waiting for a load worker")?;
        if !status.success() {
            bail!("a load worker failed: {status}");
        }
        let text = fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        let result: Value = serde_json::from_str(&text).context("a worker's results")?;
        opens.push(result);
    }
    let end_ns = procfs::realtime_ns();
    write_json(
        &args.out,
        &json!({
            "start_ns": start_ns.to_string(),
            "end_ns": end_ns.to_string(),
            "sensor_pid": sensor,
            "sensor_ticks_start": ticks_start,
            "workers": opens,
            "triggers": triggers.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        }),
    )
}

fn worker(args: &WorkerArgs) -> Result<()> {
    let duration = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut opens = 0u64;
    let open = |opens: &mut u64| -> Result<()> {
        drop(File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?);
        *opens += 1;
        Ok(())
    };
    if args.rate == 0 {
        loop {
            for _ in 0..256 {
                open(&mut opens)?;
            }
            if start.elapsed() >= duration {
                break;
            }
        }
    } else {
        // Paced: catch up with `rate` every millisecond, then sleep.
        loop {
            let elapsed = start.elapsed();
            if elapsed >= duration {
                break;
            }
            let due = (elapsed.as_secs_f64() * args.rate as f64) as u64;
            while opens < due {
                open(&mut opens)?;
            }
            thread::sleep(Duration::from_micros(500));
        }
    }
    let elapsed = start.elapsed();
    write_json(
        &args.out,
        &json!({"opens": opens, "elapsed_ns": elapsed.as_nanos().to_string()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_names_round_trip() {
        for kind in Loop::ALL {
            assert_eq!(Loop::parse(kind.name()), Some(kind));
        }
        assert_eq!(Loop::parse("nothing"), None);
    }
}
