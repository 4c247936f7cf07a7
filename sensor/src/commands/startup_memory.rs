//! Handing start-up memory back once the sensor runs: the allocator's free memory
//! (`malloc_trim`), and the pages of the sensor's own executable that start-up read and the
//! event loop does not need (the embedded kernel programs, rule packs and country data, the
//! loader's code): they are clean copies of the file, so dropping them from the process costs
//! nothing but a page-cache fault for the ones used again.

/// Sets the allocator up for a long-running daemon, before start-up allocates: blocks of 256 KiB
/// and more are mapped apart and unmapped when freed. glibc otherwise raises that threshold to
/// the largest block freed so far, and start-up's large transient blocks (BTF tables, the
/// compiled automata's builders, the programs' object) then end up in the heap, where freeing
/// them leaves holes the allocator keeps. The hot path allocates nothing (rules/quiet_events.rs),
/// so the mapped blocks cost nothing per event.
pub fn bound_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Hands the allocator's free memory back between start-up steps, so that one step's transient
/// memory is not still held while the next allocates its own.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Releases what start-up used, and logs start-up's peak (`peak`: `VmHWM` before the ring
/// buffers were mapped, `Capture::peak_before_rings`).
pub fn release(peak: Option<u64>) {
    trim_heap();
    let released = release_executable_pages();
    tracing::info!(
        peak_rss_bytes = peak.unwrap_or(0),
        released_bytes = released,
        "start-up memory: the peak before the ring buffers were mapped, and what was handed back"
    );
}

/// Drops the resident pages of the executable's read-only mappings that hold nothing but clean
/// copies of the file (code and constants); returns how many bytes those mappings span.
/// Writable mappings (data, bss) and read-only ones the loader wrote before protecting them
/// (RELRO: relocated pointers) are never touched: `MADV_DONTNEED` would reset them to the file.
fn release_executable_pages() -> usize {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return 0;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let exe = exe.to_string_lossy();
    read_only_ranges(&maps, &exe)
        .map(|(start, end)| {
            // SAFETY: the range is a read-only private mapping of the executable file with no
            // page written since it was mapped: dropping its pages only makes the next access
            // fault them in again from the page cache.
            let result = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
            if result == 0 { end - start } else { 0 }
        })
        .sum()
}

/// The address ranges of the clean read-only mappings of `path` in a `/proc/PID/smaps` text:
/// private, not writable, with no anonymous page (a page the process wrote becomes its own copy,
/// as RELRO's are for the loader). Dirty pages otherwise are the page cache's (a binary just
/// built, not yet on disk), which dropping leaves as they are.
fn read_only_ranges<'a>(smaps: &'a str, path: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut blocks = Vec::new();
    for line in smaps.lines() {
        let starts_mapping = line
            .split_whitespace()
            .next()
            .is_some_and(|first| first.contains('-') && !first.ends_with(':'));
        if starts_mapping {
            blocks.push((line, true));
        } else if let Some((_, clean)) = blocks.last_mut() {
            let mut fields = line.split_whitespace();
            let key = fields.next().unwrap_or_default();
            let value = fields.next().unwrap_or_default();
            if key == "Anonymous:" && value != "0" {
                *clean = false;
            }
        }
    }
    blocks.into_iter().filter_map(move |(header, clean)| {
        let mut fields = header.split_whitespace();
        let range = fields.next()?;
        let perms = fields.next()?;
        let name = fields.nth(3)?;
        if !clean || name != path || perms.as_bytes().get(1) != Some(&b'-') || !perms.ends_with('p') {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        Some((
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_private_mappings_of_the_executable_are_chosen() {
        let maps = "\
55d0c0000000-55d0c0100000 r--p 00000000 08:01 42 /usr/bin/agent-sensor
Rss:                1024 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0c0100000-55d0c0900000 r-xp 00100000 08:01 42 /usr/bin/agent-sensor
Private_Dirty:      7808 kB
Anonymous:             0 kB
55d0c0900000-55d0c0950000 r--p 00900000 08:01 42 /usr/bin/agent-sensor
Private_Dirty:       320 kB
Anonymous:           320 kB
Private_Dirty:       320 kB
55d0c0950000-55d0c0a00000 rw-p 00950000 08:01 42 /usr/bin/agent-sensor
Private_Dirty:         0 kB
55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 43 /usr/lib/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";
        let ranges: Vec<_> = read_only_ranges(maps, "/usr/bin/agent-sensor").collect();
        assert_eq!(
            ranges,
            [(0x55d0c0000000, 0x55d0c0100000), (0x55d0c0100000, 0x55d0c0900000)]
        );
    }

    /// Dropping the loader's relocated pages (RELRO) would crash the next call through them:
    /// after the release, calls into libc, through trait objects and into code not run before
    /// still work.
    #[test]
    fn releasing_keeps_the_process_running() {
        release(Some(1));
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        assert!(stat.contains(&format!("{} (", std::process::id())), "{stat}");
        let shown: Box<dyn std::fmt::Display> = Box::new(0x2au8);
        assert_eq!(format!("{shown}"), "42");
    }
}
