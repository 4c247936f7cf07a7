//! Baselines end to end in memory: learning, enforcing, alerts; persistence round trips,
//! corruption, unknown versions; bounded growth under arbitrary input.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{
    persist::{self, DecodeError},
    *,
};
use crate::{
    config::baseline::{BaselineConfig, ConfigDuration},
    event::{
        annotations::{CountryCode, DestinationInfo, Scope},
        from_json::{event_from_json, nest_dotted},
    },
};

const START: i64 = 1_767_225_600; // 2026-01-01

/// Learns in one session, then enforces.
fn quick_config() -> BaselineConfig {
    let mut config = BaselineConfig::default();
    config.learning.min_sessions = 1;
    config.learning.min_duration = ConfigDuration(std::time::Duration::ZERO);
    config.learning.min_events = 0;
    config
}

/// An event of `session` of agent `claude-code` at `second`s after START.
fn event(session: u64, second: i64, fields: &[(&str, Value)]) -> Event {
    let mut flat = Map::new();
    flat.insert("agent_sensor.user.home".into(), json!("/home/alice"));
    flat.insert(
        "agent_sensor.session.working_directory".into(),
        json!("/home/alice/project"),
    );
    flat.insert("process.working_directory".into(), json!("/home/alice/project"));
    flat.insert("gen_ai.agent.name".into(), json!("claude-code"));
    flat.insert("gen_ai.agent.id".into(), json!(format!("{session:016x}")));
    flat.insert("process.parent.executable".into(), json!("/usr/bin/bash"));
    for (key, value) in fields {
        flat.insert((*key).to_string(), value.clone());
    }
    let mut event = event_from_json(&nest_dotted(&flat)).expect("test event");
    event.timestamp_ns = (START + second) as i128 * 1_000_000_000;
    event
}

fn exec(session: u64, second: i64, executable: &str) -> Event {
    event(
        session,
        second,
        &[
            ("event.action", json!("exec")),
            ("process.executable", json!(executable)),
        ],
    )
}

fn open(session: u64, second: i64, path: &str) -> Event {
    event(
        session,
        second,
        &[
            ("event.action", json!("open")),
            ("process.executable", json!("/usr/bin/cat")),
            ("file.path", json!(path)),
        ],
    )
}

fn connect(session: u64, second: i64, address: &str, port: u16, country: Option<&str>) -> Event {
    let mut event = event(
        session,
        second,
        &[
            ("event.action", json!("connect")),
            ("process.executable", json!("/usr/bin/curl")),
            ("destination.ip", json!(address)),
            ("destination.port", json!(port)),
        ],
    );
    event.annotations.destination = Some(DestinationInfo {
        scope: Some(if country.is_some() {
            Scope::Public
        } else {
            crate::geo::scope_of(address.parse().expect("ip"))
        }),
        country: country.and_then(CountryCode::parse),
        allowed: None,
    });
    event
}

/// A benign session: the same programs, files and destination each time.
fn benign(session: u64, start: i64) -> Vec<Event> {
    vec![
        exec(session, start, "/usr/bin/bash"),
        exec(session, start + 1, "/usr/bin/cat"),
        open(session, start + 1, "/home/alice/project/src/main.rs"),
        open(session, start + 2, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        exec(session, start + 3, "/usr/bin/git"),
        connect(session, start + 4, "127.0.0.1", 3000, None),
    ]
}

fn run(baselines: &mut Baselines, events: Vec<Event>) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for mut event in events {
        baselines.observe(&mut event, &mut alerts);
    }
    alerts
}

fn rule_ids(alerts: &[Alert]) -> Vec<&str> {
    let mut ids: Vec<&str> = alerts.iter().map(|alert| &*alert.rule.id).collect();
    ids.sort();
    ids
}

