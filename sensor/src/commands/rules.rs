//! `agent-sensor rules check|test`: tools for rule authors.

use std::{path::PathBuf, sync::Arc};

use crate::rules::{loader, sigma, testing};

/// Validates packs; prints every problem; returns the exit code.
pub fn check(paths: &[PathBuf]) -> i32 {
    match loader::load(paths) {
        Ok(set) => {
            for skipped in &set.skipped {
                println!("not loaded: {skipped}");
            }
            for note in crate::rules::kernel_form::judgement_notes(&set) {
                println!("note: {note}");
            }
            let sigma = set
                .rules
                .iter()
                .filter(|rule| &*rule.meta.ruleset == sigma::RULESET)
                .count();
            println!(
                "ok: {} rules enabled ({sigma} Sigma), {} disabled, in {} packs{}",
                set.rules.len(),
                set.disabled,
                set.files.len(),
                if set.skipped.is_empty() {
                    String::new()
                } else {
                    format!("; {} Sigma rules not loaded", set.skipped.len())
                }
            );
            0
        }
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!(
                "{} problem{} found",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            1
        }
    }
}

/// Runs the test cases beside the packs; prints failures and a summary; returns the exit code.
pub fn test(paths: &[PathBuf]) -> i32 {
    let set = match loader::load(paths) {
        Ok(set) => Arc::new(set),
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!("the packs have problems; fix them before running their tests");
            return 1;
        }
    };
    let files = testing::test_files(paths);
    if files.is_empty() {
        eprintln!("no test files (*.tests.yaml) beside the packs");
        return 1;
    }
    let report = testing::run(&set, &files);
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    for result in report.results.iter().filter(|result| !result.passed()) {
        let list = |ids: &std::collections::BTreeSet<String>| ids.iter().cloned().collect::<Vec<_>>().join(", ");
        eprintln!(
            "FAIL {}:{}: {}\n    expected: [{}]\n    fired:    [{}]",
            result.file,
            result.line,
            result.name,
            list(&result.expected),
            list(&result.fired)
        );
    }
    println!(
        "{} cases in {} files: {} passed, {} failed{}",
        report.results.len(),
        files.len(),
        report.results.len() - report.failed(),
        report.failed(),
        if report.problems.is_empty() {
            String::new()
        } else {
            format!(", {} problems", report.problems.len())
        }
    );
    if report.ok() { 0 } else { 1 }
}
