//! JSON strings, escaped as serde_json escapes them: `"`, `\` and control characters, the
//! short forms (`\n`, `\t`, …) where JSON has one and `\u00XX` for the rest; everything else,
//! non-ASCII included, is copied as it is.
//!
//! Nearly every string of an event needs no escaping, so a string is first checked eight bytes
//! at a time, without a branch per word, and copied in one piece; only a string that holds a byte
//! to escape goes through the byte-by-byte path.

use std::fmt;

/// Appends `text` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_clean(bytes) {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(out, bytes);
    }
    out.push(b'"');
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is below 0x20, a quote or a backslash, and perhaps
/// of bytes above one that is (so exact for "any", which is all it is used for).
fn flagged(word: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(LOW) & !v;
    let below_space = word.wrapping_sub(LOW * 0x20) & !word;
    (below_space | zero(word ^ (LOW * u64::from(b'"'))) | zero(word ^ (LOW * u64::from(b'\\')))) & HIGH
}

/// The last bytes of a string in a word, padded with a byte that needs no escape.
fn padded(tail: &[u8]) -> u64 {
    let mut word = [b'a'; 8];
    word[..tail.len()].copy_from_slice(tail);
    u64::from_ne_bytes(word)
}

/// Whether no byte of `bytes` needs escaping. A string of eight bytes or more ends with its last
/// eight (which may overlap the word before); a shorter one is looked at byte by byte.
fn is_clean(bytes: &[u8]) -> bool {
    let Some(last) = bytes.last_chunk::<8>() else {
        return bytes.iter().all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\');
    };
    let (words, _) = bytes.as_chunks::<8>();
    let mut any = flagged(u64::from_ne_bytes(*last));
    for word in words {
        any |= flagged(u64::from_ne_bytes(*word));
    }
    any == 0
}

/// Appends `bytes` escaped (without quotes).
pub fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        let clean = match bytes[at..].first_chunk::<8>() {
            Some(chunk) => (flagged(u64::from_ne_bytes(*chunk)) == 0).then_some(8),
            None => (flagged(padded(&bytes[at..])) == 0).then_some(bytes.len() - at),
        };
        if let Some(clean) = clean {
            at += clean;
            continue;
        }
        let byte = bytes[at];
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            at += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..at]);
        escape(out, byte);
        at += 1;
        run = at;
    }
    out.extend_from_slice(&bytes[run..]);
}

fn escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// Escapes what `Display` writes, piece by piece, into the line.
pub struct Escaping<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        write_escaped(self.0, piece.as_bytes());
        Ok(())
    }
}