#[test]
fn learns_a_session_then_flags_only_what_is_new() {
    let mut baselines = Baselines::new(&quick_config(), None);
    assert!(run(&mut baselines, benign(1, 0)).is_empty(), "learning never alerts");
    let profile = baselines.profile("claude-code").expect("profile");
    assert_eq!(profile.status, BaselineStatus::Learning);
    baselines.session_ended(1);
    let profile = baselines.profile("claude-code").expect("profile");
    assert_eq!(profile.status, BaselineStatus::Enforcing);
    assert_eq!(profile.executables.len(), 3);
    assert!(profile.read_areas.contains("$WORKSPACE/src"));
    assert!(profile.destinations.contains("127.0.0.1:3000"));

    // The same work again: nothing.
    assert!(run(&mut baselines, benign(2, 100)).is_empty());
    baselines.session_ended(2);

    // A never-seen binary, reading credentials, a never-seen destination in a new country.
    let mut events = benign(3, 200);
    events.push(exec(3, 205, "/tmp/x/probe"));
    events.push(exec(3, 205, "/tmp/x/probe"));
    events.push(open(3, 206, "/home/alice/.ssh/id_rsa"));
    events.push(connect(3, 207, "127.0.0.2", 4444, Some("ZZ")));
    let alerts = run(&mut baselines, events);
    assert_eq!(
        rule_ids(&alerts),
        [
            "baseline-new-destination",
            "baseline-new-executable",
            "baseline-new-file-area"
        ],
        "one alert per deviation per session"
    );
    let new_exe = alerts
        .iter()
        .find(|alert| &*alert.rule.id == "baseline-new-executable")
        .expect("alert");
    let doc = new_exe.to_value();
    let baseline = &doc["agent_sensor"]["baseline"];
    assert_eq!(baseline["status"], "enforcing");
    assert_eq!(baseline["new_executable"], true);
    assert_eq!(baseline["deviation"], "new-executable");
    assert_eq!(baseline["value"], "/tmp/x/probe");
    assert!(baseline["score"].is_u64(), "{baseline}");
    assert_eq!(baseline["known"]["values"], 3);
    assert!(
        baseline["reason"].as_str().is_some_and(|r| r.contains("never ran")),
        "{baseline}"
    );
    assert_eq!(doc["rule"]["ruleset"], detect::RULESET);
    let destination = alerts
        .iter()
        .find(|alert| &*alert.rule.id == "baseline-new-destination")
        .expect("alert")
        .to_value();
    assert_eq!(destination["agent_sensor"]["baseline"]["new_country"], true);
    assert_eq!(destination["destination"]["geo"]["country_iso_code"], "ZZ");
}

#[test]
fn events_carry_the_facts_rules_test() {
    let mut baselines = Baselines::new(&quick_config(), None);
    let mut learning = exec(1, 0, "/usr/bin/bash");
    baselines.observe(&mut learning, &mut Vec::new());
    let facts = learning.annotations.baseline.as_ref().expect("facts");
    assert_eq!(facts.status, BaselineStatus::Learning);
    assert_eq!(facts.new_executable, None, "no verdicts while learning");
    baselines.session_ended(1);
    let mut known = exec(2, 10, "/usr/bin/bash");
    let mut alerts = Vec::new();
    baselines.observe(&mut known, &mut alerts);
    let facts = known.annotations.baseline.as_ref().expect("facts");
    assert_eq!(facts.new_executable, Some(false));
    assert_eq!(facts.new_file_area, None, "an exec has no file area");
    let mut read = open(2, 11, "/etc/hosts");
    baselines.observe(&mut read, &mut alerts);
    let facts = read.annotations.baseline.as_ref().expect("facts");
    assert_eq!(facts.new_file_area, Some(true));
    assert_eq!(facts.file_area.as_deref(), Some("/etc"));
    assert!(facts.finding.is_none(), "findings go on the alerts' copies only");
    assert_eq!(rule_ids(&alerts), ["baseline-new-file-area"]);
}

#[test]
fn severity_action_and_enabled_come_from_the_configuration() {
    let mut config = quick_config();
    config.rules.new_file_area.enabled = false;
    config.rules.new_executable.severity.0 = crate::rules::Severity::Critical;
    config.rules.new_executable.action.0 = crate::rules::RuleAction::KillTree;
    let mut baselines = Baselines::new(&config, None);
    run(&mut baselines, benign(1, 0));
    baselines.session_ended(1);
    let alerts = run(
        &mut baselines,
        vec![exec(2, 100, "/usr/bin/nc"), open(2, 101, "/etc/shadow")],
    );
    assert_eq!(rule_ids(&alerts), ["baseline-new-executable"]);
    assert_eq!(alerts[0].rule.severity, crate::rules::Severity::Critical);
    assert_eq!(alerts[0].rule.action, crate::rules::RuleAction::KillTree);
}

