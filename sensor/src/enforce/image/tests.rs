//! The image's contents, checked by replaying the kernel's matching (`path_sets` in
//! sensor-ebpf) over it in userspace.

use std::{collections::HashMap, path::Path, sync::Arc};

use sensor_common::{
    decide::{Scope, in_scope, may_fire},
    policy::{ACTION_DENY, ACTION_KILL_TREE, PolicyOp, RULE_DISTINCT, RULE_NOT_DIRECTORY, component_hash},
};

use super::*;
use crate::{
    enforce::expand::ListDirs,
    rules::{compile::compile, pack::parse_pack},
};

const SEED: u64 = 0x5eed;

struct NoDirs;

impl ListDirs for NoDirs {
    fn subdirectories(&self, _dir: &Path) -> Vec<String> {
        Vec::new()
    }
}

fn rules(text: &str) -> Arc<RuleSet> {
    let (pack, problems) = parse_pack("test.yaml", text);
    assert!(problems.is_empty(), "{problems:?}");
    Arc::new(compile(&[pack.expect("pack")]).unwrap_or_else(|problems| panic!("{problems}")))
}

fn image(text: &str) -> PolicyImage {
    PolicyImage::build(
        &rules(text),
        &ImageInputs {
            seed: SEED,
            homes: &["/home/alice".to_string()],
            dirs: &NoDirs,
            egress: None,
        },
    )
    .expect("image")
}

fn path_sets(image: &PolicyImage, path: &str) -> u64 {
    super::mirror::path_sets(image, path)
}

