//! Repeated identical operations are counted, not reported one by one: a thread that opens the
//! same file again and again (a polling loop, a flood) gets one record, then a `RepeatEvent`
//! with the count when it does something else, when the window ends, or when it exits. Rules
//! that count see exact counts (userspace replays the count onto the repeated event).
//!
//! Each thread has one slot: the last open it did. A repeat within the window is counted; when
//! the policy judged the file clean under the current policy generation (and no rule for the
//! operation counts events), the repeat is not judged again either.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::map, maps::LruHashMap};
use sensor_common::{
    event::{EVENT_CONNECT, EVENT_OPEN, EVENT_REPEAT, RepeatEvent},
    maps::Counter,
};

use crate::{
    counters::count,
    record::{Ring, fill_header_at, now, output_fixed},
    settings,
};

/// The repeat class of datagrams sent to one destination (the low byte of `RepeatKey::class`
/// holds the protocol); no open's class has this bit.
pub const CLASS_SEND: u64 = 1 << 62;

/// What a thread did, as repeats are compared: for a successful open the file as reached
/// (dentry and mount pointers, and the inode number against a freed dentry's reuse), for a
/// failed one the path as passed (buffer address, length, first and last bytes, dirfd, errno).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RepeatKey {
    pub class: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RepeatSlot {
    pub key: RepeatKey,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Repeats counted since the last record.
    pub pending: u32,
    /// Non-zero: the policy found no rule for this file under `generation`.
    pub clean: u32,
    pub generation: u64,
}

/// The last open of each tracked thread and how often it was repeated since it was reported.
#[map]
pub static REPEATS: LruHashMap<u64, RepeatSlot> = LruHashMap::with_max_entries(16_384, 0);

/// What to do with an operation.
pub enum Repeat {
    /// Counted as a repeat; nothing else to do.
    Counted,
    /// Counted as a repeat, but the policy must judge it again.
    Judge,
    /// A new operation: report it (and judge it).
    New,
}

/// Counts the operation `key` of the current thread, made at `now`, when it repeats the previous
/// one within the window; otherwise reports the previous one's pending repeats and starts over
/// with `key`. (The caller reads the clock once, for this and for its record.)
#[inline(never)]
pub fn check(key: &RepeatKey, session: u64, generation: u64, now: u64) -> Repeat {
    let window = settings::repeat_window_ns();
    if window == 0 {
        return Repeat::New;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    if let Some(slot) = REPEATS.get_ptr_mut(&pid_tgid) {
        let slot = unsafe { &mut *slot };
        if slot.key == *key && now.wrapping_sub(slot.first_ns) < window {
            slot.pending += 1;
            slot.last_ns = now;
            count(Counter::Repeats);
            return if slot.clean != 0 && slot.generation == generation {
                Repeat::Counted
            } else {
                Repeat::Judge
            };
        }
        flush_slot(slot, session, now);
        slot.key = *key;
        slot.first_ns = now;
        slot.last_ns = now;
        slot.pending = 0;
        slot.clean = 0;
        slot.generation = generation;
        return Repeat::New;
    }
    let slot = RepeatSlot {
        key: *key,
        first_ns: now,
        last_ns: now,
        pending: 0,
        clean: 0,
        generation,
    };
    let _ = REPEATS.insert(&pid_tgid, &slot, 0);
    Repeat::New
}

/// Marks the current thread's last operation as judged clean under `generation`.
#[inline(always)]
pub fn mark_clean(generation: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if let Some(slot) = REPEATS.get_ptr_mut(&pid_tgid) {
        let slot = unsafe { &mut *slot };
        slot.clean = 1;
        slot.generation = generation;
    }
}

/// Reports the pending repeats of the current thread and forgets its slot (the thread exits).
#[inline(always)]
pub fn flush_thread(session: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if let Some(slot) = REPEATS.get_ptr_mut(&pid_tgid) {
        flush_slot(unsafe { &mut *slot }, session, now());
        let _ = REPEATS.remove(&pid_tgid);
    }
}

#[inline(always)]
fn flush_slot(slot: &mut RepeatSlot, session: u64, now: u64) {
    if slot.pending == 0 {
        return;
    }
    let mut event = RepeatEvent {
        kind: if slot.key.class & CLASS_SEND != 0 {
            EVENT_CONNECT
        } else {
            EVENT_OPEN
        },
        count: slot.pending,
        first_ns: slot.first_ns,
        last_ns: slot.last_ns,
        ..RepeatEvent::default()
    };
    fill_header_at(
        &mut event.header,
        EVENT_REPEAT,
        0,
        session,
        size_of::<RepeatEvent>() as u32,
        now,
    );
    output_fixed(Ring::Events, &event, session);
    slot.pending = 0;
}
