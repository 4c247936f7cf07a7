//! Rule packs mangled by a typo or by someone who wants the sensor down: cut at any line, lines
//! dropped, indentation broken, colons removed, stray bytes. Loading reports problems (with file
//! and line) and never panics.

use proptest::prelude::*;

use super::loader::compile_sources;

/// The default pack, file by file: `(origin, text)`.
fn default_packs() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let mut packs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the default pack")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("pack text");
            (path.display().to_string(), text)
        })
        .collect();
    packs.sort();
    packs
}

/// `text` with `edits` applied (each: where, what, a byte), then cut after `cut` lines.
pub(crate) fn mangle(text: &str, edits: &[(usize, u8, u8)], cut: usize) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for &(at, kind, byte) in edits {
        if lines.is_empty() {
            break;
        }
        let line = at % lines.len();
        match kind {
            0 => lines[line] = lines[line].trim_start().to_string(),
            1 => lines[line].insert(0, ' '),
            2 => {
                lines.remove(line);
            }
            3 => lines[line] = lines[line].replacen(':', "", 1),
            _ => lines[line].push(char::from(byte)),
        }
    }
    let cut = cut % (lines.len() + 1);
    lines[..cut].join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mangled_default_packs_load_or_report_never_panic(
        file in 0usize..64,
        cut in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), 0u8..5, any::<u8>()), 0..6),
    ) {
        let packs = default_packs();
        let (origin, text) = &packs[file % packs.len()];
        let mangled = mangle(text, &edits, cut);
        if let Err(problems) = compile_sources(&[(origin.clone(), mangled)]) {
            // Every problem names the file it is in.
            prop_assert!(problems.0.iter().all(|problem| problem.to_string().contains(origin.as_str())));
        }
    }
}
