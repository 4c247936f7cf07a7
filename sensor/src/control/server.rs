//! The daemon's side of the control socket.

use std::{
    collections::HashMap,
    fs, io,
    os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

use super::protocol::{Answer, Registration, Request, SessionReply, SessionRequest, StatusReport, WatchSessionStatus};
use crate::process::{
    cgroup::{CgroupError, SessionCgroup, SessionState, find_cgroup2_mount},
    sessions::SessionLookupError,
};

/// A request line may not be longer than this.
const MAX_REQUEST: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot create the control socket's directory {path}: {source}")]
    Directory { path: PathBuf, source: io::Error },
    #[error("another agent-sensor daemon is running: its control socket {0} answers")]
    AlreadyRunning(PathBuf),
    #[error("cannot listen on the control socket {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
}

struct Shared {
    report: Mutex<StatusReport>,
    registrations: Mutex<HashMap<u64, Registration>>,
    next_connection: AtomicU64,
    /// Session actions go to the daemon's event loop, which owns the sessions.
    commands: mpsc::UnboundedSender<SessionCommand>,
}

/// Why a session action asked for on the socket was not carried out; its text is the answer's
/// `message`.
#[derive(Debug, thiserror::Error)]
pub enum SessionActionError {
    #[error(transparent)]
    Lookup(#[from] SessionLookupError),
    #[error("the watch session {0} has no cgroup")]
    NoCgroup(String),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("no cgroup v2 hierarchy is mounted: sessions cannot be frozen or killed")]
    NoHierarchy,
    #[error("the daemon is stopping")]
    Stopping,
}

/// A session action asked for on the socket, for the daemon's event loop to carry out and answer.
#[derive(Debug)]
pub struct SessionCommand {
    pub request: SessionRequest,
    pub reply: oneshot::Sender<Result<SessionReply, SessionActionError>>,
}

/// The listening socket; removed from the file system when dropped.
pub struct ControlServer {
    path: PathBuf,
    shared: Arc<Shared>,
    commands: Option<mpsc::UnboundedReceiver<SessionCommand>>,
}

impl ControlServer {
    /// Creates the socket (directory 0700, socket 0600) and serves it in the background.
    pub fn start(path: &Path) -> Result<Self, ControlError> {
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| ControlError::Directory {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        remove_stale(path)?;
        let listener = UnixListener::bind(path).map_err(|source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let (commands, received) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            report: Mutex::default(),
            registrations: Mutex::default(),
            next_connection: AtomicU64::new(0),
            commands,
        });
        let serving = shared.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, serving.clone()));
                    }
                    Err(error) => tracing::warn!(%error, "control socket: accept failed"),
                }
            }
        });
        Ok(Self {
            path: path.to_path_buf(),
            shared,
            commands: Some(received),
        })
    }

    /// The session actions asked for on the socket, once (the event loop carries them out).
    pub fn take_commands(&mut self) -> Option<mpsc::UnboundedReceiver<SessionCommand>> {
        self.commands.take()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces what `status` reports (the registered `watch` sessions are added on each request).
    pub fn publish(&self, report: StatusReport) {
        if let Ok(mut current) = self.shared.report.lock() {
            *current = report;
        }
    }

    /// The `watch` sessions registered now.
    pub fn registrations(&self) -> Vec<Registration> {
        registrations(&self.shared)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn registrations(shared: &Shared) -> Vec<Registration> {
    let mut list: Vec<Registration> = shared
        .registrations
        .lock()
        .map(|map| map.values().cloned().collect())
        .unwrap_or_default();
    list.sort_by(|a, b| a.session.cmp(&b.session));
    list
}

/// The registered `watch` sessions with their state, read from their cgroups now.
fn watch_sessions(registrations: &[Registration]) -> Vec<WatchSessionStatus> {
    let hierarchy = find_cgroup2_mount().ok();
    registrations
        .iter()
        .map(|registration| {
            let cgroup = hierarchy
                .as_deref()
                .zip(registration.cgroup.as_deref())
                .and_then(|(hierarchy, relative)| SessionCgroup::open(hierarchy, relative).ok());
            WatchSessionStatus {
                registration: registration.clone(),
                state: cgroup
                    .as_ref()
                    .and_then(|cgroup| SessionState::of(cgroup).ok())
                    .unwrap_or(SessionState::Running),
                processes: cgroup.map_or(0, |cgroup| cgroup.pids().len()),
            }
        })
        .collect()
}

/// A socket file left by a daemon that died is removed; one that answers means a daemon runs.
fn remove_stale(path: &Path) -> Result<(), ControlError> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.file_type().is_socket() && std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ControlError::AlreadyRunning(path.to_path_buf()));
    }
    fs::remove_file(path).map_err(|source| ControlError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

async fn serve(stream: UnixStream, shared: Arc<Shared>) {
    let peer = stream.peer_cred();
    let (read, mut write) = stream.into_split();
    // Only root (or the daemon's own user) may ask: the report names processes and paths.
    let own = nix::unistd::geteuid().as_raw();
    let allowed = peer.as_ref().is_ok_and(|cred| cred.uid() == 0 || cred.uid() == own);
    if !allowed {
        let uid = peer
            .map(|cred| cred.uid().to_string())
            .unwrap_or_else(|_| "unknown".into());
        tracing::warn!(uid = %uid, "control socket: refused a peer that is not root");
        let _ = answer(
            &mut write,
            &Answer::Error {
                message: "only root may use the agent-sensor control socket".into(),
            },
        )
        .await;
        return;
    }
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let mut line = String::new();
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let request: Request = match serde_json::from_str(line.trim()) {
        Ok(request) => request,
        Err(error) => {
            let _ = answer(
                &mut write,
                &Answer::Error {
                    message: format!("bad request: {error}"),
                },
            )
            .await;
            return;
        }
    };
    match request {
        Request::Status => {
            let mut report = shared.report.lock().map(|r| r.clone()).unwrap_or_default();
            report.watch_sessions = watch_sessions(&registrations(&shared));
            let _ = answer(&mut write, &Answer::Status(Box::new(report))).await;
        }
        Request::Session(request) => {
            let (reply, replied) = oneshot::channel();
            let outcome = match shared.commands.send(SessionCommand { request, reply }) {
                Ok(()) => replied.await.unwrap_or(Err(SessionActionError::Stopping)),
                Err(_) => Err(SessionActionError::Stopping),
            };
            let reply = match outcome {
                Ok(done) => Answer::Session(done),
                Err(error) => Answer::Error {
                    message: error.to_string(),
                },
            };
            let _ = answer(&mut write, &reply).await;
        }
        Request::Register(registration) => {
            let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                session = %registration.session,
                agent = %registration.agent,
                watcher = registration.watcher_pid,
                "a watch session registered"
            );
            if let Ok(mut map) = shared.registrations.lock() {
                map.insert(id, registration.clone());
            }
            if answer(&mut write, &Answer::Registered).await.is_ok() {
                // Listed until the watcher closes its end (or dies).
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest).await;
            }
            if let Ok(mut map) = shared.registrations.lock() {
                map.remove(&id);
            }
            tracing::info!(session = %registration.session, "a watch session ended");
        }
    }
}

async fn answer(write: &mut tokio::net::unix::OwnedWriteHalf, answer: &Answer) -> io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}
