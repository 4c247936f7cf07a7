//! The disk spool of an HTTP output: every line is written to a segment file before it is sent,
//! and a segment is deleted only once the receiver acknowledged it, so nothing is lost while the
//! receiver is down or across a restart of the sensor.
//!
//! Segments are `<dir>/<sequence>.ndjson` (20 digits, so names sort by age). The pipeline appends
//! to the newest ("open") segment; it is sealed when it reaches the batch limits (lines or bytes)
//! or the batch wait, and sealed segments are sent oldest first, one request each. At start every
//! segment found is sealed and sent before anything new.
//!
//! The spool holds at most `spool_max_bytes`. When a line does not fit, the oldest sealed
//! segments that are not being sent are deleted to make room (their lines counted as dropped and
//! logged); the newest data is kept, so an agent that floods the sensor cannot push out what it
//! does next. Segments the receiver refuses for good (400, 413, 422, or `_bulk` items with a
//! non-retryable status) are moved to `<dir>/rejected/` (bounded to a quarter of the spool),
//! and counted as dropped.

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::super::{stats::Counters, throttled};

/// Where and how much.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub batch_max_lines: usize,
    pub batch_max_bytes: u64,
    pub batch_max_wait: Duration,
}

/// A sealed segment waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub bytes: u64,
    pub lines: u64,
}

struct Open {
    seq: u64,
    writer: BufWriter<File>,
    bytes: u64,
    lines: u64,
    opened: Instant,
}

struct State {
    open: Option<Open>,
    sealed: VecDeque<Segment>,
    next_seq: u64,
    /// The segment being sent (the front of `sealed`): never evicted.
    in_flight: Option<u64>,
    /// Bytes in every segment, the open one included.
    bytes: u64,
    /// Bytes kept in `rejected/`.
    rejected_bytes: u64,
    /// Closing: deliver until this instant, then stop.
    closing: Option<Instant>,
    evictions: u64,
    refusals: u64,
    write_errors: u64,
}

