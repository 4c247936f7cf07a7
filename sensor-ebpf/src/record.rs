//! Assembling a record in the per-CPU scratch buffer and handing it to the ring buffer.
//!
//! A record is a fixed-size struct followed by strings. Every write lands at
//! `offset & (SCRATCH_HALF - 1)` with a length of at most `SCRATCH_HALF`, which the verifier can
//! prove stays inside the `SCRATCH_SIZE` buffer; appending stops once the offset passes
//! `SCRATCH_HALF`, and the string is marked truncated.
//!
//! The write offset lives in the map value, not on the stack: the verifier does not track map
//! memory, so each read of the offset is an unknown (then masked) scalar. That lets it prove
//! loops such as the path walk once, instead of once per possible offset.

use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_boot_ns,
        generated::{bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str},
    },
};
use sensor_common::{
    event::{
        EventHeader, HEADER_PRIORITY, MAX_COMPONENT, SCRATCH_HALF, SCRATCH_SIZE, STR_MISSING, STR_TRUNCATED, StrRef,
    },
    maps::{Counter, WAKE_LAST, WAKE_READER_DEADLINE},
};

use crate::{
    bounds::bounded,
    counters::count,
    maps::{CURSOR, EVENTS, PRIORITY, SCRATCH, SESSION_LOSS, WAKE},
    settings,
};

/// `bpf_ringbuf_output` flags.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// Which ring a record goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// Ordinary events: the reader is woken at most once per wake-up interval.
    Events,
    /// Records that hit a kernel rule or a protected file: always delivered with a wake-up.
    Priority,
}

