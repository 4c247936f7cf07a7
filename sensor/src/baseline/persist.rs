//! Baselines on disk: one file per profile, `<state_dir>/baselines/<name>.rmp`, holding a
//! versioned envelope in MessagePack (rmp-serde, named fields). Files are written atomically
//! (temporary file, fsync, rename, fsync of the directory). A file that cannot be read, is not a
//! baseline, or has a version this sensor does not know is reported with its path and renamed
//! to `<file>.corrupt-<unix time>`, and its profile learns afresh: a bad file never stops the
//! sensor. One sensor at a time owns a state directory (an exclusive `flock` on
//! `baselines/lock`); another one judges against what is there but does not write.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::profile::Profile;
use crate::config::baseline::CapsConfig;

/// The `format` of every baseline file and export.
pub const FORMAT: &str = "agent-sensor-baseline";
/// The version this sensor writes and reads.
pub const VERSION: u32 = 1;
/// Extension of baseline files.
pub const EXTENSION: &str = "rmp";

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Bad { path: PathBuf, problem: DecodeError },
    #[error(
        "another agent-sensor is using the baselines in {} (stop it first: it would overwrite this change)",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot encode the baseline of {name}: {message}")]
    Encode { name: String, message: String },
}

/// Why bytes are not a baseline this sensor can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a baseline file: {0}")]
    Corrupt(String),
    #[error("baseline format version {found}; this sensor reads version {VERSION}")]
    UnknownVersion { found: u32 },
}

/// What a file holds.
#[derive(Serialize, Deserialize)]
struct Envelope<P> {
    format: String,
    version: u32,
    /// When it was written (seconds since the Unix epoch).
    written_at: i64,
    profile: P,
}

/// The first fields, read before the rest so an unknown version is told from damage.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn envelope(profile: &Profile) -> Envelope<&Profile> {
    Envelope {
        format: FORMAT.to_string(),
        version: VERSION,
        written_at: now(),
        profile,
    }
}

/// The MessagePack form of `profile`.
pub fn encode(profile: &Profile) -> Result<Vec<u8>, PersistError> {
    rmp_serde::to_vec_named(&envelope(profile)).map_err(|error| PersistError::Encode {
        name: profile.name.clone(),
        message: error.to_string(),
    })
}

/// The JSON form of `profile` (exports).
pub fn encode_json(profile: &Profile) -> Result<Vec<u8>, PersistError> {
    let mut json = serde_json::to_vec_pretty(&envelope(profile)).map_err(|error| PersistError::Encode {
        name: profile.name.clone(),
        message: error.to_string(),
    })?;
    json.push(b'\n');
    Ok(json)
}

fn check(header: Header) -> Result<(), DecodeError> {
    if header.format != FORMAT {
        return Err(DecodeError::Corrupt(format!(
            "its format is `{}`, not `{FORMAT}`",
            header.format
        )));
    }
    if header.version != VERSION {
        return Err(DecodeError::UnknownVersion { found: header.version });
    }
    Ok(())
}

/// A profile from its MessagePack form.
pub fn decode(bytes: &[u8]) -> Result<Profile, DecodeError> {
    let header: Header = rmp_serde::from_slice(bytes).map_err(|error| DecodeError::Corrupt(error.to_string()))?;
    check(header)?;
    let envelope: Envelope<Profile> =
        rmp_serde::from_slice(bytes).map_err(|error| DecodeError::Corrupt(error.to_string()))?;
    Ok(envelope.profile)
}

/// A profile from its JSON form.
pub fn decode_json(bytes: &[u8]) -> Result<Profile, DecodeError> {
    let header: Header = serde_json::from_slice(bytes).map_err(|error| DecodeError::Corrupt(error.to_string()))?;
    check(header)?;
    let envelope: Envelope<Profile> =
        serde_json::from_slice(bytes).map_err(|error| DecodeError::Corrupt(error.to_string()))?;
    Ok(envelope.profile)
}

/// A profile from either form (JSON starts with `{`).
pub fn decode_any(bytes: &[u8]) -> Result<Profile, DecodeError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => decode_json(bytes),
        _ => decode(bytes),
    }
}

/// The file name of a profile: letters, digits, `-`, `_` and inner `.` as they are, any other
/// byte as `%XX`.
pub fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (index, byte) in name.bytes().enumerate() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || (byte == b'.' && index > 0) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out.push('.');
    out.push_str(EXTENSION);
    out
}

