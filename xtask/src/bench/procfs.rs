//! What /proc says about a process: CPU time and memory, for the collectors (the sensor, auditd)
//! the benchmark watches.

use std::{
    fs,
    time::{SystemTime, UNIX_EPOCH},
};

/// CPU time (user + system) of a process, in clock ticks; `None` once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The sum of [`cpu_ticks`] over processes; those that are gone count as zero.
pub fn cpu_ticks_of(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&pid| cpu_ticks(pid)).sum()
}

/// Clock ticks per second (`CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// A `kB` field of /proc/PID/status (`VmHWM`, `VmRSS`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Nanoseconds since the epoch (`CLOCK_REALTIME`): comparable between processes.
pub fn realtime_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0)
}

/// The pid of the kernel thread named `name` (`kauditd`), if there is one.
pub fn kernel_thread(name: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}

/// BPF maps a process holds open, from /proc/PID/fdinfo.
#[derive(Clone, Debug, Default)]
pub struct BpfMap {
    pub map_type: u32,
    pub key_size: u64,
    pub value_size: u64,
    pub max_entries: u64,
    /// Kernel memory charged to the map (`memlock`), in bytes.
    pub memlock: u64,
}

pub fn bpf_maps(pid: u32) -> Vec<BpfMap> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return Vec::new();
    };
    let mut maps = Vec::new();
    for entry in entries.flatten() {
        let Ok(info) = fs::read_to_string(entry.path()) else {
            continue;
        };
        if !info.contains("map_type:") {
            continue;
        }
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
                .unwrap_or(0)
        };
        maps.push(BpfMap {
            map_type: field("map_type") as u32,
            key_size: field("key_size"),
            value_size: field("value_size"),
            max_entries: field("max_entries"),
            memlock: field("memlock"),
        });
    }
    maps
}

/// Total run time of the BPF programs `pid` holds open (`run_time_ns` in /proc/PID/fdinfo, which
/// the kernel counts only while `kernel.bpf_stats_enabled` is 1); `None` when it holds none.
pub fn bpf_run_time_ns(pid: u32) -> Option<u64> {
    let entries = fs::read_dir(format!("/proc/{pid}/fdinfo")).ok()?;
    let mut total = None;
    for entry in entries.flatten() {
        let Ok(info) = fs::read_to_string(entry.path()) else {
            continue;
        };
        if !info.contains("prog_type:") {
            continue;
        }
        let run_time: u64 = info
            .lines()
            .find_map(|line| line.strip_prefix("run_time_ns:")?.trim().parse().ok())
            .unwrap_or(0);
        total = Some(total.unwrap_or(0) + run_time);
    }
    total
}

/// `kernel.bpf_stats_enabled`: whether the kernel times BPF programs.
pub fn bpf_stats_enabled() -> Option<bool> {
    let text = fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").ok()?;
    Some(text.trim() == "1")
}

pub fn set_bpf_stats(enabled: bool) -> std::io::Result<()> {
    fs::write("/proc/sys/kernel/bpf_stats_enabled", if enabled { "1" } else { "0" })
}

/// Resident memory of a process by kind, from /proc/PID/smaps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resident {
    /// BPF maps mapped into the process (`anon_inode:bpf-map`: the ring buffer), kernel memory
    /// shared with the kernel.
    pub bpf_maps: u64,
    /// Anonymous memory: heap, stacks.
    pub anonymous: u64,
    /// Files: the executable and libraries.
    pub files: u64,
}

impl Resident {
    pub fn total(&self) -> u64 {
        self.bpf_maps + self.anonymous + self.files
    }
}

pub fn resident(pid: u32) -> Option<Resident> {
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let mut resident = Resident::default();
    let mut kind = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping: address perms offset dev inode [name].
            let name = fields.nth(4).unwrap_or("");
            kind = if name == "anon_inode:bpf-map" {
                0
            } else if name.is_empty() || name.starts_with('[') {
                1
            } else {
                2
            };
        } else if first == "Rss:" {
            let bytes = fields.next().and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) * 1024;
            match kind {
                0 => resident.bpf_maps += bytes,
                1 => resident.anonymous += bytes,
                _ => resident.files += bytes,
            }
        }
    }
    Some(resident)
}
