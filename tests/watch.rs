//! End-to-end: `agent-sensor watch` on the real kernel records the whole tree of one command,
//! with absolute paths and one session, and nothing else.

mod support;

use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    os::unix::{fs::PermissionsExt, net::UnixListener},
};

use serde_json::Value;
use support::*;

const PYTHON: &str = "/usr/bin/python3";

fn parent(event: &Value) -> u64 {
    field(event, "process.parent.pid").as_u64().unwrap_or(0)
}

/// Accepts connections in the background so connects succeed.
fn loopback_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    port
}

#[test]
fn records_every_process_of_the_tree_with_absolute_paths_and_one_session() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("read.txt"), "secret").expect("write fixture");
    let port = loopback_listener();
    let events_path = dir.path().join("events.jsonl");
    let script = format!(
        r#"set -e
cd "{d}"
cat read.txt > /dev/null
echo data > written.txt
exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-
rm written.txt
mkdir sub && rmdir sub
bash -c 'bash -c "cat {d}/read.txt > /dev/null; true"; true'
true
"#
    );
    let out = watch(&events_path, &["--name", "e2e-agent"], &script);
    assert!(
        out.status.success(),
        "watch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = read_events(&events_path);
    assert!(
        !events.is_empty(),
        "no events; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One session, named as asked, for every event.
    let sessions: HashSet<&str> = events.iter().map(|e| str_field(e, "gen_ai.agent.id")).collect();
    assert_eq!(sessions.len(), 1, "events of several sessions: {sessions:?}");
    assert!(events.iter().all(|e| str_field(e, "gen_ai.agent.name") == "e2e-agent"));
    assert!(!str_field(&events[0], "host.hostname").is_empty());

    // The first event is the command's own exec: the launcher's start-up is not reported.
    assert_eq!(action(&events[0]), "exec", "first event: {}", events[0]);
    assert_eq!(str_field(&events[0], "process.name"), "bash");
    let root = pid(&events[0]);

    let read = find(&events, "open", "file.path", &format!("{d}/read.txt"));
    assert_eq!(read.len(), 2, "two cats read the fixture: {read:?}");
    for open in &read {
        assert_eq!(str_field(open, "process.name"), "cat");
        assert_eq!(str_field(open, "agent_sensor.open.access"), "read");
        assert_eq!(str_field(open, "event.outcome"), "success");
    }
    assert_eq!(
        str_field(read[0], "agent_sensor.path_argument"),
        "read.txt",
        "the path as given"
    );
    assert_eq!(str_field(read[0], "process.working_directory"), d);

    let written = find(&events, "open", "file.path", &format!("{d}/written.txt"));
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(str_field(written[0], "agent_sensor.open.access"), "write");
    assert_eq!(field(written[0], "agent_sensor.open.write"), &Value::Bool(true));
    let flags = field(written[0], "agent_sensor.open.flags").as_array().expect("flags");
    assert!(flags.contains(&Value::from("O_CREAT")) && flags.contains(&Value::from("O_TRUNC")));
    assert_eq!(pid(written[0]), root, "bash itself opened the redirect target");

    // Only connects to the listener count: name-service lookups (nscd, systemd-userdb) add unix
    // connects of their own depending on the environment (no HOME in CI's, for one).
    let connect: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "connect" && str_field(e, "network.type") == "ipv4")
        .collect();
    assert_eq!(connect.len(), 1, "{connect:?}");
    assert_eq!(str_field(connect[0], "destination.ip"), "127.0.0.1");
    assert_eq!(field(connect[0], "destination.port").as_u64(), Some(port as u64));
    assert_eq!(str_field(connect[0], "event.outcome"), "success");
    assert_eq!(pid(connect[0]), root, "bash itself connected");

    let unlink = find(&events, "unlink", "file.path", &format!("{d}/written.txt"));
    assert_eq!(unlink.len(), 1, "{unlink:?}");
    assert_eq!(str_field(unlink[0], "process.name"), "rm");
    let rmdir = find(&events, "rmdir", "file.path", &format!("{d}/sub"));
    assert_eq!(rmdir.len(), 1, "{rmdir:?}");
    assert_eq!(str_field(rmdir[0], "event.outcome"), "success");

    // Every process but the root was forked by a process of the tree, and every one exited.
    let forked: HashMap<u64, u64> = events
        .iter()
        .filter(|e| action(e) == "fork")
        .map(|e| (field(e, "agent_sensor.fork.child_pid").as_u64().expect("child"), pid(e)))
        .collect();
    let pids: HashSet<u64> = events.iter().map(pid).collect();
    for &p in &pids {
        if p != root {
            assert!(forked.contains_key(&p), "process {p} appeared without a fork event");
        }
    }
    let exited: HashSet<u64> = events.iter().filter(|e| action(e) == "exit").map(pid).collect();
    assert_eq!(exited, pids, "every process of the tree exits");
    let root_exit = events
        .iter()
        .find(|e| action(e) == "exit" && pid(e) == root)
        .expect("root exit");
    assert_eq!(field(root_exit, "process.exit_code").as_i64(), Some(0));

    // The grandchild chain: cat <- bash -c <- bash -c <- root (the trailing `true`s keep each bash
    // from replacing itself with its last command).
    let execs: Vec<&Value> = events.iter().filter(|e| action(e) == "exec").collect();
    let innermost_cat = execs
        .iter()
        .rev()
        .find(|e| str_field(e, "process.name") == "cat")
        .expect("grandchild cat");
    let inner_bash = parent(innermost_cat);
    let middle_bash = forked[&inner_bash];
    assert_eq!(forked[&pid(innermost_cat)], inner_bash);
    assert_eq!(forked[&middle_bash], root, "the middle bash is the root's child");
    assert_eq!(
        str_field(innermost_cat, "process.command_line"),
        format!("cat {d}/read.txt")
    );

    // Paths are absolute everywhere.
    for event in &events {
        let path = str_field(event, "file.path");
        assert!(path.is_empty() || path.starts_with('/'), "relative path in {event}");
        let exe = str_field(event, "process.executable");
        assert!(exe.starts_with('/'), "relative executable in {event}");
    }
}