pub struct Spool {
    name: String,
    dir: PathBuf,
    limits: Limits,
    counters: Arc<Counters>,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot use the spool directory {path}: {source}")]
pub struct SpoolError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

/// What the sender should do next.
pub enum Next {
    Send(Segment),
    /// Closing and nothing left, or the deadline passed.
    Stop,
}

impl Spool {
    /// Opens (creating) `dir` and takes every segment found there as pending, oldest first.
    pub fn open(name: &str, dir: &Path, limits: Limits, counters: Arc<Counters>) -> Result<Self, SpoolError> {
        let fail = |path: &Path, source| SpoolError {
            path: path.display().to_string(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(dir, e))?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| fail(dir, e))?.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".ndjson").and_then(|s| s.parse::<u64>().ok()) {
                found.push((seq, path));
            } else if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            }
        }
        found.sort();
        let mut sealed = VecDeque::new();
        let mut bytes = 0;
        for (seq, path) in &found {
            let data = fs::read(path).map_err(|e| fail(path, e))?;
            let lines = complete_lines(&data).0.len() as u64;
            if lines == 0 {
                let _ = fs::remove_file(path);
                continue;
            }
            bytes += data.len() as u64;
            sealed.push_back(Segment {
                seq: *seq,
                bytes: data.len() as u64,
                lines,
            });
        }
        let pending: u64 = sealed.iter().map(|s| s.lines).sum();
        Counters::add(&counters.queued, pending);
        Counters::add(&counters.queued_bytes, bytes);
        if pending > 0 {
            tracing::info!(
                output = %name,
                lines = pending,
                bytes,
                dir = %dir.display(),
                "undelivered lines from an earlier run are in the spool: sending them first"
            );
        }
        let rejected_bytes = dir_size(&dir.join("rejected"));
        Ok(Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            limits,
            counters,
            state: Mutex::new(State {
                open: None,
                next_seq: found.last().map_or(1, |(seq, _)| seq + 1),
                sealed,
                in_flight: None,
                bytes,
                rejected_bytes,
                closing: None,
                evictions: 0,
                refusals: 0,
                write_errors: 0,
            }),
            wake: Condvar::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.ndjson"))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state: carry on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one line. Returns false when it could not be spooled (counted as dropped).
    pub fn append(&self, line: &[u8]) -> bool {
        let need = line.len() as u64 + 1;
        let mut state = self.lock();
        if state.bytes + need > self.limits.max_bytes && !self.make_room(&mut state, need) {
            state.refusals += 1;
            Counters::add(&self.counters.dropped, 1);
            if throttled(state.refusals) {
                tracing::error!(
                    output = %self.name,
                    dir = %self.dir.display(),
                    refused = state.refusals,
                    "the spool is full and nothing can be evicted: line dropped"
                );
            }
            return false;
        }
        if let Some(open) = &state.open
            && (open.lines as usize >= self.limits.batch_max_lines || open.bytes + need > self.limits.batch_max_bytes)
        {
            self.seal(&mut state);
        }
        if state.open.is_none() {
            let seq = state.next_seq;
            let path = self.path(seq);
            match OpenOptions::new().create_new(true).write(true).mode(0o600).open(&path) {
                Ok(file) => {
                    state.next_seq += 1;
                    state.open = Some(Open {
                        seq,
                        writer: BufWriter::with_capacity(64 * 1024, file),
                        bytes: 0,
                        lines: 0,
                        opened: Instant::now(),
                    });
                }
                Err(error) => {
                    state.next_seq += 1;
                    self.write_failed(&mut state, &path, &error);
                    return false;
                }
            }
        }
        let Some(open) = state.open.as_mut() else {
            return false;
        };
        let seq = open.seq;
        if let Err(error) = open.writer.write_all(line).and_then(|()| open.writer.write_all(b"\n")) {
            // What reached the file may end in a partial line: the reader skips it.
            self.seal(&mut state);
            self.write_failed(&mut state, &self.path(seq), &error);
            return false;
        }
        open.bytes += need;
        open.lines += 1;
        let full = open.lines as usize >= self.limits.batch_max_lines;
        state.bytes += need;
        Counters::add(&self.counters.written, 1);
        Counters::add(&self.counters.queued, 1);
        Counters::add(&self.counters.queued_bytes, need);
        if full {
            self.seal(&mut state);
        }
        true
    }

    fn write_failed(&self, state: &mut State, path: &Path, error: &io::Error) {
        state.write_errors += 1;
        Counters::add(&self.counters.failed, 1);
        Counters::add(&self.counters.dropped, 1);
        if throttled(state.write_errors) {
            tracing::error!(output = %self.name, path = %path.display(), %error, "cannot write the spool: line dropped");
        }
    }

    /// Evicts the oldest sealed segments not being sent until `need` more bytes fit.
    fn make_room(&self, state: &mut State, need: u64) -> bool {
        while state.bytes + need > self.limits.max_bytes {
            let victim = state
                .sealed
                .iter()
                .position(|segment| Some(segment.seq) != state.in_flight);
            let Some(index) = victim else {
                return false;
            };
            let Some(segment) = state.sealed.remove(index) else {
                return false;
            };
            let _ = fs::remove_file(self.path(segment.seq));
            state.bytes = state.bytes.saturating_sub(segment.bytes);
            state.evictions += 1;
            Counters::sub(&self.counters.queued, segment.lines);
            Counters::sub(&self.counters.queued_bytes, segment.bytes);
            Counters::add(&self.counters.dropped, segment.lines);
            if throttled(state.evictions) {
                tracing::error!(
                    output = %self.name,
                    lines = segment.lines,
                    limit = self.limits.max_bytes,
                    dir = %self.dir.display(),
                    "the spool is full (the receiver has been unreachable too long): dropped its oldest lines"
                );
            }
        }
        true
    }

    /// Closes the open segment and hands it to the sender.
    fn seal(&self, state: &mut State) {
        let Some(mut open) = state.open.take() else {
            return;
        };
        if let Err(error) = open.writer.flush() {
            state.write_errors += 1;
            if throttled(state.write_errors) {
                tracing::error!(output = %self.name, path = %self.path(open.seq).display(), %error, "cannot write the spool");
            }
        }
        if open.lines == 0 {
            let _ = fs::remove_file(self.path(open.seq));
            state.bytes = state.bytes.saturating_sub(open.bytes);
            return;
        }
        state.sealed.push_back(Segment {
            seq: open.seq,
            bytes: open.bytes,
            lines: open.lines,
        });
        self.wake.notify_all();
    }

    /// Writes what the open segment buffers to its file, and seals it once it is older than
    /// the batch wait. Called after each pipeline batch.
    pub fn flush(&self) {
        let mut state = self.lock();
        let Some(open) = state.open.as_mut() else {
            return;
        };
        let (seq, flushed, due) = (
            open.seq,
            open.writer.flush(),
            open.opened.elapsed() >= self.limits.batch_max_wait,
        );
        if let Err(error) = flushed {
            // The lines stay buffered, written if room returns before the segment is sealed;
            // those still buffered then are counted as lost when the segment is read.
            state.write_errors += 1;
            if throttled(state.write_errors) {
                tracing::error!(output = %self.name, path = %self.path(seq).display(), %error, "cannot write the spool");
            }
        }
        if due {
            self.seal(&mut state);
        }
    }

    /// Seals the open segment and tells the sender to deliver until `deadline`.
    pub fn begin_close(&self, deadline: Instant) {
        let mut state = self.lock();
        self.seal(&mut state);
        state.closing = Some(deadline);
        self.wake.notify_all();
    }

    /// The sender's wait for work: the oldest sealed segment, sealing the open one once it is
    /// old enough.
    pub fn next(&self) -> Next {
        let mut state = self.lock();
        loop {
            if let Some(deadline) = state.closing
                && Instant::now() >= deadline
            {
                state.in_flight = None;
                return Next::Stop;
            }
            let age = state.open.as_ref().map(|open| open.opened.elapsed());
            let wait = match age {
                Some(age) if age >= self.limits.batch_max_wait => {
                    self.seal(&mut state);
                    continue;
                }
                Some(age) => self.limits.batch_max_wait - age,
                None => self.limits.batch_max_wait,
            };
            if let Some(front) = state.sealed.front().cloned() {
                state.in_flight = Some(front.seq);
                return Next::Send(front);
            }
            if state.closing.is_some() {
                return Next::Stop;
            }
            state = match self.wake.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The lines of a segment, each a JSON document. What the file lacks or holds damaged is
    /// dropped (counted) here, once, and the segment shrinks to what is left:
    /// - a partial last line (the sensor stopped while writing it) is skipped;
    /// - lines that never reached the file (a write failed, e.g. a full disk) are lost;
    /// - lines that are not JSON (a damaged file) are set aside in `rejected/`: sent, one of them
    ///   would make the receiver refuse the whole request.
    pub fn read(&self, segment: &mut Segment) -> io::Result<Vec<Vec<u8>>> {
        let path = self.path(segment.seq);
        let data = fs::read(&path)?;
        let (complete, partial) = complete_lines(&data);
        if partial {
            tracing::warn!(output = %self.name, path = %path.display(), "a spool segment ends in a partial line (the sensor stopped while writing it): skipped");
        }
        let (lines, damaged): (Vec<&[u8]>, Vec<&[u8]>) = complete
            .into_iter()
            .partition(|line| serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok());
        let lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
        let lost = segment.lines.saturating_sub(lines.len() as u64);
        if lost == 0 {
            return Ok(lines);
        }
        if !damaged.is_empty() {
            let kept = self.set_aside(segment.seq, &damaged);
            tracing::error!(
                output = %self.name,
                path = %path.display(),
                lines = damaged.len(),
                kept = %kept.as_deref().map_or("no (rejected/ is full)".to_string(), |p| p.display().to_string()),
                "lines of a spool segment are not JSON (the file was damaged): set aside, not sent"
            );
        }
        let missing = lost.saturating_sub(damaged.len() as u64);
        if missing > 0 {
            tracing::error!(
                output = %self.name,
                path = %path.display(),
                lines = missing,
                "lines never reached the spool file (a write failed): lost"
            );
        }
        Counters::add(&self.counters.dropped, lost);
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        *segment = if damaged.is_empty() {
            self.recount(segment, &refs)
        } else {
            // Rewritten, so that a retry does not find the damaged lines again.
            self.rewrite(segment, &refs)
                .unwrap_or_else(|_| self.recount(segment, &refs))
        };
        Ok(lines)
    }

    /// The receiver took the segment: delete it. `delivered` lines reached it.
    pub fn acknowledge(&self, segment: &Segment, delivered: u64) {
        let _ = fs::remove_file(self.path(segment.seq));
        let mut state = self.lock();
        self.forget(&mut state, segment);
        Counters::add(&self.counters.delivered, delivered);
    }

    /// The receiver refused these lines for good: keep them in `rejected/` while that holds
    /// less than a quarter of the spool's bound, and count them as dropped.
    pub fn reject(&self, segment: &Segment, lines: &[&[u8]], whole: bool) -> Option<PathBuf> {
        let kept = self.set_aside(segment.seq, lines);
        Counters::add(&self.counters.dropped, lines.len() as u64);
        if whole {
            let _ = fs::remove_file(self.path(segment.seq));
            let mut state = self.lock();
            self.forget(&mut state, segment);
        }
        kept
    }

    /// Keeps `lines` in `rejected/` while that holds less than a quarter of the spool's bound.
    fn set_aside(&self, seq: u64, lines: &[&[u8]]) -> Option<PathBuf> {
        let mut state = self.lock();
        let bytes: u64 = lines.iter().map(|line| line.len() as u64 + 1).sum();
        let mut kept = None;
        if state.rejected_bytes + bytes <= self.limits.max_bytes / 4 {
            let dir = self.dir.join("rejected");
            let path = dir.join(format!("{seq:020}.ndjson"));
            let written = fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .and_then(|()| {
                    let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
                    let mut data = Vec::with_capacity(bytes as usize);
                    for line in lines {
                        data.extend_from_slice(line);
                        data.push(b'\n');
                    }
                    file.write_all(&data)
                });
            if written.is_ok() {
                state.rejected_bytes += bytes;
                kept = Some(path);
            }
        }
        kept
    }

    /// Replaces the segment's lines with `lines` (those to send again). Returns the new segment.
    pub fn rewrite(&self, segment: &Segment, lines: &[&[u8]]) -> io::Result<Segment> {
        let path = self.path(segment.seq);
        let temporary = path.with_extension("ndjson.tmp");
        let mut data = Vec::new();
        for line in lines {
            data.extend_from_slice(line);
            data.push(b'\n');
        }
        fs::write(&temporary, &data)?;
        fs::rename(&temporary, &path)?;
        Ok(self.recount(segment, lines))
    }

    /// The segment now holds `lines`: its size and the queue counters follow.
    fn recount(&self, segment: &Segment, lines: &[&[u8]]) -> Segment {
        let replaced = Segment {
            seq: segment.seq,
            bytes: lines.iter().map(|line| line.len() as u64 + 1).sum(),
            lines: lines.len() as u64,
        };
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(entry) = state.sealed.iter_mut().find(|s| s.seq == segment.seq) {
            state.bytes = state.bytes.saturating_sub(entry.bytes) + replaced.bytes;
            *entry = replaced.clone();
        }
        Counters::sub(&self.counters.queued, segment.lines.saturating_sub(replaced.lines));
        Counters::sub(
            &self.counters.queued_bytes,
            segment.bytes.saturating_sub(replaced.bytes),
        );
        replaced
    }

    fn forget(&self, state: &mut State, segment: &Segment) {
        if let Some(index) = state.sealed.iter().position(|s| s.seq == segment.seq) {
            state.sealed.remove(index);
            state.bytes = state.bytes.saturating_sub(segment.bytes);
            Counters::sub(&self.counters.queued, segment.lines);
            Counters::sub(&self.counters.queued_bytes, segment.bytes);
        }
        if state.in_flight == Some(segment.seq) {
            state.in_flight = None;
        }
    }

    /// Waits `pause`, cut short when closing starts. False when closing and past the deadline.
    pub fn pause(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if let Some(deadline) = state.closing
                && now >= deadline
            {
                return false;
            }
            if now >= until {
                return true;
            }
            let limit = match state.closing {
                Some(deadline) => until.min(deadline),
                None => until,
            };
            state = match self.wake.wait_timeout(state, limit - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The deadline, once closing.
    pub fn deadline(&self) -> Option<Instant> {
        self.lock().closing
    }

    /// Lines and bytes still spooled.
    pub fn pending(&self) -> (u64, u64) {
        let state = self.lock();
        let lines = state.sealed.iter().map(|s| s.lines).sum::<u64>() + state.open.as_ref().map_or(0, |o| o.lines);
        (lines, state.bytes)
    }
}

/// The complete, non-empty lines of a segment's data (without their newline), and whether it
/// ends in a partial line.
fn complete_lines(data: &[u8]) -> (Vec<&[u8]>, bool) {
    let partial = !data.is_empty() && !data.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    lines.pop(); // after the last newline: empty, or the partial line
    lines.retain(|line| !line.is_empty());
    (lines, partial)
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
