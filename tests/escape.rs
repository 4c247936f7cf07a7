//! End-to-end: work handed out of an agent session (`session-escape`), tried by an unprivileged
//! agent session (`watch --user nobody`) against processes of the same account that the test
//! starts outside the session: a tmux server reached with `tmux -S SOCK send-keys`, a process
//! attached with ptrace, written with process_vm_writev and whose `/proc/PID/mem` is opened for
//! writing. And the benign side: a tmux server the session starts itself, a process the session
//! started and attaches to, a dev server on loopback, `git` signing through an ssh-agent that runs
//! outside the session, all silent. Scheduling work for later (`at`, `crontab`, `systemd-run
//! --on-…`) is the other way out of the tree (`escape/scheduling.rs`).
//!
//! The default pack alerts. A site that makes `session-escape` a `deny` gets the hand-offs refused
//! with EPERM where BPF LSM judges them (`unix_stream_connect`, `ptrace_access_check`), and
//! detected after the call elsewhere; one that makes it `kill-tree` gets the session killed after
//! the hand-off is detected (docs/enforcement.md). The kernel lab runs the deny test (both modes,
//! one sensor start each); the others need programs the lab's image lacks (curl, git, ssh) or
//! repeat what the deny test covers there, and run on the host only.

#[path = "escape/configured.rs"]
mod configured;
#[path = "escape/scheduling.rs"]
mod scheduling;
mod support;

