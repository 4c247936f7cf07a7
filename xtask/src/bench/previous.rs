//! The standing of the report a run replaces, shown beside the new one: every report then says
//! where the sensor stood before and where it stands now, both measured.

use std::{fs, path::Path};

/// The previous report's date, code and "Where we stand" table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Previous {
    pub date: String,
    pub code: String,
    /// The table's lines, header included, as they were written.
    pub table: Vec<String>,
}

/// Reads the report at `path`, when there is one with a standing table.
pub fn read(path: &Path) -> Option<Previous> {
    parse(&fs::read_to_string(path).ok()?)
}

fn parse(text: &str) -> Option<Previous> {
    let cell = |key: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(&format!("| {key} | "))
                .map(|rest| rest.trim_end_matches('|').trim().to_string())
        })
    };
    let (_, standing) = text.split_once("## Where we stand\n")?;
    let table: Vec<String> = standing
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .map(str::to_string)
        .collect();
    (!table.is_empty()).then(|| Previous {
        date: cell("date").unwrap_or_else(|| "unknown".into()),
        code: cell("code").unwrap_or_else(|| "unknown".into()),
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standing_table_and_its_provenance_are_read_back() {
        let report = "# Benchmarks\n\n## Machine\n\n| | |\n|---|---|\n| date | 2026-11-22 00:41 UTC |\n\
                      | code | commit c8995bf; rustc 1.95.0 |\n\n## Where we stand\n\nThe targets.\n\n\
                      | target | goal |\n|---|---|\n| Engine | 2 M/s |\n\n### The previous report\n\n\
                      | old | table |\n";
        let previous = parse(report).expect("a standing");
        assert_eq!(previous.date, "2026-11-22 00:41 UTC");
        assert_eq!(previous.code, "commit c8995bf; rustc 1.95.0");
        assert_eq!(previous.table, ["| target | goal |", "|---|---|", "| Engine | 2 M/s |"]);
        assert_eq!(parse("# Benchmarks\n"), None);
    }
}
