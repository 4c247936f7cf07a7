//! The forms a scan is written in: ECS JSON lines (the sensor's outputs), one JSON document,
//! SARIF 2.1.0 for code-scanning tools, and a table for people.

pub mod ecs;
pub mod sarif;
pub mod table;

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ECS documents, one per line: records (`event.kind: state`) then findings (`event.kind: alert`).
    Jsonl,
    /// One JSON document: records, findings and unreadable files.
    Json,
    /// SARIF 2.1.0 (findings only).
    Sarif,
    /// A readable summary.
    Table,
}
