//! Field values written into the JSON line from the stack: timestamps, hexadecimal ids and
//! numbers that ECS wants as strings. Each is formatted by hand into an [`InlineText`] and
//! serialized as a plain string (an event line used to make five small allocations for them,
//! and `collect_str` through `Display` was slower still).

use std::fmt;

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
        text.push_hex16(self.0);
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
        text.push_hex16(self.run_id);
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
        let seconds = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u64;
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        if !(0..=9999).contains(&year) {
            text.push_ascii(b"1970-01-01T00:00:00Z");
            return text;
        }
        let of_day = seconds.rem_euclid(86_400) as u64;
        for (value, width, then) in [
            (year as u64, 4, b'-'),
            (u64::from(month), 2, b'-'),
            (u64::from(day), 2, b'T'),
            (of_day / 3600, 2, b':'),
            (of_day / 60 % 60, 2, b':'),
        ] {
            text.push_decimal(value, width);
            text.push_ascii(&[then]);
        }
        text.push_decimal(of_day % 60, 2);
        if nanos != 0 {
            let mut digits = 9;
            let mut fraction = nanos;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                digits -= 1;
            }
            text.push_ascii(b".");
            text.push_decimal(fraction, digits);
        }
        text.push_ascii(b"Z");
        text
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inline().as_str())
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
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
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (year, month, day)
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

    proptest! {
        #[test]
        fn writes_what_the_time_crate_writes(ns in -70_000_000_000_000_000_000i128..300_000_000_000_000_000_000i128) {
            prop_assert_eq!(Rfc3339(ns).to_string(), by_time(ns));
        }

        #[test]
        fn whole_seconds_and_round_fractions_too(seconds in -62_000_000_000i64..253_402_300_799i64, tens in 0u32..9) {
            let ns = seconds as i128 * 1_000_000_000 + (10u32.pow(tens) % 1_000_000_000) as i128;
            prop_assert_eq!(Rfc3339(ns).to_string(), by_time(ns));
        }
    }
}