#[test]
fn a_rate_spike_alerts_once_per_minute() {
    let mut config = quick_config();
    config.rates.min_minutes = 3;
    config.rates.min_count = 20;
    let mut baselines = Baselines::new(&config, None);
    // Five active minutes of about ten opens each.
    let mut events = Vec::new();
    for minute in 0..6 {
        for i in 0..10 {
            events.push(open(1, minute * 60 + i, "/home/alice/project/src/lib.rs"));
        }
    }
    run(&mut baselines, events);
    baselines.session_ended(1);
    let rate = *baselines
        .profile("claude-code")
        .expect("profile")
        .rates
        .get(crate::event::Action::Open);
    assert_eq!(rate.minutes, 5, "the last, unfinished minute is not learned");
    let burst: Vec<Event> = (0..300)
        .map(|i| open(2, 600 + i / 10, "/home/alice/project/src/lib.rs"))
        .collect();
    let alerts = run(&mut baselines, burst);
    assert_eq!(rule_ids(&alerts), ["baseline-rate-spike"], "once per action and minute");
    let doc = alerts[0].to_value();
    let rate = &doc["agent_sensor"]["baseline"]["rate"];
    assert_eq!(rate["action"], "open");
    assert!(
        rate["count"].as_u64() > rate["threshold"].as_f64().map(|t| t as u64),
        "{rate}"
    );
}

#[test]
fn unknown_sessions_are_not_baselined() {
    let mut baselines = Baselines::new(&quick_config(), None);
    let mut stray = exec(9, 0, "/usr/bin/true");
    if let Some(session) = stray.session.as_mut() {
        session.agent = Arc::from("unknown");
    }
    baselines.observe(&mut stray, &mut Vec::new());
    assert!(stray.annotations.baseline.is_none());
    assert_eq!(baselines.profiles().count(), 0);
}

#[test]
fn profiles_persist_across_sensor_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Baselines::new(&quick_config(), Some(Store::open(dir.path(), false).expect("store")));
    run(&mut first, benign(1, 0));
    first.finish();
    let written = first.profile("claude-code").expect("profile").clone();
    drop(first);
    let path = dir.path().join("baselines").join("claude-code.rmp");
    assert!(path.exists());

    let mut second = Baselines::new(&quick_config(), Some(Store::open(dir.path(), false).expect("store")));
    assert!(run(&mut second, benign(2, 100)).is_empty());
    let loaded = second.profile("claude-code").expect("profile");
    assert_eq!(loaded.status, BaselineStatus::Enforcing);
    assert_eq!(loaded.executables, written.executables);
    assert!(!run(&mut second, vec![exec(2, 110, "/usr/bin/nc")]).is_empty());
}

#[test]
fn a_second_sensor_reads_but_does_not_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let owner = Store::open(dir.path(), false).expect("store");
    assert!(owner.writable());
    let other = Store::open(dir.path(), false).expect("store");
    assert!(!other.writable());
    assert!(matches!(
        Store::open(dir.path(), true),
        Err(PersistError::Locked { .. })
    ));
    let mut baselines = Baselines::new(&quick_config(), Some(other));
    run(&mut baselines, benign(1, 0));
    assert_eq!(baselines.save(), 0);
    assert!(owner.names().expect("names").is_empty());
}

