//! A spawner the site names: `handoff.spawner_programs` in the configuration reaches both the
//! kernel's hook (BPF LSM) and the sensor's detection. The server is a command server of the
//! agent's account outside the session, a copy of python3 under a name of its own (`cmdserver`),
//! which runs every line a client sends; the built-in lists do not know it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use serde_json::Value;

use super::as_agent;
use crate::support::{ChildGuard, field, lab::*, str_field, wait_until};

/// The program name the configuration adds to the spawners.
pub const PROGRAM: &str = "cmdserver";

/// The configuration lines that add it (under `handoff:`, with the built-in programs).
pub const CONFIG: &str = "handoff:\n  spawner_programs: [tmux, screen, cmdserver]\n";

const SERVER: &str = r#"import os, socket, subprocess, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(8)
open(sys.argv[1] + ".ready", "w").close()
while True:
    client, _ = server.accept()
    line = client.makefile().readline()
    subprocess.run(line, shell=True)
    client.close()
"#;

const CLIENT: &str = r#"import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
    client.sendall(sys.argv[2].encode() + b"\n")
    print("cmdserver-connect=0", flush=True)
except OSError as error:
    print("cmdserver-connect=%d" % error.errno, flush=True)
"#;

/// The command server, outside the session; killed when dropped.
pub struct CommandServer {
    pub socket: PathBuf,
    pub pid: u32,
    client: PathBuf,
    _server: ChildGuard,
}

impl CommandServer {
    pub fn start(lab: &Lab) -> Self {
        let program = lab.path(PROGRAM);
        std::fs::copy(super::scheduling::installed("python3"), &program).expect("copy python3");
        let script = lab.path("cmdserver.py");
        std::fs::write(&script, SERVER).expect("server script");
        let client = lab.path("cmdclient.py");
        std::fs::write(&client, CLIENT).expect("client script");
        let socket = lab.path("cmd.sock");
        let server = as_agent(&program.display().to_string())
            .arg(&script)
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the command server");
        let ready = PathBuf::from(format!("{}.ready", socket.display()));
        wait_until("the command server", std::time::Duration::from_secs(20), || {
            ready.exists().then_some(())
        });
        Self {
            socket,
            pid: server.id(),
            client,
            _server: ChildGuard(server),
        }
    }

    /// The session's line: sends the server a command writing `typed`.
    pub fn script(&self, typed: &Path) -> String {
        format!(
            "python3 {client} {socket} 'echo typed > {typed}'",
            client = self.client.display(),
            socket = self.socket.display(),
            typed = typed.display(),
        )
    }

    /// The hand-off's alert among `alerts` (`session-escape` on a connect to this socket).
    pub fn alert<'a>(&self, alerts: &'a [Value], context: &str) -> &'a Value {
        let socket = self.socket.display().to_string();
        let alert = alerts_of(alerts, "session-escape")
            .into_iter()
            .find(|alert| str_field(alert, "destination.address") == socket)
            .unwrap_or_else(|| panic!("no session-escape on the connect to {socket}: {context}"));
        assert_eq!(
            field(alert, "agent_sensor.peer.pid").as_u64(),
            Some(u64::from(self.pid)),
            "{alert:#}"
        );
        assert_eq!(str_field(alert, "agent_sensor.peer.name"), PROGRAM, "{alert:#}");
        alert
    }
}
