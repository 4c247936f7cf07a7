//! The clients of the control socket: `agent-sensor status`, `agent-sensor session`, and `watch`
//! registering its session.

use std::{
    io::{self, BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use super::protocol::{Answer, Registration, Request, SessionReply, SessionRequest, StatusReport};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no agent-sensor daemon answers on {path}: {source} (is `agent-sensor run` running, and is this its control.socket?)"
    )]
    Connect { path: PathBuf, source: io::Error },
    #[error("the daemon on {path} did not answer: {source}")]
    Exchange { path: PathBuf, source: io::Error },
    #[error("the daemon on {path} refused: {message}")]
    Refused { path: PathBuf, message: String },
    #[error("the daemon on {path} answered something unexpected: {answer}")]
    Unexpected { path: PathBuf, answer: String },
}

fn exchange(path: &Path, request: &Request) -> Result<(Answer, BufReader<UnixStream>), ClientError> {
    let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    let failed = |source| ClientError::Exchange {
        path: path.to_path_buf(),
        source,
    };
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(failed)?;
    let mut line = serde_json::to_vec(request).map_err(|e| failed(io::Error::other(e)))?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    reader.read_line(&mut text).map_err(failed)?;
    let answer: Answer = serde_json::from_str(text.trim()).map_err(|_| ClientError::Unexpected {
        path: path.to_path_buf(),
        answer: text.trim().to_string(),
    })?;
    if let Answer::Error { message } = answer {
        return Err(ClientError::Refused {
            path: path.to_path_buf(),
            message,
        });
    }
    Ok((answer, reader))
}

/// Asks the daemon on `path` for its status.
pub fn status(path: &Path) -> Result<StatusReport, ClientError> {
    match exchange(path, &Request::Status)? {
        (Answer::Status(report), _) => Ok(*report),
        (other, _) => Err(ClientError::Unexpected {
            path: path.to_path_buf(),
            answer: format!("{other:?}"),
        }),
    }
}

/// Asks the daemon on `path` to freeze, thaw or kill a session.
pub fn session(path: &Path, request: SessionRequest) -> Result<SessionReply, ClientError> {
    match exchange(path, &Request::Session(request))? {
        (Answer::Session(reply), _) => Ok(reply),
        (other, _) => Err(ClientError::Unexpected {
            path: path.to_path_buf(),
            answer: format!("{other:?}"),
        }),
    }
}

/// A registration with the daemon; it lasts until this is dropped (or the process ends).
pub struct Registered {
    _connection: BufReader<UnixStream>,
}

/// Registers a `watch` session with the daemon on `path`.
pub fn register(path: &Path, registration: Registration) -> Result<Registered, ClientError> {
    let (answer, connection) = exchange(path, &Request::Register(registration))?;
    match answer {
        Answer::Registered => Ok(Registered {
            _connection: connection,
        }),
        other => Err(ClientError::Unexpected {
            path: path.to_path_buf(),
            answer: format!("{other:?}"),
        }),
    }
}
