//! Thresholds counted in the kernel, so the Nth matching operation is the one acted on: a sliding
//! window of at most `MAX_THRESHOLD` entries per session and rule (the value is the path hash for
//! distinct counts; a repeated value refreshes its time instead of counting twice).

use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_ktime_get_boot_ns, generated::bpf_loop},
    macros::map,
    maps::LruHashMap,
};
use sensor_common::policy::{MAX_THRESHOLD, PolicyRule, RULE_DISTINCT};

use crate::bounds::bounded;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CountKey {
    pub session: u64,
    pub rule: u32,
    pub reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CountWindow {
    /// Boot-time ns of each counted operation; 0 marks a free entry.
    pub times: [u64; MAX_THRESHOLD],
    pub values: [u64; MAX_THRESHOLD],
    /// State of the scan of the entries (in map memory, see `path_key`).
    scan: WindowScan,
}

/// Kernel threshold windows, per session and rule.
#[map]
pub static COUNTS: LruHashMap<CountKey, CountWindow> = LruHashMap::with_max_entries(8_192, 0);

const EMPTY: CountWindow = CountWindow {
    times: [0; MAX_THRESHOLD],
    values: [0; MAX_THRESHOLD],
    scan: WindowScan {
        now: 0,
        window_ns: 0,
        value: 0,
        distinct: 0,
        refreshed: 0,
        free: 0,
        oldest: 0,
        oldest_at: 0,
        counted: 0,
        reserved: 0,
    },
};

/// Counts one matching operation; true when it is the `rule.threshold`th within the window (the
/// window then starts again from zero).
#[inline(always)]
pub fn reached(session: u64, slot: u32, rule: &PolicyRule, value: u64) -> bool {
    let key = CountKey {
        session,
        rule: slot,
        reserved: 0,
    };
    let window = match COUNTS.get_ptr_mut(&key) {
        Some(window) => window,
        None => {
            if COUNTS.insert(&key, &EMPTY, 0).is_err() {
                return false;
            }
            match COUNTS.get_ptr_mut(&key) {
                Some(window) => window,
                None => return false,
            }
        }
    };
    let mut ctx = window;
    let window = unsafe { &mut *window };
    window.scan = WindowScan {
        now: unsafe { bpf_ktime_get_boot_ns() },
        window_ns: rule.window_ns,
        value,
        distinct: (rule.flags & RULE_DISTINCT != 0) as u32,
        refreshed: 0,
        free: MAX_THRESHOLD as u32,
        oldest: 0,
        oldest_at: 0,
        counted: 0,
        reserved: 0,
    };
    unsafe {
        bpf_loop(
            MAX_THRESHOLD as u32,
            entry_step as *mut c_void,
            &mut ctx as *mut *mut CountWindow as *mut c_void,
            0,
        );
    }
    let mut scan = window.scan;
    if scan.refreshed == 0 {
        let slot = if (scan.free as usize) < MAX_THRESHOLD {
            scan.counted += 1;
            scan.free
        } else {
            scan.oldest
        } as usize;
        let slot = bounded(slot, MAX_THRESHOLD - 1);
        window.times[slot] = scan.now;
        window.values[slot] = value;
    }
    if scan.counted >= rule.threshold {
        *window = EMPTY;
        return true;
    }
    false
}

#[repr(C)]
#[derive(Clone, Copy)]
struct WindowScan {
    now: u64,
    window_ns: u64,
    value: u64,
    distinct: u32,
    refreshed: u32,
    /// First free entry (`MAX_THRESHOLD`: none).
    free: u32,
    oldest: u32,
    oldest_at: u64,
    /// Entries still inside the window.
    counted: u32,
    reserved: u32,
}

/// Ages out, refreshes and counts one entry of the window.
extern "C" fn entry_step(index: u64, ctx: *mut c_void) -> i64 {
    let window = unsafe { &mut **(ctx as *mut *mut CountWindow) };
    let scan = &mut window.scan;
    let i = bounded(index as usize, MAX_THRESHOLD - 1);
    let mut at = window.times[i];
    if at != 0 && scan.now.wrapping_sub(at) > scan.window_ns {
        window.times[i] = 0;
        at = 0;
    }
    if at == 0 {
        if scan.free as usize == MAX_THRESHOLD {
            scan.free = i as u32;
        }
        return 0;
    }
    if scan.distinct != 0 && scan.refreshed == 0 && window.values[i] == scan.value {
        window.times[i] = scan.now;
        at = scan.now;
        scan.refreshed = 1;
    }
    if scan.oldest_at == 0 || at < scan.oldest_at {
        scan.oldest = i as u32;
        scan.oldest_at = at;
    }
    scan.counted += 1;
    0
}
