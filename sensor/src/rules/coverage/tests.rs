use std::path::{Path, PathBuf};

use super::{markdown, *};
use crate::rules::loader;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn default_pack() -> RuleSet {
    match loader::load(&[repo().join("rules/default")]) {
        Ok(set) => set,
        Err(problems) => panic!("rules/default does not load: {problems}"),
    }
}

fn pack(text: &str) -> RuleSet {
    match loader::compile_sources(&[("test.yaml".to_string(), text.to_string())]) {
        Ok((set, _)) => set,
        Err(problems) => panic!("{problems}"),
    }
}

/// docs/coverage.md's generated section is what `rules coverage` prints for rules/default: a rule
/// or `mitre:` change without `agent-sensor rules coverage --write docs/coverage.md` fails here.
#[test]
fn docs_coverage_generated_section_is_current() {
    let path = repo().join("docs/coverage.md");
    let document = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let section = markdown::section(&document).unwrap_or_else(|error| panic!("docs/coverage.md: {error}"));
    let expected = markdown::render(&CoverageMap::of(&default_pack()));
    assert!(
        section == expected,
        "docs/coverage.md's generated section is stale; run \
         `agent-sensor rules coverage --write docs/coverage.md`\n--- in the doc\n{section}\n--- generated\n{expected}"
    );
}

#[test]
fn every_technique_of_the_default_pack_has_a_name() {
    let map = CoverageMap::of(&default_pack());
    assert!(map.techniques.len() > 40, "{} techniques", map.techniques.len());
    let unnamed: Vec<&str> = map
        .techniques
        .iter()
        .filter(|technique| technique.name.is_none())
        .map(|technique| technique.id.as_str())
        .collect();
    assert!(unnamed.is_empty(), "add these to coverage/techniques.rs: {unnamed:?}");
}

#[test]
fn the_default_pack_maps_deletions_to_kernel_and_sensor_actions() {
    let map = CoverageMap::of(&default_pack());
    let destruction = map
        .techniques
        .iter()
        .find(|technique| technique.id == "T1485")
        .expect("T1485 is covered");
    let rule = |id: &str| {
        destruction
            .rules
            .iter()
            .find(|rule| rule.rule == id)
            .unwrap_or_else(|| panic!("{id} under T1485"))
    };
    let protected = rule("protected-delete");
    assert_eq!(protected.action_label(), "deny (kernel)");
    let hooks: Vec<&str> = protected.prevention.iter().map(|p| p.hook).collect();
    assert_eq!(hooks, ["path_unlink", "path_rmdir"]);
    assert!(protected.prevention.iter().all(|p| p.fallback == "tracepoint-sigkill"));
    assert_eq!(rule("destructive-command").action_label(), "kill (sensor)");
    assert_eq!(rule("mass-overwrite").action_label(), "alert");
}

const SMALL: &str = r#"
rules:
  - id: z-connect
    name: n
    description: d
    severity: high
    mitre: [T1071]
    action: deny
    when: {event.action: connect, destination.port: 4444}
  - id: a-alert
    name: n
    description: d
    severity: low
    mitre: [T1071, T1059.004, T1059]
    when: {event.action: exec, process.name: nc}
  - id: m-kill
    name: n
    description: d
    severity: high
    mitre: [T1059.004]
    action: kill
    when: {event.action: exec, process.command_line: {regex: 'x.*y'}}
  - id: no-mitre
    name: n
    description: d
    severity: low
    when: {event.action: exec, process.name: ls}
"#;

#[test]
fn techniques_in_numeric_order_with_each_rule_and_its_backend() {
    let map = CoverageMap::of(&pack(SMALL));
    let ids: Vec<&str> = map.techniques.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T1059", "T1059.004", "T1071"]);
    let shell: Vec<(&str, String)> = map.techniques[1]
        .rules
        .iter()
        .map(|rule| (rule.rule.as_str(), rule.action_label()))
        .collect();
    assert_eq!(
        shell,
        [
            ("a-alert", "alert".to_string()),
            ("m-kill", "kill (sensor)".to_string())
        ]
    );
    let connect = &map.techniques[2].rules[1];
    assert_eq!(connect.rule, "z-connect");
    assert_eq!(
        connect.prevention,
        [Prevention {
            operation: "connect",
            backend: "bpf-lsm",
            hook: "socket_connect",
            fallback: "cgroup-sock-addr",
        }]
    );
    assert_eq!(map.rules_without_mitre, ["no-mitre"]);

    let text = markdown::render(&map);
    assert!(
        text.starts_with("3 techniques: 1 with a kernel rule that can prevent the operation, 1 more"),
        "{text}"
    );
    assert!(
        text.contains(
            "| T1071 Application Layer Protocol | `z-connect` | deny (kernel) | bpf-lsm `socket_connect`; without BPF LSM cgroup-sock-addr |"
        ),
        "{text}"
    );
    assert!(
        text.contains("| `m-kill` | kill (sensor) | not prevented: the sensor acts after detecting it |"),
        "{text}"
    );
    assert!(
        text.ends_with("Rules that name no ATT&CK technique: `no-mitre`.\n"),
        "{text}"
    );
    let json = serde_json::to_value(&map).expect("json");
    assert_eq!(
        json["techniques"][2]["rules"][1]["prevention"][0]["hook"],
        "socket_connect"
    );
    assert_eq!(json["techniques"][0]["name"], "Command and Scripting Interpreter");
}

#[test]
fn the_generated_section_is_replaced_between_its_markers_only() {
    let document = format!(
        "# Title\n\nhand text\n\n{}\nold map\n{}\n\n## After\nmore\n",
        markdown::BEGIN,
        markdown::END
    );
    assert_eq!(markdown::section(&document), Ok("old map\n"));
    let new = markdown::replace_section(&document, "new map\nline 2\n").expect("markers");
    assert_eq!(
        new,
        format!(
            "# Title\n\nhand text\n\n{}\nnew map\nline 2\n{}\n\n## After\nmore\n",
            markdown::BEGIN,
            markdown::END
        )
    );
    assert_eq!(markdown::section(&new), Ok("new map\nline 2\n"));
    assert_eq!(
        markdown::section("no markers\n"),
        Err(markdown::SectionError::NoMarkers)
    );
    let reversed = format!("{}\n{}\n", markdown::END, markdown::BEGIN);
    assert_eq!(markdown::section(&reversed), Err(markdown::SectionError::NoMarkers));
}