/// The profile name of a baseline file name, or `None` for other files.
pub fn profile_name(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    let mut bytes = Vec::with_capacity(stem.len());
    let mut rest = stem.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok().filter(|name| !name.is_empty())
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        File::open(directory)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Renames a bad file to `<file>.corrupt-<unix time>` (with `-N` if that exists); returns the
/// new path.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = now();
    let mut aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    let mut n = 1;
    while aside.exists() {
        aside = PathBuf::from(format!("{}.corrupt-{stamp}-{n}", path.display()));
        n += 1;
    }
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// The baselines directory of a state directory.
pub fn baselines_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("baselines")
}

/// The baseline files of one state directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    lock: Option<Flock<File>>,
}

impl Store {
    /// Opens (creating) `<state_dir>/baselines` and takes its lock. When another sensor holds
    /// it, the store is read-only, or, with `exclusive`, an error.
    pub fn open(state_dir: &Path, exclusive: bool) -> Result<Self, PersistError> {
        let dir = baselines_dir(state_dir);
        let io = |source| PersistError::Io {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io)?;
        let lock_path = dir.join("lock");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| PersistError::Io {
                path: lock_path.clone(),
                source,
            })?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Some(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !exclusive => None,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(PersistError::Locked { dir }),
            Err((_, errno)) => {
                return Err(PersistError::Io {
                    path: lock_path,
                    source: io::Error::from(errno),
                });
            }
        };
        Ok(Self { dir, lock })
    }

    /// A store for reading only (no lock, nothing created).
    pub fn read_only(state_dir: &Path) -> Self {
        Self {
            dir: baselines_dir(state_dir),
            lock: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// False when another sensor owns the directory.
    pub fn writable(&self) -> bool {
        self.lock.is_some()
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(file_name(name))
    }

    /// The stored profile `name`: `Ok(None)` when there is none, `Err` when the file is bad.
    pub fn read(&self, name: &str) -> Result<Option<Profile>, PersistError> {
        let path = self.path_of(name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PersistError::Io { path, source }),
        };
        let mut profile = decode(&bytes).map_err(|problem| PersistError::Bad { path, problem })?;
        profile.name = name.to_string();
        Ok(Some(profile))
    }

    /// Loads `name` for the sensor. A bad file is reported with its path and, when this store
    /// is writable, set aside; either way the profile starts afresh (`None`).
    pub fn load(&self, name: &str, caps: &CapsConfig) -> Option<Profile> {
        match self.read(name) {
            Ok(Some(mut profile)) => {
                profile.sanitize(caps);
                Some(profile)
            }
            Ok(None) => None,
            Err(PersistError::Bad { path, problem }) => {
                if self.writable() {
                    match set_aside(&path) {
                        Ok(aside) => tracing::error!(
                            path = %path.display(),
                            moved_to = %aside.display(),
                            %problem,
                            profile = name,
                            "unusable baseline file set aside; this profile learns afresh"
                        ),
                        Err(error) => tracing::error!(
                            path = %path.display(),
                            %problem,
                            %error,
                            profile = name,
                            "unusable baseline file (could not move it aside); this profile learns afresh"
                        ),
                    }
                } else {
                    tracing::error!(path = %path.display(), %problem, profile = name, "unusable baseline file; this profile learns afresh");
                }
                None
            }
            Err(error) => {
                tracing::error!(%error, profile = name, "cannot read the baseline; this profile learns afresh");
                None
            }
        }
    }

    /// Writes `profile` atomically.
    pub fn save(&self, profile: &Profile) -> Result<(), PersistError> {
        let bytes = encode(profile)?;
        let path = self.path_of(&profile.name);
        write_atomic(&path, &bytes).map_err(|source| PersistError::Io { path, source })
    }

    /// Deletes the stored profile `name`; false when there was none.
    pub fn remove(&self, name: &str) -> Result<bool, PersistError> {
        let path = self.path_of(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(PersistError::Io { path, source }),
        }
    }

    /// The names of the stored profiles, sorted.
    pub fn names(&self) -> Result<Vec<String>, PersistError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PersistError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| profile_name(&entry.file_name().to_string_lossy()))
            .collect();
        names.sort();
        Ok(names)
    }
}
