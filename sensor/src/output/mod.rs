//! Where events go: JSON lines to stdout or a file.

mod jsonl;

pub use jsonl::{JsonLines, OutputTarget};
