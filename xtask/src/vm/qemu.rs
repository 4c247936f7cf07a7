//! Booting one kernel with the initramfs in QEMU (TCG: KVM hung on these machines), streaming the
//! console with the kernel's version in front, saving it, and reading the test's exit status from
//! the sentinel line `/init` prints.

use std::{
    env,
    fs::{self, File},
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::kernels::Kernel;
use crate::cmd;

const SENTINEL: &str = "AGENT_SENSOR_VM_RESULT=";
/// Seconds one boot may take, tests included, before QEMU is killed.
const TIMEOUT_VARIABLE: &str = "AGENT_SENSOR_VM_TIMEOUT";
/// One guest runs four targets in about 20 minutes under one emulator thread on an idle 2-core
/// machine; beside the host's tests (`cargo xtask test`) it shares the cores, and a loaded machine
/// took over 40 minutes.
const DEFAULT_TIMEOUT: u64 = 60 * 60;
const KERNEL_ARGS: &str = "console=ttyS0 lsm=lockdown,capability,landlock,bpf panic=-1 quiet";
/// Extra kernel command-line arguments, for debugging a boot (`loglevel=7`, …).
const EXTRA_ARGS_VARIABLE: &str = "AGENT_SENSOR_VM_KERNEL_ARGS";

pub struct Outcome {
    /// The test binary's exit status, from the sentinel.
    pub status: Option<i32>,
    pub seconds: f64,
    /// Why the boot itself failed (QEMU would not start, timed out, …).
    pub error: Option<String>,
}

impl Outcome {
    pub fn failed(error: &str) -> Self {
        Self {
            status: None,
            seconds: 0.0,
            error: Some(error.to_string()),
        }
    }

    pub fn passed(&self) -> bool {
        self.error.is_none() && self.status == Some(0)
    }

    pub fn describe(&self) -> String {
        match (&self.error, self.status) {
            (Some(error), _) => error.clone(),
            (None, Some(0)) => "tests passed".to_string(),
            (None, Some(status)) => format!("the test binary exited with {status}"),
            (None, None) => format!("no {SENTINEL} line: the guest stopped before the tests finished"),
        }
    }
}

/// Boots `kernel`; the console goes to the terminal and to `<log_dir>/console.log`.
pub fn boot(kernel: &Kernel, initrd: &Path, log_dir: &Path) -> Outcome {
    boot_with_timeout(kernel, initrd, log_dir, None)
}

/// [`boot`] with a time limit of the caller's (else `AGENT_SENSOR_VM_TIMEOUT` or 60 minutes).
pub fn boot_with_timeout(kernel: &Kernel, initrd: &Path, log_dir: &Path, limit: Option<Duration>) -> Outcome {
    let started = Instant::now();
    let mut attempt = 1;
    let (status, error) = loop {
        let (status, error) = match run(kernel, initrd, log_dir, limit) {
            Ok((status, error)) => (status, error),
            Err(error) => (None, Some(format!("{error:#}"))),
        };
        // A guest killed by the emulator rather than by the sensor boots again (the console
        // logs of the earlier attempts are kept beside the last one's).
        let console = log_dir.join("console.log");
        if status.is_none()
            && attempt < BOOT_ATTEMPTS
            && let Some(why) = fs::read_to_string(&console).ok().as_deref().and_then(emulation_death)
        {
            let _ = fs::copy(&console, log_dir.join(format!("console-attempt-{attempt}.log")));
            eprintln!(
                "vm-test: Linux {} {why}; booting it again (attempt {} of {BOOT_ATTEMPTS})",
                kernel.version,
                attempt + 1
            );
            attempt += 1;
            continue;
        }
        break (status, error);
    };
    Outcome {
        status,
        seconds: started.elapsed().as_secs_f64(),
        error,
    }
}

/// Boots of one kernel when the emulator, not the sensor, kills it.
const BOOT_ATTEMPTS: u32 = 3;

/// Why the guest whose console says `console` died of the emulator, if it did: it never reached
/// the lab's init (its `vm: Linux` line), or it died of an `int3` oops. Under multi-threaded TCG
/// a CPU now and then runs a stale copy of kernel code the other CPU is patching (jump labels
/// flip whenever tracepoints attach or detach), and the kernel takes the stray `int3` for a bug.
fn emulation_death(console: &str) -> Option<&'static str> {
    if !console.contains("vm: Linux") {
        Some("died while booting, before the tests started")
    } else if console.contains("Oops: int3") {
        Some("died of an int3 oops (the emulator ran code the kernel was patching)")
    } else {
        None
    }
}

