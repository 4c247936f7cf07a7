//! Which Sigma rules load: every reason one is left out, user pipelines, the vendored and built-in
//! packs, and broken rules that must never crash the translator.

use super::*;

/// Every reason a rule is left out, at its file and line, without stopping the others.
#[test]
fn unsupported_rules_are_reported_and_left_out() {
    let cases = [
        (
            "auditd",
            "title: t\nlogsource: {product: linux, service: auditd}\ndetection:\n  sel: {type: EXECVE}\n  condition: sel\n",
            2,
            "log source `product: linux, service: auditd` is not produced",
        ),
        (
            "field",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    LogonId: 0\n  condition: sel\n",
            5,
            "unsupported field `LogonId`",
        ),
        (
            "modifier",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    CommandLine|wide|base64: x\n  condition: sel\n",
            5,
            "unsupported modifier `wide`",
        ),
        (
            "unknown",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    CommandLine|sideways: x\n  condition: sel\n",
            5,
            "unknown modifier `sideways`",
        ),
        (
            "keywords",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  keywords: [evil]\n  condition: keywords\n",
            4,
            "keyword searches",
        ),
        (
            "undefined",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel and other\n",
            5,
            "`other`",
        ),
        (
            "syntax",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: (sel\n",
            5,
            "never closed",
        ),
        (
            "aggregation",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel | count() > 5\n",
            5,
            "correlation rule",
        ),
        (
            "lookaround",
            "title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    CommandLine|re: 'a(?!b)'\n  condition: sel\n",
            5,
            "look-around",
        ),
        (
            "number",
            "title: t\nlogsource: {product: linux, category: network_connection}\ndetection:\n  sel:\n    DestinationPort|contains: 44\n  condition: sel\n",
            5,
            "number field",
        ),
        (
            "deprecated",
            "title: t\nstatus: deprecated\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel\n",
            1,
            "`deprecated`",
        ),
        (
            "yaml",
            "title: t\nlogsource: {product: linux\ndetection: [\n",
            3,
            "invalid YAML",
        ),
        (
            "temporal",
            "title: t\ncorrelation:\n  type: temporal\n  rules: [x]\n  timespan: 1m\n",
            3,
            "unordered",
        ),
        (
            "reference",
            "title: t\ncorrelation:\n  type: event_count\n  rules: [nowhere]\n  timespan: 1m\n  condition: {gte: 2}\n",
            4,
            "`nowhere`",
        ),
        (
            "lte",
            "title: t\nname: base\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel\n---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [base]\n  timespan: 1m\n  condition: {lte: 2}\n",
            13,
            "`lte` is not supported",
        ),
    ];
    let good = rule(
        "good",
        "process_creation",
        "  sel:\n    Image|endswith: /id\n  condition: sel\n",
    );
    let mut files: Vec<(String, String)> = cases
        .iter()
        .map(|(name, text, _, _)| (format!("{name}.yml"), text.to_string()))
        .collect();
    files.push(("good.yml".into(), good));
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let set = load(&files);
    assert_eq!(set.rules.len(), 2, "only the good rule and the base of `lte` load");
    for (name, _, line, message) in cases {
        let file = format!("{name}.yml");
        let found = set.skipped.iter().find(|d| *d.file == *file);
        let Some(found) = found else {
            panic!("{name}: not reported; reported: {:?}", set.skipped)
        };
        assert!(found.message.contains(message), "{name}: {found}");
        assert_eq!(found.line, line, "{name}: {found}");
    }
}

#[test]
fn user_pipelines_extend_the_built_in_one() {
    let text = "title: t\nid: gid\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    \
                GroupId: '0'\n    Image|endswith: /id\n  condition: sel\n";
    let pipeline = "name: site\ntransformations:\n  - id: groups\n    type: field_name_mapping\n    mapping:\n      GroupId: group.id\n";
    let set = Arc::new(load(&[("site.pipeline.yml", pipeline), ("r.yml", text)]));
    assert_eq!(set.rules.len(), 1);
    let bad = "name: site\ntransformations:\n  - id: x\n    type: field_name_prefix\n";
    let problems = match compile_sources(&[("bad.yml".to_string(), bad.to_string())]) {
        Ok(_) => panic!("a pipeline the sensor cannot read is an error"),
        Err(problems) => problems.to_string(),
    };
    assert!(
        problems.contains("bad.yml:4:11") && problems.contains("field_name_prefix"),
        "{problems}"
    );
}

/// The vendored SigmaHQ rules load completely and their cases pass.
#[test]
fn shipped_sigma_pack_loads_and_passes_its_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma");
    let set = match crate::rules::loader::load(std::slice::from_ref(&dir)) {
        Ok(set) => Arc::new(set),
        Err(problems) => panic!("{problems}"),
    };
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    assert!(set.rules.len() >= 20, "{} rules", set.rules.len());
    let files = crate::rules::testing::test_files(&[dir]);
    let report = crate::rules::testing::run(&set, &files);
    let failed: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| {
            format!(
                "{}:{} {}: expected {:?}, fired {:?}",
                r.file, r.line, r.name, r.expected, r.fired
            )
        })
        .collect();
    assert!(report.ok(), "{failed:#?}\n{:?}", report.problems);
}

/// `sigma_pack: true` loads the Sigma pack the binary carries after the shipped packs.
#[test]
fn the_built_in_sigma_pack_loads_beside_the_default_pack() {
    let set = match crate::rules::loader::load_with(&[], true) {
        Ok(set) => set,
        Err(problems) => panic!("{problems}"),
    };
    let sigma = set
        .rules
        .iter()
        .filter(|r| &*r.meta.ruleset == crate::rules::sigma::RULESET)
        .count();
    assert!(sigma >= 20, "{sigma} Sigma rules");
    assert!(set.rules.len() > sigma, "the default pack loads too");
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    let alone = crate::rules::loader::load_with(&[], false).expect("default pack");
    assert!(
        alone
            .rules
            .iter()
            .all(|r| &*r.meta.ruleset != crate::rules::sigma::RULESET)
    );
}

/// Broken rules are reported, never a crash: every vendored rule cut after each of its lines,
/// and with its indentation lost from each line on.
#[test]
fn truncated_and_mangled_rules_never_crash_the_translator() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma/linux/process_creation");
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("vendored rules").flatten().take(6) {
        let text = std::fs::read_to_string(entry.path()).expect("rule text");
        let lines: Vec<&str> = text.lines().collect();
        for cut in 1..lines.len() {
            texts.push(lines[..cut].join("\n"));
            let mut mangled: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            mangled[cut] = mangled[cut].trim_start().replace(':', " |");
            texts.push(mangled.join("\n"));
        }
    }
    let sources: Vec<crate::rules::sigma::Source> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| crate::rules::sigma::Source {
            index,
            origin: "cut.yml",
            text,
        })
        .collect();
    let translation = crate::rules::sigma::translate(&sources, &[]);
    assert!(translation.errors.is_empty());
    assert!(!translation.skipped.is_empty(), "cut rules are reported");
    assert!(translation.loaded() > 0, "some cuts are still whole rules");
}
