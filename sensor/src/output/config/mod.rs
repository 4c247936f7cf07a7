//! The `outputs:` section of the configuration file (docs/configuration.md, docs/outputs.md).
//!
//! Each entry is read as one flat map ([`OutputSpec`]) so that unknown keys and wrong types are
//! reported by the YAML reader with their line, then checked against its `type` ([`resolve`]):
//! keys that do not apply, missing settings and bad values are errors naming the entry's line.

mod resolve;
mod resolved;
mod spec;
#[cfg(test)]
mod tests;

pub use resolve::{BadName, FlagClash, check_name, resolve, with_flags};
pub use resolved::*;
pub use spec::*;
