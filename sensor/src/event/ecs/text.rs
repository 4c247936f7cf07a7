//! Field values written into the JSON line from the stack: timestamps, hexadecimal ids and
//! numbers that ECS wants as strings. Each is formatted by hand ([`Stamp`], [`hex16`]), which
//! the line writer copies as it is; the serde form serializes it from an [`InlineText`] as a
//! plain string (an event line used to make five small allocations for them, and `collect_str`
//! through `Display` was slower still).

use std::{cell::Cell, fmt};

use serde::{Serialize, Serializer};

use crate::event::InlineText;

/// A value ECS writes as a string, formatted on the stack.
pub trait Inline {
    fn inline(&self) -> InlineText;
}

/// Serializes an [`Inline`] value as a JSON string.
pub struct Shown<T>(pub T);

impl<T: Inline> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.inline().as_str())
    }
}

/// A decimal number (`user.id`, `group.id`).
impl Inline for u32 {
    fn inline(&self) -> InlineText {
        let mut text = InlineText::default();
        text.push_decimal(u64::from(*self), 1);
        text
    }
}

/// A 64-bit id as 16 lowercase hexadecimal digits (`agent.ephemeral_id`, `gen_ai.agent.id`).
pub struct Hex16(pub u64);

impl Inline for Hex16 {
    fn inline(&self) -> InlineText {
        let mut text = InlineText::default();
        text.push_ascii(&hex16(self.0));
        text
    }
}

/// `event.id`: the run's id and the event's sequence number.
pub struct EventId {
    pub run_id: u64,
    pub sequence: u64,
}

impl Inline for EventId {
    fn inline(&self) -> InlineText {
        let mut text = InlineText::default();
        text.push_ascii(&hex16(self.run_id));
        text.push_ascii(b"-");
        text.push_decimal(self.sequence, 1);
        text
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC, as the `time` crate writes it: the fraction
/// with its trailing zeros dropped (none when it is zero); years outside 0..=9999 as the epoch.
#[derive(Clone, Copy)]
pub struct Rfc3339(pub i128);

impl Inline for Rfc3339 {
    fn inline(&self) -> InlineText {
        let mut text = InlineText::default();
        text.push_ascii(Stamp::of(self.0).as_bytes());
        text
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inline().as_str())
    }
}

/// The text of an [`Rfc3339`] instant, at most `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub struct Stamp {
    bytes: [u8; 30],
    len: usize,
}

/// The first second of year 0 and the first of year 10000, since the epoch.
const YEAR_0: i64 = -62_167_219_200;
const YEAR_10000: i64 = 253_402_300_800;
const NS_PER_SECOND: i64 = 1_000_000_000;

/// `00` to `99`.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut at = 0;
    while at < 100 {
        pairs[at] = [b'0' + (at / 10) as u8, b'0' + (at % 10) as u8];
        at += 1;
    }
    pairs
};

