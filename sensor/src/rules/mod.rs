//! The rule engine: YAML rule packs (docs/rules.md), compiled once and indexed by event action,
//! evaluated per event with bounded state for thresholds and sequences.
//!
//! Flow: `loader` finds pack files → `pack` parses each into a syntax tree (with positions) →
//! `compile` merges packs, applies overrides, resolves lists and macros, compiles conditions
//! (`condition`, `matchers`), specialises them per event action with an index of the text fields
//! (`index`, `globs::router`) and triggers (`trigger`) → `engine` evaluates events (`eval`,
//! `state`, `scratch`) into `alert`s. Sigma files are recognised by their shape and translated
//! into packs by `sigma`.

pub mod alert;
pub mod compile;
pub mod condition;
pub mod coverage;
pub mod diagnostics;
pub mod engine;
pub mod eval;
pub mod fields;
pub mod globs;
pub mod index;
pub mod kernel_form;
pub mod kernel_glob;
pub mod loader;
pub mod matchers;
pub mod pack;
pub mod regex_literals;
pub mod regexes;
pub mod rule;
pub mod scratch;
pub mod sigma;
pub mod state;
pub mod testing;
pub mod trigger;
pub mod yaml_tree;

pub use alert::Alert;
pub use compile::RuleSet;
pub use diagnostics::{Diagnostic, Diagnostics};
pub use engine::Engine;
pub use rule::{RuleAction, Severity};

#[cfg(test)]
pub(crate) mod hostile_packs;
#[cfg(test)]
mod quiet_events;
#[cfg(test)]
mod tests;