#[test]
fn unrelated_processes_are_never_reported() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("marker-in"), "x").expect("fixture");
    std::fs::write(dir.path().join("marker-out"), "x").expect("fixture");
    let port = loopback_listener();
    // The unrelated process does the same things as the watched one, at the same time.
    let same_work = |marker: &str| {
        format!(
            "for i in $(seq 40); do cat {d}/{marker} > /dev/null; echo x > {d}/{marker}.tmp; rm {d}/{marker}.tmp; \
             exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; sleep 0.01; done"
        )
    };
    let mut outsider = std::process::Command::new("bash")
        .args(["-c", &same_work("marker-out")])
        .spawn()
        .expect("start the unrelated process");
    let events_path = dir.path().join("events.jsonl");
    let out = watch(&events_path, &[], &same_work("marker-in"));
    let outsider_pid = outsider.id() as u64;
    let _ = outsider.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = read_events(&events_path);
    assert!(
        events
            .iter()
            .any(|e| str_field(e, "file.path") == format!("{d}/marker-in")),
        "the watched process's own reads are there"
    );
    for event in &events {
        let text = event.to_string();
        assert!(!text.contains("marker-out"), "an unrelated process leaked in: {event}");
        assert_ne!(pid(event), outsider_pid, "the unrelated process leaked in: {event}");
    }
}

