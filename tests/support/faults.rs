//! Fault injection for the end-to-end tests: an HTTP receiver on loopback that can answer with
//! errors, refuse large bodies, or hold requests without answering; and a small tmpfs the test
//! mounts in its own directory and fills.

use std::{
    collections::VecDeque,
    io::{BufReader, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use serde_json::Value;

use crate::support::http::{HttpRequest, read_request, write_json_answer};

/// One request the receiver read, and the status it chose for it.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Request {
    /// The documents of the request (`_bulk` or Splunk HEC); lines that are not JSON are skipped.
    pub fn documents(&self) -> Vec<Value> {
        let text = String::from_utf8_lossy(&self.body);
        if self.path.ends_with("/_bulk") {
            text.lines()
                .skip(1)
                .step_by(2)
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        } else {
            text.lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .map(|envelope| envelope["event"].clone())
                .collect()
        }
    }

    /// True when every line of the body is JSON (what Elasticsearch and Splunk insist on: one
    /// malformed line and the whole request is answered 400).
    fn well_formed(&self) -> bool {
        self.body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .all(|line| serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok())
    }
}

/// What the receiver does; the test changes it while the sensor runs.
#[derive(Default)]
pub struct Behaviour {
    /// Statuses to answer the next requests with, in order (then 200).
    pub statuses: Mutex<VecDeque<u16>>,
    /// Bodies longer than this are answered 413 (0: no limit).
    pub max_body: AtomicUsize,
    /// While set, requests are read and recorded but not answered.
    pub hold: AtomicBool,
    requests: Mutex<Vec<Request>>,
}

impl Behaviour {
    pub fn answer_next(&self, statuses: &[u16]) {
        self.statuses.lock().expect("lock").extend(statuses);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    /// The documents of every request answered 2xx, in arrival order (copies included).
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|request| (200..300).contains(&request.status))
            .flat_map(Request::documents)
            .collect()
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length bodies), answering as its
/// [`Behaviour`] says. Stopping it closes every connection and frees the port.
pub struct FaultyReceiver {
    pub port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultyReceiver {
    /// Listens on `port` (0: any free port).
    pub fn start(port: u16, behaviour: Arc<Behaviour>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, connections, behaviour) = (stop.clone(), connections.clone(), behaviour.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        connections.lock().expect("lock").push(clone);
                    }
                    let (behaviour, stop) = (behaviour.clone(), stop.clone());
                    std::thread::spawn(move || serve(stream, &behaviour, &stop));
                }
            })
        };
        Self {
            port,
            stop,
            connections,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops listening and closes every connection (held requests are never answered).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultyReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, behaviour: &Behaviour, stop: &AtomicBool) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(HttpRequest { path, body, .. }) = read_request(&mut reader, &mut writer) {
        let max_body = behaviour.max_body.load(Ordering::SeqCst);
        let mut request = Request { path, body, status: 0 };
        request.status = if max_body > 0 && request.body.len() > max_body {
            413
        } else if !request.well_formed() {
            400
        } else {
            behaviour.statuses.lock().expect("lock").pop_front().unwrap_or(200)
        };
        let status = request.status;
        behaviour.requests.lock().expect("lock").push(request);
        while behaviour.hold.load(Ordering::SeqCst) {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let answer = match status {
            200..=299 => r#"{"took":1,"errors":false,"items":[]}"#,
            413 => r#"{"error":"request entity too large"}"#,
            400 => r#"{"error":"malformed document"}"#,
            _ => r#"{"error":"internal error"}"#,
        };
        if !write_json_answer(&mut writer, &format!("{status} Whatever"), answer) {
            return;
        }
    }
}

/// A tmpfs of `size` mounted at a directory of the test's own; unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs at {}", path.display());
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Fills the file system with `filler` until a write fails with ENOSPC.
    pub fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(error) => panic!("filling {}: {error}", filler.display()),
            }
        }
        // Small writes fill what a large one could not.
        loop {
            match file.write(&[0u8; 512]) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        filler
    }

    /// Frees the space taken by [`Tmpfs::fill`].
    pub fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