impl Stamp {
    pub fn of(epoch_ns: i128) -> Self {
        let (seconds, nanos) = match i64::try_from(epoch_ns) {
            Ok(ns) => (ns.div_euclid(NS_PER_SECOND), ns.rem_euclid(NS_PER_SECOND)),
            // Beyond the years of an i64 of nanoseconds (1677 to 2262): written as the epoch
            // when outside 0..=9999, and only whole seconds matter for that.
            Err(_) => (
                epoch_ns
                    .div_euclid(i128::from(NS_PER_SECOND))
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                epoch_ns.rem_euclid(i128::from(NS_PER_SECOND)) as i64,
            ),
        };
        let mut stamp = Self {
            bytes: *b"1970-01-01T00:00:00.000000000Z",
            len: 20,
        };
        if !(YEAR_0..YEAR_10000).contains(&seconds) {
            stamp.bytes[19] = b'Z';
            return stamp;
        }
        let bytes = &mut stamp.bytes;
        bytes[..19].copy_from_slice(&second_text(seconds));
        if nanos == 0 {
            bytes[19] = b'Z';
            return stamp;
        }
        let nanos = nanos as usize;
        bytes[20] = b'0' + (nanos / 100_000_000) as u8;
        let rest = nanos % 100_000_000;
        for (at, pair) in [rest / 1_000_000, rest / 10_000 % 100, rest / 100 % 100, rest % 100]
            .into_iter()
            .enumerate()
        {
            [bytes[21 + 2 * at], bytes[22 + 2 * at]] = PAIRS[pair];
        }
        let mut end = 29;
        while bytes[end - 1] == b'0' {
            end -= 1;
        }
        bytes[end] = b'Z';
        stamp.len = end + 1;
        stamp
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a second of the years 0..=9999, remembered for the last two seconds
/// asked for on this thread: events come in time order, and the line's other instant, its
/// process's start, is the same for many events in a row.
fn second_text(seconds: i64) -> [u8; 19] {
    thread_local! {
        /// The most recent first; no second is `i64::MIN`.
        static RECENT: Cell<[(i64, [u8; 19]); 2]> = const { Cell::new([(i64::MIN, [0; 19]); 2]) };
    }
    RECENT.with(|recent| {
        let entries = recent.get();
        if let Some((_, text)) = entries.iter().find(|(second, _)| *second == seconds) {
            return *text;
        }
        let text = format_second(seconds);
        recent.set([(seconds, text), entries[0]]);
        text
    })
}

fn format_second(seconds: i64) -> [u8; 19] {
    let mut text = *b"0000-00-00T00:00:00";
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400) as usize;
    [text[0], text[1]] = PAIRS[year as usize / 100];
    [text[2], text[3]] = PAIRS[year as usize % 100];
    [text[5], text[6]] = PAIRS[month as usize];
    [text[8], text[9]] = PAIRS[day as usize];
    [text[11], text[12]] = PAIRS[of_day / 3600];
    [text[14], text[15]] = PAIRS[of_day / 60 % 60];
    [text[17], text[18]] = PAIRS[of_day % 60];
    text
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// 16 lowercase hexadecimal digits of `value`, computed a word at a time.
pub fn hex16(value: u64) -> [u8; 16] {
    /// The eight nibbles of `half`, one per byte, the highest in the last byte.
    fn spread(half: u32) -> u64 {
        let x = u64::from(half);
        let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
        let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
        (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f
    }
    /// Each nibble as its digit: `'0'` plus the nibble, and 39 more (to `'a'`) from ten on.
    fn digits(nibbles: u64) -> [u8; 8] {
        const LOW: u64 = 0x0101_0101_0101_0101;
        let from_ten = ((nibbles + LOW * 6) >> 4) & LOW;
        (nibbles + LOW * u64::from(b'0') + from_ten * 39).to_be_bytes()
    }
    let mut text = [0; 16];
    text[..8].copy_from_slice(&digits(spread((value >> 32) as u32)));
    text[8..].copy_from_slice(&digits(spread(value as u32)));
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::{OffsetDateTime, format_description::well_known::Rfc3339 as TimeRfc3339};

    use super::*;

    /// What the `time` crate writes (the sensor's format before this writer).
    fn by_time(ns: i128) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(ns)
            .ok()
            .and_then(|time| time.format(&TimeRfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
    }

    #[test]
    fn known_instants() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339(1_767_225_600_000_000_000).to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(
            Rfc3339(1_767_225_600_120_000_000).to_string(),
            "2026-01-01T00:00:00.12Z"
        );
        assert_eq!(Rfc3339(-1).to_string(), by_time(-1));
        assert_eq!(Hex16(0xab).inline().as_str(), "00000000000000ab");
        assert_eq!(
            EventId { run_id: 1, sequence: 7 }.inline().as_str(),
            "0000000000000001-7"
        );
        assert_eq!(4_000_000_000u32.inline().as_str(), "4000000000");
    }

    /// The seconds remembered per thread are the ones asked for: instants of one second with
    /// other fractions, two seconds in turn, then a third that pushes one out.
    #[test]
    fn remembered_seconds_are_the_right_ones() {
        let base = 1_767_225_600_000_000_000i128;
        let start = base - 86_400 * 1_000_000_000 - 1;
        for ns in [
            base,
            base + 5,
            start,
            base + 999_999_999,
            start,
            base + 1_000_000_000,
            start - 1_000_000_000,
            base,
        ] {
            assert_eq!(Rfc3339(ns).to_string(), by_time(ns));
        }
    }

    proptest! {
        #[test]
        fn writes_what_the_time_crate_writes(ns in -70_000_000_000_000_000_000i128..300_000_000_000_000_000_000i128) {
            prop_assert_eq!(Rfc3339(ns).to_string(), by_time(ns));
        }

        #[test]
        fn hexadecimal_ids_are_what_fmt_writes(value in any::<u64>()) {
            let text = Hex16(value).inline();
            prop_assert_eq!(text.as_str(), format!("{value:016x}"));
        }

        #[test]
        fn whole_seconds_and_round_fractions_too(seconds in -62_000_000_000i64..253_402_300_799i64, tens in 0u32..9) {
            let ns = seconds as i128 * 1_000_000_000 + (10u32.pow(tens) % 1_000_000_000) as i128;
            prop_assert_eq!(Rfc3339(ns).to_string(), by_time(ns));
        }
    }
}