#[test]
fn exit_status_is_the_commands() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = watch(&dir.path().join("a.jsonl"), &[], "exit 7");
    assert_eq!(out.status.code(), Some(7));
    let out = watch(&dir.path().join("b.jsonl"), &[], "kill -KILL $$");
    assert_eq!(out.status.code(), Some(128 + 9));
    let events = read_events(&dir.path().join("b.jsonl"));
    let exit = events.iter().find(|e| action(e) == "exit").expect("exit event");
    assert_eq!(field(exit, "process.exit_code").as_i64(), Some(137));
    assert_eq!(field(exit, "agent_sensor.exit.signal").as_u64(), Some(9));
    let out = watch(&dir.path().join("c.jsonl"), &[], "exec /nonexistent/program");
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn runs_the_command_as_another_user() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = dir.path().display().to_string();
    let events_path = dir.path().join("events.jsonl");
    let out = watch(
        &events_path,
        &["--user", "nobody"],
        &format!("id -u > {d}/uid; echo \"$HOME\" > {d}/home"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let uid = std::fs::read_to_string(dir.path().join("uid")).expect("uid file");
    assert_eq!(uid.trim(), "65534");
    let home = std::fs::read_to_string(dir.path().join("home")).expect("home file");
    let expected_home = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .map(|user| user.dir.display().to_string())
        .expect("nobody exists");
    assert_eq!(home.trim(), expected_home);
    let events = read_events(&events_path);
    assert!(!events.is_empty());
    for event in &events {
        assert_eq!(str_field(event, "user.id"), "65534", "{event}");
    }
}

#[test]
fn relative_paths_resolve_against_directory_descriptors_and_the_working_directory() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    for sub in ["tree/a/b", "tree/c", "work"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
    }
    for file in ["tree/a/b/one.txt", "tree/c/two.txt", "tree/three.txt", "work/in.txt"] {
        std::fs::write(dir.path().join(file), "x").expect("fixture");
    }
    let events_path = dir.path().join("events.jsonl");
    let script = format!(
        r#"cd "{d}/work"
cat ../work/./in.txt > /dev/null
cat missing.txt 2>/dev/null || true
cd "{d}"
rm -r tree
{PYTHON} - <<'PY'
import os
fd = os.open("{d}/work", os.O_RDONLY | os.O_DIRECTORY)
os.close(os.open("via-dirfd.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
try:
    os.open("absent.txt", os.O_RDONLY, dir_fd=fd)
except FileNotFoundError:
    pass
os.unlink("via-dirfd.txt", dir_fd=fd)
PY
"#
    );
    let out = watch(&events_path, &[], &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = read_events(&events_path);
    let paths: HashSet<(&str, &str)> = events
        .iter()
        .filter(|e| matches!(action(e), "open" | "unlink" | "rmdir"))
        .map(|e| (action(e), str_field(e, "file.path")))
        .collect();
    let expect = |act: &'static str, path: String| {
        assert!(
            paths.contains(&(act, path.as_str())),
            "no {act} of {path}; saw: {:?}",
            paths.iter().filter(|(_, p)| p.starts_with(&d)).collect::<Vec<_>>()
        );
    };
    expect("open", format!("{d}/work/in.txt"));
    expect("open", format!("{d}/work/missing.txt"));
    expect("unlink", format!("{d}/tree/a/b/one.txt"));
    expect("unlink", format!("{d}/tree/c/two.txt"));
    expect("unlink", format!("{d}/tree/three.txt"));
    expect("rmdir", format!("{d}/tree/a/b"));
    expect("rmdir", format!("{d}/tree"));
    expect("open", format!("{d}/work/via-dirfd.txt"));
    expect("open", format!("{d}/work/absent.txt"));
    expect("unlink", format!("{d}/work/via-dirfd.txt"));
    let missing = find(&events, "open", "file.path", &format!("{d}/work/missing.txt"));
    assert_eq!(str_field(missing[0], "event.outcome"), "failure");
    assert_eq!(str_field(missing[0], "error.code"), "ENOENT");
    let via = find(&events, "unlink", "file.path", &format!("{d}/work/via-dirfd.txt"));
    assert_eq!(str_field(via[0], "agent_sensor.path_argument"), "via-dirfd.txt");
    assert_ne!(
        field(via[0], "agent_sensor.dirfd").as_i64(),
        Some(-100),
        "a real directory descriptor"
    );
}

#[test]
fn connects_over_ipv6_and_unix_sockets_are_recorded() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let unix = UnixListener::bind(&socket).expect("bind unix socket");
    std::thread::spawn(move || for _ in unix.incoming() {});
    let v6 = TcpListener::bind("[::1]:0").ok();
    let v6_port = v6.as_ref().map(|l| l.local_addr().expect("addr").port());
    if let Some(listener) = v6 {
        std::thread::spawn(move || for _ in listener.incoming() {});
    }
    let events_path = dir.path().join("events.jsonl");
    let v6_line = v6_port
        .map(|port| format!("s6 = socket.socket(socket.AF_INET6); s6.connect(('::1', {port})); s6.close()"))
        .unwrap_or_default();
    let script = format!(
        "{PYTHON} -c \"import socket\ns = socket.socket(socket.AF_UNIX); s.connect('{}'); s.close()\n{v6_line}\"",
        socket.display()
    );
    let out = watch(&events_path, &[], &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = read_events(&events_path);
    let connects: Vec<&Value> = events.iter().filter(|e| action(e) == "connect").collect();
    // Name-service lookups may add unix connects of their own (nscd): look for this socket's.
    let unix_connect = connects
        .iter()
        .find(|e| {
            str_field(e, "network.type") == "unix"
                && str_field(e, "destination.address") == socket.display().to_string()
        })
        .unwrap_or_else(|| panic!("no unix connect to {} in {connects:?}", socket.display()));
    assert_eq!(str_field(unix_connect, "event.outcome"), "success");
    if let Some(port) = v6_port {
        let v6_connect = connects
            .iter()
            .find(|e| str_field(e, "network.type") == "ipv6")
            .unwrap_or_else(|| panic!("no ipv6 connect in {connects:?}"));
        assert_eq!(str_field(v6_connect, "destination.ip"), "::1");
        assert_eq!(field(v6_connect, "destination.port").as_u64(), Some(port as u64));
    }
}

#[test]
fn a_tree_of_100k_opens_loses_nothing_with_a_ring_that_holds_it() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "x").expect("fixture");
    let config = dir.path().join("config.yaml");
    // 64 MiB holds every record of this run even if userspace read nothing until the end, so the
    // count must be exact whatever the machine's speed.
    std::fs::write(&config, "capture:\n  ring_buffer_bytes: 67108864\n").expect("config");
    let events_path = dir.path().join("events.jsonl");
    let script = format!(
        "{PYTHON} -c \"import os\nfor _ in range(100000): os.close(os.open('{}', os.O_RDONLY))\"",
        target.display()
    );
    let out = watch(&events_path, &["--config", &config.display().to_string()], &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The kernel counts a thread's repeated opens of one file instead of reporting each
    // (`agent_sensor.repeat.count`): the counts must add up exactly.
    let target_path = target.display().to_string();
    let opens: u64 = read_events(&events_path)
        .iter()
        .filter(|event| action(event) == "open" && str_field(event, "file.path") == target_path)
        .map(|event| field(event, "agent_sensor.repeat.count").as_u64().unwrap_or(1))
        .sum();
    assert_eq!(opens, 100_000, "every open is reported or counted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ring_buffer_full=0"), "no loss reported: {stderr}");
}