fn timeout() -> Result<Duration> {
    match env::var(TIMEOUT_VARIABLE) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Duration::from_secs)
            .with_context(|| format!("{TIMEOUT_VARIABLE}={value:?} is not a number of seconds")),
        Err(_) => Ok(Duration::from_secs(DEFAULT_TIMEOUT)),
    }
}

/// Returns the sentinel's status and, when QEMU had to be killed, why.
fn run(
    kernel: &Kernel,
    initrd: &Path,
    log_dir: &Path,
    limit: Option<Duration>,
) -> Result<(Option<i32>, Option<String>)> {
    let timeout = match (limit, env::var(TIMEOUT_VARIABLE).is_ok()) {
        (Some(limit), false) => limit,
        _ => timeout()?,
    };
    fs::create_dir_all(log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join("console.log");
    let log = File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;

    let mut command = Command::new("qemu-system-x86_64");
    command
        // One host thread runs both CPUs. With a thread per CPU (QEMU's default, about 1.2 to
        // 1.4 times as fast here) the guest died of an `int3` oops in three of five long boots
        // (see `emulation_death`): too often to pay for the speed with retries.
        .args(["-accel", "tcg,thread=single", "-cpu", "max", "-m", "2048", "-smp", "2"])
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-nographic", "-no-reboot", "-nic", "none", "-append"])
        .arg(match std::env::var(EXTRA_ARGS_VARIABLE) {
            Ok(extra) if !extra.trim().is_empty() => format!("{KERNEL_ARGS} {}", extra.trim()),
            _ => KERNEL_ARGS.to_string(),
        });
    eprintln!("+ {}", cmd::describe(&command));
    // One pipe for both streams keeps QEMU's own messages in order with the console's.
    let (reader, writer) = std::io::pipe().context("cannot create a pipe for QEMU's output")?;
    let writer_for_errors = writer.try_clone().context("cannot duplicate a pipe")?;
    command.stdin(Stdio::null()).stdout(writer).stderr(writer_for_errors);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd::describe(&command)))?;
    // The parent's ends of the pipe go with the command, so the reader sees the end when QEMU exits.
    drop(command);

    let prefix = format!("[{}] ", kernel.version);
    let console = thread::spawn(move || stream(reader, log, &prefix));

    let started = Instant::now();
    let mut killed = None;
    loop {
        if child.try_wait().context("cannot wait for QEMU")?.is_some() {
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            killed = Some(format!(
                "killed after {} s (set {TIMEOUT_VARIABLE} for more)",
                timeout.as_secs()
            ));
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    let status = console
        .join()
        .map_err(|_| anyhow::anyhow!("the console reader panicked"))?;
    Ok((status, killed))
}

/// Copies the console line by line to the terminal (prefixed) and the log; returns the status on
/// the last sentinel line.
fn stream(reader: impl std::io::Read, mut log: File, prefix: &str) -> Option<i32> {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let mut status = None;
    let stdout = std::io::stdout();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = printable(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']));
        let _ = writeln!(log, "{text}");
        let _ = writeln!(stdout.lock(), "{prefix}{text}");
        if let Some(at) = text.rfind(SENTINEL) {
            let digits: String = text[at + SENTINEL.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            status = digits.parse().ok().or(status);
        }
    }
    status
}

/// `text` without terminal escapes and control characters (the firmware clears the screen).
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter; other escapes are two characters.
            if chars.next_if_eq(&'[').is_some() {
                while chars.next().is_some_and(|c| !c.is_ascii_alphabetic() && c != '~') {}
            } else {
                chars.next();
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deaths_of_the_emulator_boot_again() {
        assert!(emulation_death("SeaBIOS\nBooting from ROM...\n").is_some());
        assert!(emulation_death("vm: Linux 6.12\ntest x ... [  291.8] Oops: int3: 0000 [#1]").is_some());
        assert_eq!(emulation_death("vm: Linux 6.12\ntest x ... FAILED\n"), None);
        assert_eq!(
            emulation_death("vm: Linux 6.12\n[ 12.0] Oops: general protection fault"),
            None
        );
    }

    #[test]
    fn escapes_are_removed_from_console_lines() {
        assert_eq!(printable("\x1bc\x1b[?7lSeaBIOS\x1b[2J ok\t1"), "SeaBIOS ok\t1");
    }
}
