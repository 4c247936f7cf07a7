//! Short texts formatted on the stack: numbers, hexadecimal ids, IP addresses, timestamps. The
//! rule engine derives field values into them and the ECS writer serializes them, both without
//! touching the heap.

use std::fmt;

/// A short text formatted on the stack (at most 64 bytes).
#[derive(Clone, Copy)]
pub struct InlineText {
    bytes: [u8; 64],
    len: u8,
}

impl Default for InlineText {
    fn default() -> Self {
        Self { bytes: [0; 64], len: 0 }
    }
}

impl InlineText {
    pub fn format(args: fmt::Arguments) -> Self {
        let mut text = Self::default();
        // Every value formatted here fits (an IPv6 address takes at most 45 bytes).
        let _ = fmt::write(&mut text, args);
        text
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// Appends ASCII bytes (what is past the 64th is dropped).
    pub fn push_ascii(&mut self, bytes: &[u8]) {
        let start = self.len as usize;
        let end = (start + bytes.len()).min(self.bytes.len());
        if bytes.is_ascii() {
            self.bytes[start..end].copy_from_slice(&bytes[..end - start]);
            self.len = end as u8;
        }
    }

    /// Appends `value` in decimal, zero-padded to `width` digits.
    pub fn push_decimal(&mut self, mut value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut at = digits.len();
        while value > 0 || at == digits.len() {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        let start = digits.len().saturating_sub(width).min(at);
        self.push_ascii(&digits[start..]);
    }

    /// Appends `value` as 16 lowercase hexadecimal digits.
    pub fn push_hex16(&mut self, value: u64) {
        let mut digits = [0u8; 16];
        for (i, digit) in digits.iter_mut().enumerate() {
            let nibble = (value >> ((15 - i) * 4)) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
        self.push_ascii(&digits);
    }
}

impl fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[start..end].copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_the_heap() {
        assert_eq!(
            InlineText::format(format_args!("{:016x}", 0xabu64)).as_str(),
            "00000000000000ab"
        );
        let ip: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".parse().expect("ip");
        assert_eq!(InlineText::format(format_args!("{ip}")).as_str(), ip.to_string());
        let mut text = InlineText::default();
        text.push_hex16(0xab);
        text.push_ascii(b"-");
        text.push_decimal(7, 1);
        text.push_ascii(b" ");
        text.push_decimal(42, 4);
        text.push_ascii(b" ");
        text.push_decimal(u64::MAX, 1);
        assert_eq!(text.as_str(), format!("00000000000000ab-7 0042 {}", u64::MAX));
    }
}