/// Wake-up flags for a record on the event ring. None while the reader said it will look again
/// soon anyway (it writes that deadline before each timed wait); otherwise a wake-up when the
/// last one is older than the interval, and none in between (the reader looks again shortly
/// after every wake-up and every batch, so nothing waits longer than about one interval). A
/// busy stream thus costs the writers no wake-up at all: each one is an interrupt on the
/// writing CPU, and in a virtual machine an exit to the host.
#[inline(always)]
fn event_wakeup(now: u64) -> u64 {
    let interval = settings::wakeup_interval_ns();
    if interval == 0 {
        return 0;
    }
    let (Some(last), Some(deadline)) = (WAKE.get_ptr_mut(WAKE_LAST), WAKE.get(WAKE_READER_DEADLINE)) else {
        return 0;
    };
    if now < *deadline {
        return BPF_RB_NO_WAKEUP;
    }
    let last = unsafe { &mut *last };
    if now.wrapping_sub(*last) >= interval {
        *last = now;
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// Counts a record lost for `session` (the ring was full).
#[inline(always)]
pub fn lost(ring: Ring, session: u64) {
    count(if ring == Ring::Priority {
        Counter::PriorityFull
    } else {
        Counter::RingbufFull
    });
    match SESSION_LOSS.get_ptr_mut(&session) {
        Some(lost) => unsafe { *lost += 1 },
        None => {
            let _ = SESSION_LOSS.insert(&session, &1, 0);
        }
    }
}

/// Copies `bytes`, a record whose header says it was made at `now`, into `ring`; counts a loss
/// when it is full. (The header's time serves the wake-up decision too: one clock read less
/// per record, and reading the clock is not cheap in a virtual machine.)
#[inline(always)]
fn output(ring: Ring, bytes: &[u8], session: u64, now: u64) {
    let result = match ring {
        Ring::Priority => PRIORITY.output::<[u8]>(bytes, BPF_RB_FORCE_WAKEUP),
        Ring::Events => EVENTS.output::<[u8]>(bytes, event_wakeup(now)),
    };
    match result {
        Ok(()) => count(Counter::Emitted),
        Err(_) => lost(ring, session),
    }
}

/// Writes a small fixed-size record `T` (whose first field is the header) to the event ring.
#[inline(always)]
pub fn output_fixed<T>(ring: Ring, record: &T, session: u64) {
    let now = unsafe { (*(record as *const T as *const EventHeader)).time_ns };
    let bytes = unsafe { core::slice::from_raw_parts(record as *const T as *const u8, size_of::<T>()) };
    output(ring, bytes, session, now);
}

/// The scratch slot `slot` names (`Record::slot`, passed to a global function as a number).
#[inline(always)]
pub fn record_slot(slot: u64) -> u32 {
    if slot == POLICY_SCRATCH as u64 {
        POLICY_SCRATCH
    } else {
        EVENT_SCRATCH
    }
}

/// The scratch buffer of event records.
pub const EVENT_SCRATCH: u32 = 0;
/// The scratch buffer of policy records.
pub const POLICY_SCRATCH: u32 = 1;

pub struct Record {
    buf: *mut u8,
    cursor: *mut u64,
}

impl Record {
    /// Starts a record whose fixed part is `T`. The caller writes every field of `T` (the
    /// header is written by [`Record::submit`]); the scratch buffer is not cleared.
    #[inline(always)]
    pub fn start<T>() -> Option<Self> {
        Self::start_in::<T>(EVENT_SCRATCH)
    }

    /// Starts a record in scratch buffer `slot` (`EVENT_SCRATCH` or `POLICY_SCRATCH`): a policy
    /// record can be assembled while an event record is half built.
    #[inline(always)]
    pub fn start_in<T>(slot: u32) -> Option<Self> {
        let Some(buf) = SCRATCH.get_ptr_mut(slot) else {
            count(Counter::ScratchMissing);
            return None;
        };
        let Some(cursor) = CURSOR.get_ptr_mut(slot) else {
            count(Counter::ScratchMissing);
            return None;
        };
        let rec = Self {
            buf: buf as *mut u8,
            cursor,
        };
        rec.set_offset(size_of::<T>());
        Some(rec)
    }

    /// The record a previous program (which tail-called this one, on the same CPU) left in
    /// scratch buffer `slot`, with its write offset.
    #[inline(always)]
    pub fn resume(slot: u32) -> Option<Self> {
        let buf = SCRATCH.get_ptr_mut(slot)?;
        let cursor = CURSOR.get_ptr_mut(slot)?;
        Some(Self {
            buf: buf as *mut u8,
            cursor,
        })
    }

    /// The scratch slot this record is built in (what a global BPF function is handed, to
    /// `resume` the record: it can take plain numbers only).
    #[inline(always)]
    pub fn slot(&self) -> u32 {
        match CURSOR.get_ptr_mut(EVENT_SCRATCH) {
            Some(cursor) if cursor == self.cursor => EVENT_SCRATCH,
            _ => POLICY_SCRATCH,
        }
    }

    /// The fixed part of the record.
    #[inline(always)]
    pub fn fixed<T>(&mut self) -> &mut T {
        unsafe { &mut *(self.buf as *mut T) }
    }

    /// Zeroes the fixed part `T` after its header (which `submit` writes whole), eight bytes at a
    /// time. Volatile stores: the compiler would merge plain ones into a call of `memset`, a
    /// byte-by-byte loop in BPF (hundreds of instructions for a large record).
    #[inline(always)]
    pub fn clear_fixed<T>(&mut self) {
        const { assert!(size_of::<T>() % 8 == 0 && size_of::<EventHeader>() % 8 == 0) };
        let words = self.buf as *mut u64;
        let mut i = size_of::<EventHeader>() / 8;
        while i < size_of::<T>() / 8 {
            unsafe { core::ptr::write_volatile(words.add(i), 0) };
            i += 1;
        }
    }

    /// Where the next string goes, or `None` once the record is full.
    #[inline(always)]
    fn cursor(&self) -> Option<*mut u8> {
        let off = self.offset();
        if off >= SCRATCH_HALF {
            return None;
        }
        Some(unsafe { self.buf.add(off & (SCRATCH_HALF - 1)) })
    }

    #[inline(always)]
    pub fn offset(&self) -> usize {
        unsafe { core::ptr::read_volatile(self.cursor) as usize }
    }

    #[inline(always)]
    fn set_offset(&self, offset: usize) {
        unsafe { core::ptr::write_volatile(self.cursor, offset as u64) };
    }

    #[inline(always)]
    fn advance(&self, by: usize) {
        self.set_offset(self.offset() + by);
    }

    /// Forgets everything appended after `offset`.
    #[inline(always)]
    pub fn rewind(&mut self, offset: usize) {
        self.set_offset(offset);
    }

    /// Address of the buffer (for reads of bytes already written, with `bpf_probe_read_kernel`).
    #[inline(always)]
    pub fn base(&self) -> u64 {
        self.buf as u64
    }

    /// Bytes already written at `[start, start + len)`, for matching done in the kernel.
    #[inline(always)]
    pub fn byte_at(&self, index: usize) -> u8 {
        unsafe { *self.buf.add(index & (SCRATCH_SIZE - 1)) }
    }

    #[inline(always)]
    fn str_ref(start: usize, len: usize, flags: u16) -> StrRef {
        StrRef {
            offset: start as u16,
            len: len as u16,
            flags,
            reserved: 0,
        }
    }

    /// Appends a NUL-terminated string from user memory, at most `MAX - 1` bytes.
    #[inline(always)]
    pub fn user_str<const MAX: usize>(&mut self, src: u64) -> StrRef {
        let start = self.offset();
        let Some(dst) = self.cursor() else {
            return Self::str_ref(start, 0, STR_TRUNCATED);
        };
        let n = unsafe { bpf_probe_read_user_str(dst as *mut c_void, MAX as u32, src as *const c_void) };
        self.finish_str::<MAX>(start, n)
    }

    /// Appends a NUL-terminated string from kernel memory, at most `MAX - 1` bytes.
    #[inline(always)]
    pub fn kernel_str<const MAX: usize>(&mut self, src: u64) -> StrRef {
        let start = self.offset();
        let Some(dst) = self.cursor() else {
            return Self::str_ref(start, 0, STR_TRUNCATED);
        };
        let n = unsafe { bpf_probe_read_kernel_str(dst as *mut c_void, MAX as u32, src as *const c_void) };
        self.finish_str::<MAX>(start, n)
    }

    #[inline(always)]
    fn finish_str<const MAX: usize>(&mut self, start: usize, n: i64) -> StrRef {
        if n <= 0 {
            return Self::str_ref(start, 0, STR_MISSING);
        }
        let n = n as usize;
        self.advance(n);
        let flags = if n >= MAX { STR_TRUNCATED } else { 0 };
        Self::str_ref(start, n - 1, flags)
    }

    /// Appends one path component from kernel memory (with its NUL); returns false when it
    /// could not be read or the record is full.
    #[inline(always)]
    pub fn component(&mut self, src: u64) -> bool {
        let Some(dst) = self.cursor() else {
            return false;
        };
        let n = unsafe { bpf_probe_read_kernel_str(dst as *mut c_void, MAX_COMPONENT as u32, src as *const c_void) };
        if n <= 0 {
            return false;
        }
        self.advance(n as usize);
        true
    }

    /// Appends `len` raw bytes from user memory (at most `MAX`).
    #[inline(always)]
    pub fn user_bytes<const MAX: usize>(&mut self, src: u64, len: u64) -> StrRef {
        let start = self.offset();
        let Some(dst) = self.cursor() else {
            return Self::str_ref(start, 0, STR_TRUNCATED);
        };
        let mut flags = 0;
        let mut size = len as usize;
        if size > MAX {
            size = MAX;
            flags |= STR_TRUNCATED;
        }
        let size = bounded(size, SCRATCH_HALF - 1);
        if size == 0 {
            return Self::str_ref(start, 0, flags);
        }
        let ret = unsafe { bpf_probe_read_user(dst as *mut c_void, size as u32, src as *const c_void) };
        if ret < 0 {
            return Self::str_ref(start, 0, STR_MISSING);
        }
        self.advance(size);
        Self::str_ref(start, size, flags)
    }

    /// Copies `bytes` (already in BPF memory) into the record.
    #[inline(always)]
    pub fn copy<const MAX: usize>(&mut self, bytes: *const u8, len: usize) -> StrRef {
        let start = self.offset();
        let Some(dst) = self.cursor() else {
            return Self::str_ref(start, 0, STR_TRUNCATED);
        };
        let mut size = len;
        if size > MAX {
            size = MAX;
        }
        let size = bounded(size, SCRATCH_HALF - 1);
        if size == 0 {
            return Self::str_ref(start, 0, 0);
        }
        let ret = unsafe {
            aya_ebpf::helpers::generated::bpf_probe_read_kernel(dst as *mut c_void, size as u32, bytes as *const c_void)
        };
        if ret < 0 {
            return Self::str_ref(start, 0, STR_MISSING);
        }
        self.advance(size);
        Self::str_ref(start, size, 0)
    }

    /// Copies the string at `s` of the record being built in scratch buffer `slot` (another
    /// one) into this record, keeping its flags.
    #[inline(always)]
    pub fn copy_from(&mut self, slot: u32, s: StrRef) -> StrRef {
        let Some(source) = SCRATCH.get_ptr(slot) else {
            return StrRef::default();
        };
        let at = bounded(s.offset as usize, SCRATCH_HALF - 1);
        let bytes = unsafe { (source as *const u8).add(at) };
        let mut copied = self.copy::<SCRATCH_HALF>(bytes, s.len as usize);
        copied.flags |= s.flags;
        copied
    }

    /// Fills the header and copies the record into the event ring; counts a drop when it is full.
    #[inline(always)]
    pub fn submit(self, kind: u16, flags: u16, session_id: u64) {
        self.submit_to(Ring::Events, kind, flags, session_id);
    }

    /// Fills the header and copies the record into `ring`; counts a drop when it is full.
    #[inline(always)]
    pub fn submit_to(self, ring: Ring, kind: u16, flags: u16, session_id: u64) {
        self.submit_at(ring, kind, flags, session_id, now());
    }

    /// Like `submit_to`, for a record made at `now` (a time the caller already read: each clock
    /// read costs, in a virtual machine most of all).
    #[inline(always)]
    pub fn submit_at(mut self, ring: Ring, kind: u16, mut flags: u16, session_id: u64, now: u64) {
        // A full scratch buffer loses its last byte: 6.1's verifier loses the bound of a plain
        // minimum, so the length handed to the ring is masked where it can see it.
        let mut len = self.offset();
        if len > SCRATCH_SIZE - 1 {
            len = SCRATCH_SIZE - 1;
        }
        let len = crate::bounds::bounded(len, SCRATCH_SIZE - 1);
        if ring == Ring::Priority {
            flags |= HEADER_PRIORITY;
        }
        let header = self.fixed::<EventHeader>();
        fill_header_at(header, kind, flags, session_id, len as u32, now);
        let bytes = unsafe { core::slice::from_raw_parts(self.buf, len) };
        output(ring, bytes, session_id, now);
    }
}

/// The boot-time clock, in nanoseconds (the records' time).
#[inline(always)]
pub fn now() -> u64 {
    unsafe { bpf_ktime_get_boot_ns() }
}

/// Fills the common header for an event of the current task.
#[inline(always)]
pub fn fill_header(header: &mut EventHeader, kind: u16, flags: u16, session_id: u64, size: u32) {
    fill_header_at(header, kind, flags, session_id, size, now());
}

/// Fills the common header for an event of the current task made at `now`.
#[inline(always)]
pub fn fill_header_at(header: &mut EventHeader, kind: u16, flags: u16, session_id: u64, size: u32, now: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    header.kind = kind;
    header.flags = flags;
    header.size = size;
    header.time_ns = now;
    header.session_id = session_id;
    header.tgid = (pid_tgid >> 32) as u32;
    header.tid = pid_tgid as u32;
    header.uid = uid_gid as u32;
    header.gid = (uid_gid >> 32) as u32;
    header.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
}