#[test]
fn corrupt_and_unknown_version_files_are_set_aside_and_learning_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), false).expect("store");
    let caps = BaselineConfig::default().caps;
    let path = store.path_of("claude-code");

    std::fs::write(&path, b"\x93garbage that is not a baseline").expect("write");
    assert!(store.load("claude-code", &caps).is_none());
    assert!(!path.exists(), "moved aside");
    let aside: Vec<String> = std::fs::read_dir(store.dir())
        .expect("dir")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("claude-code.rmp.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");

    // A file from a future sensor: its version is reported, and it is set aside too.
    #[derive(serde::Serialize)]
    struct Future {
        format: &'static str,
        version: u32,
        profile: &'static str,
    }
    let future = rmp_serde::to_vec_named(&Future {
        format: persist::FORMAT,
        version: 99,
        profile: "something new",
    })
    .expect("encode");
    assert_eq!(persist::decode(&future), Err(DecodeError::UnknownVersion { found: 99 }));
    std::fs::write(&path, &future).expect("write");
    let mut baselines = Baselines::new(&quick_config(), Some(store));
    run(&mut baselines, benign(1, 0));
    assert_eq!(
        baselines.profile("claude-code").map(|p| p.status),
        Some(BaselineStatus::Learning),
        "learning restarted"
    );
    baselines.finish();
    let names = std::fs::read_dir(dir.path().join("baselines"))
        .expect("dir")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(names, 2);
    assert!(path.exists(), "a fresh file replaced it");

    // Truncated files, other formats, empty files.
    let good = persist::encode(&Profile::new("x")).expect("encode");
    assert!(matches!(
        persist::decode(&good[..good.len() / 2]),
        Err(DecodeError::Corrupt(_))
    ));
    assert!(matches!(persist::decode(b""), Err(DecodeError::Corrupt(_))));
    assert!(matches!(
        persist::decode_json(br#"{"format":"something-else","version":1}"#),
        Err(DecodeError::Corrupt(_))
    ));
}

#[test]
fn file_names_escape_what_paths_cannot_hold() {
    assert_eq!(persist::file_name("claude-code"), "claude-code.rmp");
    assert_eq!(persist::file_name("../etc/x"), "%2E.%2Fetc%2Fx.rmp");
    assert_eq!(persist::profile_name("%2E.%2Fetc%2Fx.rmp").as_deref(), Some("../etc/x"));
    assert_eq!(persist::profile_name("lock"), None);
    assert_eq!(persist::profile_name("x.rmp.corrupt-17"), None);
}

/// A profile with arbitrary content.
fn arbitrary_profile() -> impl Strategy<Value = Profile> {
    let keys = proptest::collection::vec(("[ -~]{0,24}", 0i64..2_000_000_000), 0..40);
    (
        "[ -~]{1,16}",
        any::<bool>(),
        keys.clone(),
        keys.clone(),
        keys,
        proptest::collection::vec((0u32..500, 0.01f64..1.0), 0..20),
        any::<u64>(),
    )
        .prop_map(
            |(name, enforcing, executables, areas, destinations, minutes, sessions)| {
                let mut profile = Profile::new(&name);
                profile.status = if enforcing {
                    BaselineStatus::Enforcing
                } else {
                    BaselineStatus::Learning
                };
                profile.sessions_ended = sessions;
                for (key, at) in executables {
                    profile.executables.observe(&key, at, 1000);
                }
                for (key, at) in areas {
                    profile.write_areas.observe(&key, at, 1000);
                }
                for (key, at) in destinations {
                    profile.destinations.observe(&key, at, 1000);
                }
                for (count, smoothing) in minutes {
                    profile.rates.open.update(count as f64, smoothing);
                }
                profile
            },
        )
}

proptest! {
    #[test]
    fn profiles_round_trip_through_both_formats(profile in arbitrary_profile()) {
        let packed = persist::encode(&profile).expect("encode");
        prop_assert_eq!(&persist::decode(&packed).expect("decode"), &profile);
        let json = persist::encode_json(&profile).expect("json");
        let back = persist::decode_any(&json).expect("decode json");
        prop_assert_eq!(&back.executables, &profile.executables);
        prop_assert_eq!(back.rates.open.minutes, profile.rates.open.minutes);
        prop_assert!((back.rates.open.mean - profile.rates.open.mean).abs() <= 1e-9 * profile.rates.open.mean.abs().max(1.0));
    }

    #[test]
    fn damaged_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..4096, flip in any::<u8>()) {
        let _ = persist::decode(&bytes);
        let _ = persist::decode_any(&bytes);
        let mut good = persist::encode(&Profile::new("p")).expect("encode");
        let cut = cut % good.len();
        good[cut] ^= flip;
        let _ = persist::decode(&good);
        let _ = persist::decode(&good[..cut]);
    }

    #[test]
    fn profile_names_round_trip_through_file_names(name in "\\PC{1,20}") {
        let file = persist::file_name(&name);
        prop_assert!(!file.contains('/'));
        prop_assert!(!file.starts_with('.'));
        prop_assert_eq!(persist::profile_name(&file), Some(name));
    }

}