/// The slots of the rules that apply to `path` for `op` (paths and exclusions only).
fn matching(image: &PolicyImage, op: PolicyOp, path: &str, program: Option<&str>) -> Vec<String> {
    let sets = path_sets(image, path);
    let exempt = program
        .map(|name| {
            image
                .programs
                .get(&component_hash(SEED, name.as_bytes()))
                .copied()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    image
        .slots
        .iter()
        .enumerate()
        .filter(|(slot, _)| image.config.op_rules[op as usize] & (1 << slot) != 0)
        .filter(|(slot, _)| {
            in_scope(
                &image.rules[*slot],
                &Scope {
                    sets,
                    identity: 0,
                    exempt,
                },
            )
        })
        .map(|(_, rule)| rule.meta.id.to_string())
        .collect()
}

const PACK: &str = r#"
lists:
  keys: ['~/.ssh/**', '/home/*/.ssh/**']
  public: ['~/.ssh/*.pub', '~/.ssh/known_hosts*']
rules:
  - id: key-read
    name: n
    description: d
    severity: high
    action: deny
    when:
      all:
        - event.action: open
        - file.path: {glob: $keys}
        - not: {agent_sensor.open.flags: O_DIRECTORY}
    except:
      - file.path: {glob: $public}
      - {process.name: [ssh, ssh-add], agent_sensor.process.trusted: true}
  - id: bulk
    name: n
    description: d
    severity: critical
    action: kill-tree
    when:
      all:
        - event.action: open
        - file.path: {glob: ['~/.aws/credentials', '~/.config/google-chrome/**/Login Data', '~/**/*.kdbx']}
    threshold: {count: 3, distinct: file.path, within: 60s}
  - id: scratch-delete
    name: n
    description: d
    severity: high
    action: deny
    when:
      all:
        - event.action: [unlink, rmdir]
        - file.path: {glob: '/srv/data/**'}
        - not: {file.path: {glob: ['/srv/data/go-build*/**', '/srv/data/cache/**']}}
"#;

#[test]
fn rules_get_slots_ops_actions_and_flags() {
    let image = image(PACK);
    let ids: Vec<&str> = image.slots.iter().map(|slot| &*slot.meta.id).collect();
    assert_eq!(ids, ["key-read", "bulk", "scratch-delete"]);
    assert_eq!(image.rules[0].action, ACTION_DENY);
    assert_eq!(image.rules[1].action, ACTION_KILL_TREE);
    assert_eq!(image.rules[0].flags & RULE_NOT_DIRECTORY, RULE_NOT_DIRECTORY);
    assert_eq!(image.rules[1].flags & RULE_DISTINCT, RULE_DISTINCT);
    assert_eq!(
        (image.rules[1].threshold, image.rules[1].window_ns),
        (3, 60_000_000_000)
    );
    let open = PolicyOp::OpenRead as usize;
    assert_eq!(image.config.op_rules[open], 0b011);
    assert_eq!(image.config.op_rules[PolicyOp::OpenWrite as usize], 0b011);
    assert_eq!(image.config.op_rules[PolicyOp::Unlink as usize], 0b100);
    assert_eq!(image.config.op_rules[PolicyOp::Exec as usize], 0);
    // The sets an operation's rules include: a file protected for deletion only is not
    // protected for opens.
    let opens = image.rules[0].include_sets | image.rules[1].include_sets;
    assert_ne!(opens, 0);
    assert_eq!(image.config.op_sets[open], opens);
    assert_eq!(
        image.config.op_sets[PolicyOp::Unlink as usize],
        image.rules[2].include_sets
    );
    assert_eq!(opens & image.rules[2].include_sets, 0);
    assert_eq!(image.config.op_sets[PolicyOp::Exec as usize], 0);
}

/// The kernel asks `may_fire` before testing an operation's rules one by one: it may turn a
/// path away only when no rule would fire on it, and a rule without paths keeps every path.
#[test]
fn may_fire_turns_away_only_paths_no_rule_fires_on() {
    let unscoped = format!(
        "{PACK}{}",
        r#"
  - id: any-truncate
    name: n
    description: d
    severity: low
    action: deny
    when:
      event.action: truncate
"#
    );
    let image = image(&unscoped);
    let truncate = PolicyOp::Truncate as u32;
    assert_eq!(image.config.unscoped_ops, 1 << truncate);
    let paths = [
        "/home/alice/.ssh/id_ed25519",
        "/home/alice/.ssh/id_ed25519.pub",
        "/home/alice/.aws/credentials",
        "/home/alice/src/main.rs",
        "/srv/data/x",
        "/srv/data/cache/x",
        "/usr/include/stdio.h",
        "/",
    ];
    let mut turned_away = 0;
    for op in [
        PolicyOp::OpenRead,
        PolicyOp::OpenWrite,
        PolicyOp::Unlink,
        PolicyOp::Truncate,
    ] {
        for path in paths {
            let sets = image.config.always_sets | path_sets(&image, path);
            let unscoped = image.config.unscoped_ops >> op as u32 & 1 != 0;
            if !may_fire(image.config.op_sets[op as usize], unscoped, sets) {
                turned_away += 1;
                assert_eq!(matching(&image, op, path, None), Vec::<String>::new(), "{op:?} {path}");
            }
        }
    }
    // Most of the grid is turned away (the point of asking), never a truncate.
    assert!(turned_away >= 12, "{turned_away}");
}

#[test]
fn home_globs_cover_every_home_and_names_match_like_the_glob() {
    let image = image(PACK);
    let read = PolicyOp::OpenRead;
    assert_eq!(
        matching(&image, read, "/home/alice/.ssh/id_ed25519", None),
        ["key-read"]
    );
    assert_eq!(
        matching(&image, read, "/home/alice/.ssh/sub/dir/key", None),
        ["key-read"]
    );
    // Exceptions by path (public files) and by program.
    assert!(matching(&image, read, "/home/alice/.ssh/id_ed25519.pub", None).is_empty());
    assert!(matching(&image, read, "/home/alice/.ssh/known_hosts.old", None).is_empty());
    assert!(matching(&image, read, "/home/alice/.ssh/id_ed25519", Some("ssh")).is_empty());
    assert_eq!(
        matching(&image, read, "/home/alice/.ssh/id_ed25519", Some("cat")),
        ["key-read"]
    );
    // Not below the tree.
    assert!(matching(&image, read, "/home/alice/.ssh", None).is_empty());
    assert!(matching(&image, read, "/home/alice/.sshx/id_rsa", None).is_empty());
    // Exact files, names at any depth, suffixes.
    assert_eq!(matching(&image, read, "/home/alice/.aws/credentials", None), ["bulk"]);
    assert!(matching(&image, read, "/home/alice/.aws/config", None).is_empty());
    assert_eq!(
        matching(
            &image,
            read,
            "/home/alice/.config/google-chrome/Profile 1/Login Data",
            None
        ),
        ["bulk"]
    );
    assert_eq!(matching(&image, read, "/home/alice/notes/vault.kdbx", None), ["bulk"]);
    assert!(matching(&image, read, "/home/alice/notes/vault.kdbx.bak", None).is_empty());
}

#[test]
fn directory_name_patterns_exclude_whole_trees() {
    let image = image(PACK);
    let unlink = PolicyOp::Unlink;
    assert_eq!(
        matching(&image, unlink, "/srv/data/report.csv", None),
        ["scratch-delete"]
    );
    assert_eq!(
        matching(&image, unlink, "/srv/data/go-builder", None),
        ["scratch-delete"]
    );
    assert!(matching(&image, unlink, "/srv/data/go-build123/b001/exe", None).is_empty());
    assert!(matching(&image, unlink, "/srv/data/cache/x", None).is_empty());
    assert!(matching(&image, unlink, "/srv/other/x", None).is_empty());
}

#[test]
fn program_exceptions_are_scoped_to_their_rule() {
    let image = image(
        r#"
rules:
  - id: a
    name: n
    description: d
    severity: high
    action: deny
    when: {all: [{event.action: open}, {file.path: {glob: '/x/**'}}]}
    except: [{process.name: tool, agent_sensor.process.trusted: true}]
  - id: b
    name: n
    description: d
    severity: high
    action: deny
    when: {all: [{event.action: open}, {file.path: {glob: '/x/**'}}]}
"#,
    );
    assert_eq!(matching(&image, PolicyOp::OpenRead, "/x/y", Some("tool")), ["b"]);
    assert_eq!(matching(&image, PolicyOp::OpenRead, "/x/y", Some("other")), ["a", "b"]);
}

#[test]
fn networks_and_ports_become_address_sets_and_ranges() {
    let image = image(
        r#"
rules:
  - id: egress
    name: n
    description: d
    severity: high
    action: deny
    when:
      all:
        - event.action: connect
        - not: {destination.ip: {cidr: [127.0.0.0/8, '::1/128']}}
        - not: {destination.port: {range: [53, '1024-2048']}}
"#,
    );
    let rule = &image.rules[0];
    assert_eq!((rule.ip_include, rule.ip_exclude), (0, 1));
    assert_eq!(rule.port_exclude_count, 2);
    assert_eq!((rule.port_exclude[1].low, rule.port_exclude[1].high), (1024, 2048));
    let mut keys: Vec<(u32, [u8; 20])> = image.cidrs.clone();
    keys.sort();
    // Set 0, 127.0.0.0/8 as ::ffff:127.0.0.0/104, and ::1/128.
    assert_eq!(keys[0].0, 32 + 104);
    assert_eq!(&keys[0].1[..4], &0u32.to_be_bytes());
    assert_eq!(keys[0].1[4 + 10..4 + 13], [0xff, 0xff, 127]);
    assert_eq!(keys[1].0, 32 + 128);
}

#[test]
fn too_many_rules_or_patterns_are_errors() {
    let mut many = String::from("rules:\n");
    for i in 0..65 {
        many.push_str(&format!(
            "  - {{id: r{i}, name: n, description: d, severity: low, action: deny, when: {{all: [{{event.action: open}}, {{file.path: /r/{i}}}]}}}}\n"
        ));
    }
    let result = PolicyImage::build(
        &rules(&many),
        &ImageInputs {
            seed: SEED,
            homes: &[],
            dirs: &NoDirs,
            egress: None,
        },
    );
    assert!(matches!(result, Err(ImageError::TooManyRules(65))), "{result:?}");

    let names: Vec<String> = (0..17).map(|i| format!("'p{i}*'")).collect();
    let crowded = format!(
        "rules:\n  - {{id: c, name: n, description: d, severity: low, action: deny, when: {{all: [{{event.action: open}}, {{file.path: {{glob: ['/d/{{{}}}']}}}}]}}}}\n",
        names.iter().map(|n| n.trim_matches('\'')).collect::<Vec<_>>().join(",")
    );
    let result = PolicyImage::build(
        &rules(&crowded),
        &ImageInputs {
            seed: SEED,
            homes: &[],
            dirs: &NoDirs,
            egress: None,
        },
    );
    assert!(matches!(result, Err(ImageError::TooManyPatterns { .. })), "{result:?}");
}

#[test]
fn the_same_globs_share_a_set() {
    let image = image(PACK);
    let by_dir: HashMap<&String, usize> = image.described.iter().map(|(dir, v)| (dir, v.len())).collect();
    assert!(by_dir.contains_key(&"/home/alice/.ssh".to_string()));
    // key-read's include, its public-file exclusion, its program exception (any path), bulk's
    // include, scratch-delete's include and exclusion.
    assert_eq!(image.config.always_sets.count_ones(), 1);
}

#[test]
fn the_shipped_pack_fits_the_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let rules = crate::rules::loader::load(&[dir]).unwrap_or_else(|problems| panic!("{problems}"));
    let homes = ["/home/alice".to_string(), "/root".to_string()];
    let image = PolicyImage::build(
        &rules,
        &ImageInputs {
            seed: SEED,
            homes: &homes,
            dirs: &NoDirs,
            egress: None,
        },
    )
    .unwrap_or_else(|error| panic!("the default pack does not fit the kernel: {error}"));
    assert_eq!(
        image.slots.len(),
        rules.rules.iter().filter(|rule| rule.kernel_form().is_some()).count()
    );
}

/// A glob as the rule engine builds it.
fn engine_glob(pattern: &str) -> globset::GlobMatcher {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .expect("glob")
        .compile_matcher()
}

proptest::proptest! {
    // The kernel's answer (its decisions from sensor-common, over the image) against the rule
    // engine's glob matcher, for the shapes of glob the kernel takes: exact paths, `D/**`,
    // `D/PREFIX*SUFFIX`, `D/**/PREFIX*SUFFIX` and `D/PREFIX*SUFFIX/**`.
    #[test]
    fn the_kernel_matches_paths_like_the_rule_engine(
        shape in 0usize..5,
        prefix in "[ab.]{0,3}",
        suffix in "[ab.]{0,3}",
        parts in proptest::collection::vec(
            proptest::strategy::Strategy::prop_filter("[ab.]{1,5}", "paths are canonical", |p: &String| p != "." && p != ".."),
            1..5,
        ),
    ) {
        let name = format!("{prefix}*{suffix}");
        let glob = match shape {
            0 => format!("/srv/d/{}", parts.join("/")),
            1 => "/srv/d/**".to_string(),
            2 => format!("/srv/d/{name}"),
            3 => format!("/srv/d/**/{name}"),
            _ => format!("/srv/d/{name}/**"),
        };
        let pack = format!(
            "rules:\n  - id: r\n    name: n\n    description: d\n    severity: high\n    action: deny\n    when:\n      all:\n        - event.action: unlink\n        - file.path: {{glob: '{glob}'}}\n"
        );
        let image = image(&pack);
        let path = format!("/srv/d/{}", parts.join("/"));
        let kernel = !matching(&image, PolicyOp::Unlink, &path, None).is_empty();
        proptest::prop_assert_eq!(kernel, engine_glob(&glob).is_match(&path), "{} against {}", path, glob);
    }
}

#[test]
fn a_hand_off_rule_takes_one_slot_judged_for_both_hand_off_operations_on_any_path() {
    let image = image(&format!(
        "rules:\n  - id: escape\n    name: n\n    description: d\n    severity: high\n    action: deny\n{}",
        crate::rules::kernel_form::tests::HANDOFF
    ));
    assert_eq!(image.slots.len(), 1);
    let rule = &image.rules[0];
    assert_eq!(rule.action, ACTION_DENY);
    assert_eq!(rule.ops, PolicyOp::HandoffConnect.bit() | PolicyOp::HandoffAttach.bit());
    // No path, address or port test: the peer is judged by the hook.
    assert_eq!((rule.include_sets, rule.ip_include, rule.port_include_count), (0, 0, 0));
    for op in PolicyOp::ALL {
        assert_eq!(image.config.op_rules[op as usize], u64::from(op.is_handoff()), "{op:?}");
    }
}
