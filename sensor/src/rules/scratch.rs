//! Working memory the engine reuses from one event to the next, so an event that raises no
//! alert allocates nothing: the macro memo, the index bits, the resolved path arguments of an
//! exec, and derived values (user.id, gen_ai.agent.id, destination addresses) formatted into
//! `event::InlineText`s. The event's view (`eval::EvalEvent`) refers to it, so that view stays
//! a few references, not a kilobyte built and moved for every event.

use std::cell::{Cell, OnceCell, RefCell};

use rustc_hash::FxHashMap;

use crate::event::{Action, Event, InlineText};

/// The engine's working memory.
#[derive(Default)]
pub struct Scratch {
    /// Macro results of the event (0 not computed, 1 false, 2 true).
    pub memo: Vec<Cell<u8>>,
    /// Index bits of the event, by word.
    pub bits: Vec<Cell<u64>>,
    /// Slots whose bits are computed for this event.
    pub computed: Cell<u64>,
    /// Index bits of the values of per-process fields, kept across events.
    pub per_process: RefCell<ValueBits>,
    /// Resolved path arguments of an exec (the first `path_count` entries).
    path_args: Vec<String>,
    path_count: usize,
    /// `user.id`, `group.id`, `gen_ai.agent.id` and `destination.address` of an IP, formatted
    /// when a rule first asks.
    pub uid: OnceCell<InlineText>,
    pub gid: OnceCell<InlineText>,
    pub agent_id: OnceCell<InlineText>,
    pub destination: OnceCell<InlineText>,
}

impl Scratch {
    /// Starts `event`: nothing computed yet; `words` index words and `macros` memo slots; the
    /// path arguments of an exec resolved against its working directory.
    pub fn start(&mut self, event: &Event, words: usize, macros: usize) {
        self.start_words(words, macros);
        for cell in [&mut self.uid, &mut self.gid, &mut self.agent_id, &mut self.destination] {
            if cell.get().is_some() {
                cell.take();
            }
        }
        if event.action == Action::Exec {
            let cwd = Some(&*event.process.cwd).filter(|cwd| !cwd.is_empty());
            self.resolve_path_args(&event.process.args, cwd);
        }
    }

    fn start_words(&mut self, words: usize, macros: usize) {
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
    fn resolve_path_args(&mut self, args: &[String], cwd: Option<&str>) {
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

/// The index bits of the values of per-process fields (`process.name`, `process.executable`…):
/// every event of a process carries the same ones, so each distinct value is matched against
/// the field's patterns once, not once per event. Kept per action and field slot; each table is
/// emptied when it outgrows [`ValueBits::LIMIT`] values, and all of them when the rules change.
#[derive(Debug, Default)]
pub struct ValueBits {
    tables: Vec<FxHashMap<Box<str>, Box<[u64]>>>,
}

impl ValueBits {
    /// Distinct values kept per table.
    pub const LIMIT: usize = 4096;

    /// The bits kept for `value` in table `table`.
    pub fn get(&self, table: usize, value: &str) -> Option<&[u64]> {
        self.tables.get(table)?.get(value).map(|bits| &**bits)
    }

    /// Keeps `bits` for `value` in table `table`.
    pub fn insert(&mut self, table: usize, value: &str, bits: impl Iterator<Item = u64>) {
        if self.tables.len() <= table {
            self.tables.resize_with(table + 1, FxHashMap::default);
        }
        let entries = &mut self.tables[table];
        if entries.len() >= Self::LIMIT {
            entries.clear();
        }
        entries.insert(Box::from(value), bits.collect());
    }

    /// Forgets everything (the rules changed).
    pub fn clear(&mut self) {
        self.tables.clear();
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
                let last_start = crate::process::resolve::last_slash(last).map_or(floor, |at| floor + at + 1);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::process::resolve::resolve;

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