#[test]
fn a_read_after_o_path_opens_of_the_same_file_is_its_own_record() {
    if !require_root("watch e2e") {
        return;
    }
    // An `O_PATH` handle reads nothing (Node's realpath and stat take them): the real read that
    // follows must not be counted as one more repeat of them, or it vanishes from the trail.
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("notes.txt");
    std::fs::write(&target, "x").expect("fixture");
    let events_path = dir.path().join("events.jsonl");
    let script = format!(
        "{PYTHON} -c \"import os\nfor _ in range(3): os.close(os.open('{0}', os.O_PATH))\nos.close(os.open('{0}', os.O_RDONLY))\"",
        target.display()
    );
    let out = watch(&events_path, &[], &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target_path = target.display().to_string();
    let events = read_events(&events_path);
    let opens: Vec<&Value> = events
        .iter()
        .filter(|event| action(event) == "open" && str_field(event, "file.path") == target_path)
        .collect();
    let is_path_only = |event: &Value| {
        field(event, "agent_sensor.open.flags")
            .as_array()
            .is_some_and(|flags| flags.iter().any(|flag| flag == "O_PATH"))
    };
    let path_only: u64 = opens
        .iter()
        .filter(|event| is_path_only(event))
        .map(|event| field(event, "agent_sensor.repeat.count").as_u64().unwrap_or(1))
        .sum();
    assert_eq!(path_only, 3, "the O_PATH opens are reported or counted: {opens:#?}");
    assert_eq!(
        opens.iter().filter(|event| !is_path_only(event)).count(),
        1,
        "the read is a record of its own: {opens:#?}"
    );
}

#[test]
fn a_flood_that_overflows_the_ring_raises_a_loss_alert_naming_the_session() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    // One page of ring: a flood of distinct paths (identical opens are counted in the kernel, not
    // reported one by one) overflows it at once.
    std::fs::write(
        &config,
        "capture:\n  ring_buffer_bytes: 4096\nloss_alert:\n  lost_events: 1\n  interval_seconds: 3600\n",
    )
    .expect("config");
    let alerts_path = dir.path().join("alerts.jsonl");
    let script = format!(
        "{PYTHON} -c \"import os, time\nend = time.time() + 2\ni = 0\nwhile time.time() < end:\n  i += 1\n  try: os.open('{}/missing-' + str(i), 0)\n  except OSError: pass\"",
        dir.path().display()
    );
    let out = sensor()
        .arg("watch")
        .args(["--config", &config.display().to_string()])
        .arg("--alerts")
        .arg(&alerts_path)
        .args(["--", "bash", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run watch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("ring_buffer_full=0"),
        "the flood lost nothing: {stderr}"
    );
    let alerts = read_events(&alerts_path);
    let loss: Vec<&Value> = alerts
        .iter()
        .filter(|alert| str_field(alert, "rule.id") == "sensor-event-loss")
        .collect();
    assert!(!loss.is_empty(), "no sensor-event-loss alert in {alerts:#?}\n{stderr}");
    let session = log_value(&stderr, "watching", "session").expect("the session id");
    assert!(
        loss.iter().any(|alert| alert.to_string().contains(&session)),
        "the loss alert names the session {session}: {loss:#?}"
    );
}

#[test]
fn without_root_the_error_says_so_plainly() {
    if !require_root("watch e2e") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = sensor();
    command
        .args(["watch", "--events"])
        .arg(dir.path().join("e.jsonl"))
        .args(["--", "true"])
        .uid(65534)
        .gid(65534);
    let out = command.output().expect("run as nobody");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must run as root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence, no backtrace: {stderr}");
}

#[test]
fn a_malformed_config_is_reported_with_file_and_line() {
    if !require_root("watch e2e") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("broken.yaml");
    std::fs::write(&config, "capture:\n  ring_buffer_bytes: lots\n").expect("config");
    let out = watch(
        &dir.path().join("e.jsonl"),
        &["--config", &config.display().to_string()],
        "true",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:2:", config.display())), "{stderr}");
}