proptest! {
    // Each case runs up to 1,500 events; fewer cases keep the suite quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However many distinct values, sessions and agents arrive, what is kept stays within the
    /// caps.
    #[test]
    fn memory_stays_bounded(seed in proptest::collection::vec((0u8..4, any::<u16>(), 0u8..6, 0u64..40), 1..1500), enforcing: bool) {
        let mut config = quick_config();
        config.learn_while_enforcing = true;
        config.caps.executables = 16;
        config.caps.exec_pairs = 16;
        config.caps.file_areas = 8;
        config.caps.destinations = 8;
        config.caps.countries = 4;
        config.caps.sessions = 5;
        config.caps.profiles = 3;
        config.caps.alerts_per_session = 7;
        let mut baselines = Baselines::new(&config, None);
        for (i, (kind, value, agent, session)) in seed.into_iter().enumerate() {
            let session = session + 1;
            let mut event = match kind {
                0 => exec(session, i as i64, &format!("/opt/bin/tool{value}")),
                1 => open(session, i as i64, &format!("/data/d{value}/e{}/f", value % 7)),
                2 => connect(session, i as i64, &format!("127.{}.{}.1", value >> 8, value & 0xff), value, Some(["DE", "FR", "JP", "US", "BR", "ZA"][(value % 6) as usize])),
                _ => open(session, i as i64, "/etc/hosts"),
            };
            if let Some(s) = event.session.as_mut() {
                s.agent = Arc::from(format!("agent{agent}"));
            }
            let mut alerts = Vec::new();
            baselines.observe(&mut event, &mut alerts);
            prop_assert!(alerts.len() <= 3, "at most a novelty and a spike per event, and one per kind");
            if enforcing && i % 50 == 49 {
                baselines.session_ended(session);
            }
            prop_assert!(baselines.profiles.len() <= 3);
            prop_assert!(baselines.sessions.len() <= 5);
            for profile in baselines.profiles() {
                prop_assert!(profile.executables.len() <= 16);
                prop_assert!(profile.exec_pairs.len() <= 16);
                prop_assert!(profile.read_areas.len() <= 8 && profile.write_areas.len() <= 8);
                prop_assert!(profile.destinations.len() <= 8);
                prop_assert!(profile.countries.len() <= 4);
            }
        }
    }
}

#[test]
fn rules_see_the_baseline_facts_of_the_event() {
    let pack = "ruleset: site\nrules:\n  - id: connect-outside-baseline\n    name: n\n    description: d\n    severity: high\n    when:\n      all:\n        - event.action: connect\n        - agent_sensor.baseline.new_destination: true\n        - destination.geo.country_iso_code: ZZ\n        - agent_sensor.destination.scope: public\n  - id: still-learning\n    name: n\n    description: d\n    severity: info\n    when: {event.action: exec, agent_sensor.baseline.status: learning}\n";
    let (rules, _) =
        crate::rules::loader::compile_sources(&[("site.yaml".to_string(), pack.to_string())]).expect("pack compiles");
    let mut engine = crate::rules::Engine::new(Arc::new(rules));
    let mut baselines = Baselines::new(&quick_config(), None);
    let mut fired = Vec::new();
    for mut event in benign(1, 0) {
        baselines.observe(&mut event, &mut Vec::new());
        engine.process(&event, &mut fired);
    }
    assert!(rule_ids(&fired).contains(&"still-learning"));
    baselines.session_ended(1);
    fired.clear();
    for mut event in [
        connect(2, 100, "127.0.0.1", 3000, None),
        connect(2, 101, "127.0.0.2", 4444, Some("ZZ")),
    ] {
        baselines.observe(&mut event, &mut Vec::new());
        engine.process(&event, &mut fired);
    }
    assert_eq!(rule_ids(&fired), ["connect-outside-baseline"]);
    assert_eq!(
        fired[0].event.destination().map(|d| format!("{d:?}")),
        Some("Inet(127.0.0.2:4444)".into())
    );
}