use std::{
    io::{Read, Write},
    net::TcpListener,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use support::{lab::*, scenario::rule_ids, *};

/// The tests of this target the kernel lab runs.
const LAB_TESTS: &[&str] = &["hand_offs_are_denied_where_bpf_lsm_judges_them_and_detected_elsewhere"];

/// The unprivileged account of the agent and of the processes it reaches.
const AGENT_USER: &str = "nobody";
const AGENT_UID: u32 = 65534;
const AGENT_GID: u32 = 65534;

/// A scenario directory the agent's account can use (sockets, a home, markers).
fn scenario(name: &str) -> Lab {
    let lab = Lab::new(name);
    std::fs::set_permissions(lab.path(""), std::fs::Permissions::from_mode(0o755)).expect("chmod lab");
    let home = lab.path("home");
    std::fs::create_dir_all(&home).expect("home");
    chown_to_agent(&lab.path(""));
    chown_to_agent(&home);
    lab
}

fn chown_to_agent(path: &Path) {
    std::os::unix::fs::chown(path, Some(AGENT_UID), Some(AGENT_GID))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// A command run as the agent's account, outside every session (a child of the test).
fn as_agent(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .uid(AGENT_UID)
        .gid(AGENT_GID)
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::null());
    command
}

/// Runs a command as the agent's account; it must succeed; its standard output.
fn run_as_agent(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = as_agent(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The scenario of `test`, when it can run (as root; see `require_root`): the `programs` it
/// drives must be installed (`cargo xtask setup` installs them).
fn prepare(test: &str, programs: &[&str], name: &str) -> Option<Lab> {
    if !require_root(test) {
        return None;
    }
    if in_lab() && !LAB_TESTS.contains(&test) {
        eprintln!("{test}: a host test (the kernel lab runs {LAB_TESTS:?} of this target)");
        return None;
    }
    for program in programs {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
        assert!(
            found,
            "{program} is missing: run `cargo xtask setup` (it installs the test tools)"
        );
    }
    Some(scenario(name))
}

/// A tmux server of the agent's account outside the session, on a socket of the test's own;
/// killed when dropped.
struct OutsideTmux {
    socket: PathBuf,
    pid: u32,
}

impl OutsideTmux {
    fn start(socket: PathBuf) -> Self {
        let path = socket.display().to_string();
        run_as_agent(
            "tmux",
            &["-S", &path, "new-session", "-d", "-s", "outside", "/bin/sh"],
            &[],
        );
        let pid = run_as_agent("tmux", &["-S", &path, "display-message", "-p", "#{pid}"], &[]);
        let pid = pid
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("tmux server pid {pid:?}: {e}"));
        Self { socket, pid }
    }
}

impl Drop for OutsideTmux {
    fn drop(&mut self) {
        let _ = as_agent("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if process_alive(self.pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Runs `script` as the agent's session in monitor mode with the default pack; its output and
/// alerts. (tmux runs a pane's command with `$SHELL`, which `--user nobody` sets to nologin:
/// scripts that start a tmux server set SHELL.)
fn run_session(lab: &Lab, script: &str) -> (String, Vec<Value>) {
    let session = Session {
        packs: Vec::new(),
        user: Some(AGENT_USER),
        home: None,
        config: None,
    };
    let (output, alerts) = lab.watch_with(&session, Mode::Monitor, script);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "the session failed ({}): {text}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (text, alerts)
}

/// Shell lines waiting (up to ten seconds) for `file` to be written.
fn wait_in_script(file: &Path) -> String {
    format!(
        "for i in $(seq 200); do [ -s {f} ] && break; sleep 0.05; done; [ -s {f} ] || {{ echo 'no {f}'; exit 1; }}",
        f = file.display()
    )
}

/// Asserts `alert` names `pid` as the peer outside the session.
fn assert_peer(alert: &Value, pid: u32) {
    assert_eq!(
        field(alert, "agent_sensor.peer.pid").as_u64(),
        Some(u64::from(pid)),
        "{alert:#}"
    );
    assert_eq!(
        field(alert, "agent_sensor.peer.in_session").as_bool(),
        Some(false),
        "{alert:#}"
    );
}

#[test]
fn a_command_typed_into_a_tmux_server_outside_the_session_alerts() {
    let Some(lab) = prepare(
        "a_command_typed_into_a_tmux_server_outside_the_session_alerts",
        &["tmux"],
        "tmux-escape",
    ) else {
        return;
    };
    let server = OutsideTmux::start(lab.path("user.sock"));
    let escaped = lab.path("escaped");
    let script = format!(
        "tmux -S {sock} send-keys -t outside 'echo ran-outside > {out}' Enter && {wait}",
        sock = server.socket.display(),
        out = escaped.display(),
        wait = wait_in_script(&escaped)
    );
    let (_, alerts) = run_session(&lab, &script);
    let found = alerts_of(&alerts, "session-escape");
    assert!(!found.is_empty(), "no session-escape among {:?}", rule_ids(&alerts));
    let alert = found[0];
    assert_peer(alert, server.pid);
    assert!(
        str_field(alert, "agent_sensor.peer.name").starts_with("tmux"),
        "the peer is the tmux server: {alert:#}"
    );
    assert_eq!(str_field(alert, "event.action"), "connect", "{alert:#}");
    assert_eq!(str_field(alert, "process.name"), "tmux", "{alert:#}");
    assert_eq!(
        str_field(alert, "destination.address"),
        server.socket.display().to_string(),
        "{alert:#}"
    );
    // The command really ran, in the server's tree.
    assert_eq!(
        std::fs::read_to_string(&escaped).unwrap_or_default().trim(),
        "ran-outside"
    );
}

#[test]
fn a_kill_tree_session_escape_stops_the_session_after_the_hand_off() {
    let Some(lab) = prepare(
        "a_kill_tree_session_escape_stops_the_session_after_the_hand_off",
        &["tmux"],
        "tmux-kill",
    ) else {
        return;
    };
    let server = OutsideTmux::start(lab.path("user.sock"));
    // A site that kills the session on a hand-off: the kernel judges session-escape for `deny`
    // only, so the sensor carries the kill out after it detects the connect (docs/enforcement.md).
    let site = lab.path("site.yaml");
    std::fs::write(
        &site,
        "ruleset: site\noverrides:\n  rules:\n    session-escape:\n      action: kill-tree\n",
    )
    .expect("site pack");
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let session = Session {
        packs: vec![&default, &site],
        user: Some(AGENT_USER),
        home: None,
        config: None,
    };
    let script = format!(
        "tmux -S {sock} send-keys -t outside 'echo ran-outside > {out}' Enter; sleep 20; echo survived",
        sock = server.socket.display(),
        out = lab.path("escaped").display()
    );
    let (output, alerts) = lab.watch_with(&session, Mode::Enforce, &script);
    let text = stdout(&output);
    assert!(!text.contains("survived"), "the session outlived its hand-off: {text}");
    let alert = the_alert(&alerts, "session-escape");
    assert_eq!(done(alert), "killed-tree", "{alert:#}");
    assert_eq!(backend(alert), "sensor", "{alert:#}");
    assert_peer(alert, server.pid);
}

#[test]
fn a_tmux_server_the_session_starts_itself_is_silent() {
    let Some(lab) = prepare(
        "a_tmux_server_the_session_starts_itself_is_silent",
        &["tmux"],
        "tmux-own",
    ) else {
        return;
    };
    let marker = lab.path("ran-inside");
    let script = format!(
        "export HOME={home} SHELL=/bin/sh; S={sock}; tmux -S $S new-session -d -s own /bin/sh && \
         tmux -S $S send-keys -t own 'echo ran-inside > {out}' Enter && {wait}; \
         tmux -S $S list-sessions >/dev/null; tmux -S $S kill-server",
        home = lab.path("home").display(),
        sock = lab.path("own.sock").display(),
        out = marker.display(),
        wait = wait_in_script(&marker)
    );
    let (_, alerts) = run_session(&lab, &script);
    assert!(alerts.is_empty(), "the session's own tmux raised {alerts:#?}");
}

#[test]
fn ptrace_and_proc_mem_writes_into_a_process_outside_the_session_alert() {
    let Some(lab) = prepare(
        "ptrace_and_proc_mem_writes_into_a_process_outside_the_session_alert",
        &["python3"],
        "inject",
    ) else {
        return;
    };
    let target = ChildGuard(as_agent("sleep").arg("600").spawn().expect("start the target"));
    let pid = target.0.id();
    // PTRACE_ATTACH (16) through libc, then a write-open of the target's memory.
    let script = format!(
        "/usr/bin/python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); \
         print(\"attach\", libc.ptrace(16, {pid}, None, None), ctypes.get_errno())'; \
         /usr/bin/python3 -c 'open(\"/proc/{pid}/mem\", \"r+b\").close(); print(\"opened\")'; true"
    );
    let (text, alerts) = run_session(&lab, &script);
    // Yama (ptrace_scope 1 and up) would refuse both (the target is not the caller's child);
    // the alerts are asserted either way.
    let yama = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").is_ok_and(|scope| scope.trim() != "0");
    if !yama {
        assert!(text.contains("attach 0 "), "the attach failed: {text}");
        assert!(text.contains("opened"), "the open failed: {text}");
    }
    let escapes = alerts_of(&alerts, "session-escape");
    for action in ["ptrace", "open"] {
        let alert = escapes
            .iter()
            .find(|alert| str_field(alert, "event.action") == action)
            .unwrap_or_else(|| panic!("no session-escape on {action} among {escapes:#?}"));
        assert_peer(alert, pid);
        assert_eq!(str_field(alert, "agent_sensor.peer.name"), "sleep", "{alert:#}");
    }
    drop(target);
}

/// A dev server on loopback outside the session answering every request with `ok`; its port.
fn dev_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().filter_map(Result::ok) {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    port
}

#[test]
fn a_dev_server_on_loopback_is_silent() {
    let Some(lab) = prepare("a_dev_server_on_loopback_is_silent", &["curl"], "devserver") else {
        return;
    };
    let port = dev_server();
    let (text, alerts) = run_session(
        &lab,
        &format!("curl -sS http://127.0.0.1:{port}/ && curl -sS http://localhost:{port}/api"),
    );
    assert!(text.contains("okok"), "the dev server answered: {text}");
    assert!(alerts.is_empty(), "reaching a loopback dev server raised {alerts:#?}");
}

/// An ssh-agent of the agent's account outside the session, holding one key; killed when
/// dropped.
struct OutsideSshAgent {
    _agent: ChildGuard,
    socket: PathBuf,
    public_key: String,
}

impl OutsideSshAgent {
    fn start(lab: &Lab) -> Self {
        let keys = lab.path("keys");
        std::fs::create_dir_all(&keys).expect("keys dir");
        chown_to_agent(&keys);
        let key = keys.join("signing");
        let key_text = key.display().to_string();
        run_as_agent(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", &key_text],
            &[],
        );
        let socket = lab.path("ssh-agent.sock");
        let agent = as_agent("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = ChildGuard(agent);
        wait_until("the ssh-agent socket", Duration::from_secs(10), || {
            socket.exists().then_some(())
        });
        run_as_agent("ssh-add", &["-q", &key_text], &[("SSH_AUTH_SOCK", &socket)]);
        let public_key = std::fs::read_to_string(keys.join("signing.pub")).expect("public key");
        Self {
            _agent: agent,
            socket,
            public_key: public_key.trim().to_string(),
        }
    }
}

#[test]
fn own_tmux_git_and_an_outside_ssh_agent_are_silent() {
    let Some(lab) = prepare(
        "own_tmux_git_and_an_outside_ssh_agent_are_silent",
        &["tmux", "git", "ssh-agent", "ssh-add", "ssh-keygen"],
        "benign-work",
    ) else {
        return;
    };
    let agent = OutsideSshAgent::start(&lab);
    let marker = lab.path("work-done");
    let repo = lab.path("repo");
    // The agent works in a tmux session of its own: a repository, a commit signed with the key
    // the ssh-agent holds (git runs ssh-keygen -Y sign -U, which asks the agent).
    let script = format!(
        r#"set -e
export HOME={home} SHELL=/bin/sh SSH_AUTH_SOCK={ssh_sock}
ssh-add -l >/dev/null
git init -q {repo}
cd {repo}
git config user.name E2E
git config user.email e2e@example.invalid
git config gpg.format ssh
git config user.signingkey 'key::{key}'
echo hello > README
git add README
git commit -q -S -m signed
git log -1 --format=%H >/dev/null
S={tmux_sock}
tmux -S $S new-session -d -s work /bin/sh
tmux -S $S send-keys -t work 'SSH_AUTH_SOCK={ssh_sock} git -C {repo} commit -q --allow-empty -S -m again && echo done > {marker}' Enter
{wait}
tmux -S $S kill-server
git -C {repo} rev-list --count HEAD"#,
        home = lab.path("home").display(),
        ssh_sock = agent.socket.display(),
        repo = repo.display(),
        key = agent.public_key,
        tmux_sock = lab.path("work.sock").display(),
        marker = marker.display(),
        wait = wait_in_script(&marker)
    );
    let (text, alerts) = run_session(&lab, &script);
    assert_eq!(text.trim(), "2", "both signed commits were made: {text}");
    assert!(alerts.is_empty(), "benign work raised {alerts:#?}");
}

/// For the process given as its argument (`outside`), then for a `sleep` it starts itself (`child`,
/// a process of the same session): attaches with ptrace (and detaches), writes 8 bytes at an
/// unmapped address with process_vm_writev (EFAULT where the call is allowed: nothing is
/// written), and opens /proc/PID/mem for writing; prints `LABEL CALL RESULT ERRNO` for each. One
/// interpreter for both (Python starts slowly under the lab's emulator).
const INJECT: &str = r#"import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.process_vm_writev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def report(label, call, result):
    print(label, call, result, ctypes.get_errno() if result != 0 else 0, flush=True)
def inject(label, pid):
    result = libc.ptrace(16, pid, None, None)
    report(label, "ptrace", result)
    if result == 0:
        os.waitpid(pid, 0x40000000)
        libc.ptrace(17, pid, None, None)
    buf = ctypes.create_string_buffer(8)
    local = Iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = Iovec(ctypes.c_void_p(0x1000), 8)
    report(label, "process_vm_writev", libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
    try:
        open("/proc/%d/mem" % pid, "r+b").close()
        print(label, "mem", 0, 0, flush=True)
    except OSError as error:
        print(label, "mem", -1, error.errno, flush=True)
inject("outside", int(sys.argv[1]))
child = subprocess.Popen(["sleep", "30"])
inject("child", child.pid)
child.kill()
child.wait()
"#;

/// What the script printed for `label`'s `call`: (result, errno).
fn call_result(text: &str, label: &str, call: &str) -> (i64, i64) {
    let prefix = format!("{label} {call} ");
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (result, errno) = rest.split_once(' ')?;
            Some((result.parse().ok()?, errno.trim().parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
}

/// The ptrace tracer of a live process (0: none).
fn tracer_of(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

const EPERM: i64 = 1;
const EACCES: i64 = 13;
const EFAULT: i64 = 14;

#[test]
fn hand_offs_are_denied_where_bpf_lsm_judges_them_and_detected_elsewhere() {
    let Some(lab) = prepare(
        "hand_offs_are_denied_where_bpf_lsm_judges_them_and_detected_elsewhere",
        &["tmux", "python3"],
        "handoff-deny",
    ) else {
        return;
    };
    let server = OutsideTmux::start(lab.path("user.sock"));
    let target = ChildGuard(as_agent("sleep").arg("600").spawn().expect("start the target"));
    let pid = target.0.id();
    let inject = lab.path("inject.py");
    std::fs::write(&inject, INJECT).expect("inject.py");
    let site = lab.path("site.yaml");
    std::fs::write(
        &site,
        format!(
            "ruleset: site\noverrides:\n  rules:\n    session-escape:\n      action: deny\n{}",
            scheduling::TIMERS_BLOCKED
        ),
    )
    .expect("site pack");
    let schedulers = scheduling::Schedulers::install(&lab);
    // Every alert written (no folding of bursts: each call is asserted).
    let config = lab.path("config.yaml");
    // A spawner of the site's own, by the configuration's list.
    std::fs::write(
        &config,
        format!("alerts:\n  fold: {{window_ms: 0}}\n{}", configured::CONFIG),
    )
    .expect("config");
    let commands = configured::CommandServer::start(&lab);
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let session = Session {
        packs: vec![&default, &site],
        user: Some(AGENT_USER),
        home: None,
        config: Some(&config),
    };
    // Both modes, one sensor start each: the hand-offs, then the session's own tmux server and
    // its own child, which stay allowed and silent.
    for mode in [Mode::Monitor, Mode::Enforce] {
        let typed = lab.path(&format!("typed-{}", mode.flag()));
        let own = lab.path(&format!("own-{}", mode.flag()));
        let commanded = lab.path(&format!("commanded-{}", mode.flag()));
        let script = format!(
            "export HOME={home} SHELL=/bin/sh
tmux -S {outside} send-keys -t outside 'echo typed > {typed}' Enter; echo send-keys=$?
python3 {inject} {pid}
{command}
S={own_sock}; tmux -S $S new-session -d -s own /bin/sh && tmux -S $S send-keys -t own 'echo inside > {own}' Enter && {wait}
tmux -S $S kill-server
{schedule}
true",
            home = lab.path("home").display(),
            outside = server.socket.display(),
            typed = typed.display(),
            inject = inject.display(),
            own_sock = lab.path(&format!("own-{}.sock", mode.flag())).display(),
            own = own.display(),
            wait = wait_in_script(&own),
            schedule = schedulers.script(&lab),
            command = commands.script(&commanded),
        );
        let (output, alerts) = lab.watch_with(&session, mode, &script);
        let text = stdout(&output);
        let context = format!("{mode:?}: {text}{}", String::from_utf8_lossy(&output.stderr));
        schedulers.check(mode, &context, &alerts);
        // The session's own server and child: allowed in both modes.
        assert_eq!(
            std::fs::read_to_string(&own).unwrap_or_default().trim(),
            "inside",
            "{context}"
        );
        for call in ["ptrace", "mem"] {
            assert_eq!(
                call_result(&text, "child", call),
                (0, 0),
                "{call} of its own child: {context}"
            );
        }
        // Every session-escape is a hand-off to the outside server or the outside target (the
        // default pack's ptrace-attach and process-memory-write report the calls themselves,
        // inside the session too).
        let alerts: Vec<Value> = alerts_of(&alerts, "session-escape").into_iter().cloned().collect();
        for alert in &alerts {
            let peer = field(alert, "agent_sensor.peer.pid").as_u64();
            assert!(
                [server.pid, pid, commands.pid].map(u64::from).map(Some).contains(&peer),
                "a hand-off to an unexpected process: {alert:#}"
            );
            assert_eq!(
                field(alert, "agent_sensor.peer.in_session").as_bool(),
                Some(false),
                "{alert:#}"
            );
        }
        let connect = alerts
            .iter()
            .find(|alert| str_field(alert, "destination.address") == server.socket.display().to_string())
            .unwrap_or_else(|| panic!("no session-escape on the tmux connect: {alerts:#?}\n{context}"));
        assert_peer(connect, server.pid);
        assert_eq!(
            str_field(connect, "destination.address"),
            server.socket.display().to_string(),
            "{connect:#}"
        );
        let lsm = backend(connect) == "bpf-lsm";
        if in_lab() {
            assert!(lsm, "the lab judges hand-offs with BPF LSM: {connect:#}");
        }
        let attach: Vec<&Value> = alerts
            .iter()
            .filter(|alert| field(alert, "agent_sensor.peer.pid").as_u64() == Some(u64::from(pid)))
            .collect();
        if lsm {
            // One hook judges the three calls, each reported as an attach (event.action ptrace).
            assert_eq!(attach.len(), 3, "{attach:#?}\n{context}");
        } else {
            for action in ["ptrace", "process_vm_writev", "open"] {
                assert!(
                    attach.iter().any(|alert| str_field(alert, "event.action") == action),
                    "no session-escape on {action}: {attach:#?}\n{context}"
                );
            }
        }
        let command = commands.alert(&alerts, &context);
        for alert in attach.iter().chain([&connect, &command]) {
            let expected = match (mode, lsm) {
                (Mode::Monitor, _) => "would-deny",
                (Mode::Enforce, true) => "denied",
                // Without BPF LSM the deny is detected after the call, and says so.
                (Mode::Enforce, false) => "failed",
            };
            assert_eq!(done(alert), expected, "{alert:#}");
            assert_eq!(backend(alert), if lsm { "bpf-lsm" } else { "sensor" }, "{alert:#}");
        }
        let outside = |call| call_result(&text, "outside", call);
        if mode == Mode::Enforce && lsm {
            assert_ne!(status(&text, "send-keys"), 0, "{context}");
            assert_eq!(outside("ptrace"), (-1, EPERM), "{context}");
            assert_eq!(outside("process_vm_writev"), (-1, EPERM), "{context}");
            // /proc/PID/mem turns any refusal of its access check into EACCES.
            assert_eq!(outside("mem"), (-1, EACCES), "{context}");
            // The outside server never got the command, and the target is untouched.
            std::thread::sleep(Duration::from_secs(1));
            assert!(!typed.exists(), "the typed command ran: {context}");
            assert_eq!(status(&text, "cmdserver-connect"), EPERM as i32, "{context}");
            assert!(!commanded.exists(), "the command server ran the command: {context}");
            assert!(process_alive(pid), "the target died");
            assert_eq!(tracer_of(pid), 0, "the target is traced");
        } else {
            // Monitor mode, or no BPF LSM: the hand-off went through (the documented fallback).
            assert_eq!(status(&text, "send-keys"), 0, "{context}");
            assert_eq!(outside("ptrace"), (0, 0), "{context}");
            assert_eq!(outside("process_vm_writev"), (-1, EFAULT), "{context}");
            assert_eq!(outside("mem"), (0, 0), "{context}");
            assert_eq!(status(&text, "cmdserver-connect"), 0, "{context}");
            for file in [&typed, &commanded] {
                wait_until("the handed-off command", Duration::from_secs(10), || {
                    file.exists().then_some(())
                });
            }
        }
    }
    drop(target);
}
