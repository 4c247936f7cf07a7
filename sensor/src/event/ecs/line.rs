//! The event line, written field by field into the pipeline's buffer.
//!
//! Each section (`process.rs`, `file.rs`, …) writes its fields in the order its serde form
//! declares them, with the keys and punctuation between two values as one constant piece
//! (`,"args_count":`), numbers by `itoa`, and timestamps and hexadecimal ids by hand. The serde
//! form stays the definition of the document: alerts are built from it, and the tests compare
//! the two byte for byte on every kind of event.

use super::{
    escape,
    text::{Stamp, hex16},
};

/// The line being written: appends to the caller's buffer.
pub(super) struct Line<'a> {
    pub(super) out: &'a mut Vec<u8>,
}

impl Line<'_> {
    /// Keys, punctuation and values that are JSON as they are.
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A JSON string.
    pub(super) fn str(&mut self, text: &str) {
        escape::write_str(self.out, text);
    }

    /// `key` (with what comes before the value: `,"name":`) and `text` as a JSON string.
    pub(super) fn field(&mut self, key: &[u8], text: &str) {
        self.raw(key);
        self.str(text);
    }

    /// `key` and `text` when there is a text.
    pub(super) fn optional(&mut self, key: &[u8], text: Option<&str>) {
        if let Some(text) = text {
            self.field(key, text);
        }
    }

    /// One of the sensor's own names (an action, a door, a flag): a JSON string with nothing to
    /// escape, written without looking.
    pub(super) fn name(&mut self, name: &'static str) {
        debug_assert!(!name.bytes().any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\'));
        self.out.reserve(name.len() + 2);
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'"');
    }

    /// `["a","b"]` of the sensor's own names.
    pub(super) fn names(&mut self, names: impl IntoIterator<Item = &'static str>) {
        self.out.push(b'[');
        for (at, name) in names.into_iter().enumerate() {
            if at > 0 {
                self.out.push(b',');
            }
            self.name(name);
        }
        self.out.push(b']');
    }

    /// A number, in decimal.
    pub(super) fn int(&mut self, value: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(value).as_bytes());
    }

    pub(super) fn bool(&mut self, value: bool) {
        self.raw(if value { b"true" } else { b"false" });
    }

    /// Sixteen hexadecimal digits (no quotes).
    pub(super) fn hex16(&mut self, value: u64) {
        self.raw(&hex16(value));
    }

    /// An RFC 3339 instant (no quotes).
    pub(super) fn stamp(&mut self, epoch_ns: i128) {
        self.raw(Stamp::of(epoch_ns).as_bytes());
    }
}

/// Permission bits as four octal digits (`0644`).
pub(super) fn octal4(mode: u32) -> [u8; 4] {
    std::array::from_fn(|at| b'0' + ((mode >> (3 * (3 - at))) & 7) as u8)
}
