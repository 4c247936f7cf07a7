//! Working memory the engine reuses from one event to the next, so an event that raises no
//! alert allocates nothing: the macro memo, the index bits, the resolved path arguments of an
//! exec, and small text buffers for derived values (user.id, gen_ai.agent.id, destination
//! addresses) that live on the stack.

use std::{cell::Cell, fmt};

/// The engine's working memory.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Macro results of the event (0 not computed, 1 false, 2 true).
    pub memo: Vec<Cell<u8>>,
    /// Index bits of the event, by word.
    pub bits: Vec<Cell<u64>>,
    /// Slots whose bits are computed for this event.
    pub computed: Cell<u64>,
    /// Resolved path arguments of an exec (the first `path_count` entries).
    path_args: Vec<String>,
    path_count: usize,
}

impl Scratch {
    /// Starts an event: nothing computed yet; `words` index words and `macros` memo slots.
    pub fn start(&mut self, words: usize, macros: usize) {
        if self.bits.len() < words {
            self.bits.resize(words, Cell::new(0));
        }
        if self.memo.len() != macros {
            self.memo = vec![Cell::new(0); macros];
        } else {
            self.memo.iter().for_each(|cell| cell.set(0));
        }
        self.computed.set(0);
        self.path_count = 0;
    }

    /// Resolves the non-option arguments after argv[0] against `cwd`, into reused strings.
    pub fn resolve_path_args(&mut self, args: &[String], cwd: Option<&str>) {
        self.path_count = 0;
        for arg in args.iter().skip(1) {
            if arg.is_empty() || arg.starts_with('-') {
                continue;
            }
            if self.path_count == self.path_args.len() {
                self.path_args.push(String::new());
            }
            resolve_into(&mut self.path_args[self.path_count], cwd, arg);
            self.path_count += 1;
        }
    }

    pub fn path_args(&self) -> &[String] {
        &self.path_args[..self.path_count]
    }
}

/// `process::resolve::resolve(base, path)`, written into `out` (cleared first).
pub fn resolve_into(out: &mut String, base: Option<&str>, path: &str) {
    out.clear();
    let absolute = path.starts_with('/') || base.is_some_and(|base| !base.is_empty() && base.starts_with('/'));
    if absolute {
        out.push('/');
    }
    let relative_base = match base {
        Some(base) if !base.is_empty() && !path.starts_with('/') => Some(base),
        _ => None,
    };
    for part in relative_base
        .into_iter()
        .flat_map(|base| base.split('/'))
        .chain(path.split('/'))
    {
        match part {
            "" | "." => {}
            ".." => {
                let floor = usize::from(absolute);
                let last = &out[floor..];
                let last_start = last.rfind('/').map_or(floor, |at| floor + at + 1);
                if out.len() > floor && &out[last_start..] != ".." {
                    out.truncate(last_start.saturating_sub(1).max(floor));
                } else if !absolute {
                    push_part(out, floor, "..");
                }
            }
            other => push_part(out, usize::from(absolute), other),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
}

fn push_part(out: &mut String, floor: usize, part: &str) {
    if out.len() > floor {
        out.push('/');
    }
    out.push_str(part);
}

/// A short text formatted on the stack (numbers, hex ids, IP addresses).
#[derive(Clone, Copy)]
pub struct InlineText {
    bytes: [u8; 64],
    len: u8,
}

impl InlineText {
    pub fn format(args: fmt::Arguments) -> Self {
        let mut text = Self { bytes: [0; 64], len: 0 };
        // Every value formatted here fits (an IPv6 address takes at most 45 bytes).
        let _ = fmt::write(&mut text, args);
        text
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
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
    use proptest::prelude::*;

    use super::*;
    use crate::process::resolve::resolve;

    #[test]
    fn inline_text_formats_without_the_heap() {
        assert_eq!(
            InlineText::format(format_args!("{:016x}", 0xabu64)).as_str(),
            "00000000000000ab"
        );
        let ip: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".parse().expect("ip");
        assert_eq!(InlineText::format(format_args!("{ip}")).as_str(), ip.to_string());
    }

    #[test]
    fn path_args_skip_options_and_reuse_their_strings() {
        let mut scratch = Scratch::default();
        let args = ["rm", "-rf", "target", "/tmp/../etc/x"].map(String::from);
        scratch.resolve_path_args(&args, Some("/home/a/p"));
        assert_eq!(scratch.path_args(), ["/home/a/p/target", "/etc/x"]);
        scratch.resolve_path_args(&args[..3], None);
        assert_eq!(scratch.path_args(), ["target"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn resolve_into_is_resolve(
            base in proptest::option::of(proptest::sample::select(vec!["", "/", "/home/a", "/home/a/", "rel/dir", "..", "/a/../.."])),
            parts in proptest::collection::vec(proptest::sample::select(vec!["", ".", "..", "a", "b", "..", "c.d"]), 0..6),
            rooted in any::<bool>(),
        ) {
            let path = format!("{}{}", if rooted { "/" } else { "" }, parts.join("/"));
            let mut out = String::new();
            resolve_into(&mut out, base, &path);
            prop_assert_eq!(out, resolve(base, &path), "{:?} {:?}", base, path);
        }
    }
}
