//! `cgroup.events`: whether a cgroup holds processes (`populated`) and whether it is frozen
//! (`frozen`). The kernel signals every change of the file as a modification, so inotify tells
//! when a session's cgroup empties or freezes without scanning /proc.

use std::{
    collections::HashMap,
    io,
    os::fd::{AsFd, AsRawFd, RawFd},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor},
};
use tokio::io::{Interest, unix::AsyncFd};

use super::{
    CgroupError,
    session::{CgroupEvents, SessionCgroup},
};

/// An inotify instance as a raw descriptor, for the async runtime.
#[derive(Debug)]
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

fn watch_error(path: &Path, error: nix::Error) -> CgroupError {
    CgroupError::Watch {
        path: path.to_path_buf(),
        source: io::Error::from(error),
    }
}

fn new_inotify(path: &Path) -> Result<Inotify, CgroupError> {
    Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|error| watch_error(path, error))
}

/// Watches the `cgroup.events` files of several cgroups; wakes the async runtime when one changes.
#[derive(Debug)]
pub struct EventsWatch {
    /// Plain until the first wait (registering with the runtime needs the runtime).
    fd: Option<Descriptor>,
    files: HashMap<WatchDescriptor, PathBuf>,
}

#[derive(Debug)]
enum Descriptor {
    Plain(InotifyFd),
    Registered(AsyncFd<InotifyFd>),
}

impl Descriptor {
    fn inotify(&self) -> &Inotify {
        match self {
            Self::Plain(fd) => &fd.0,
            Self::Registered(fd) => &fd.get_ref().0,
        }
    }
}

impl EventsWatch {
    pub fn new() -> Result<Self, CgroupError> {
        let inotify = new_inotify(Path::new("inotify"))?;
        Ok(Self {
            fd: Some(Descriptor::Plain(InotifyFd(inotify))),
            files: HashMap::new(),
        })
    }

    /// Starts watching `cgroup`'s `cgroup.events`.
    pub fn add(&mut self, cgroup: &SessionCgroup) -> Result<WatchDescriptor, CgroupError> {
        let file = cgroup.path().join("cgroup.events");
        let fd = self.fd.as_ref().ok_or_else(|| watch_error(&file, nix::Error::EBADF))?;
        let descriptor = fd
            .inotify()
            .add_watch(&file, AddWatchFlags::IN_MODIFY)
            .map_err(|error| watch_error(&file, error))?;
        self.files.insert(descriptor, file);
        Ok(descriptor)
    }

    /// Stops watching (the kernel also drops the watch when the cgroup is removed).
    pub fn remove(&mut self, descriptor: WatchDescriptor) {
        if self.files.remove(&descriptor).is_some()
            && let Some(fd) = &self.fd
        {
            let _ = fd.inotify().rm_watch(descriptor);
        }
    }

    /// Waits until some watched file changed; returns the watches that fired. Never returns
    /// while nothing is watched.
    pub async fn changed(&mut self) -> io::Result<Vec<WatchDescriptor>> {
        if let Some(Descriptor::Plain(_)) = self.fd
            && let Some(Descriptor::Plain(plain)) = self.fd.take()
        {
            // SAFETY: the inotify instance owns its descriptor, and it stays open and unchanged
            // while the AsyncFd owns the instance.
            let registered = unsafe { AsyncFd::register_with_interest(plain, Interest::READABLE) };
            self.fd = Some(match registered {
                Ok(fd) => Descriptor::Registered(fd),
                Err(error) => {
                    let (plain, cause) = error.into_parts();
                    self.fd = Some(Descriptor::Plain(plain));
                    return Err(cause);
                }
            });
        }
        let Some(Descriptor::Registered(fd)) = &self.fd else {
            return std::future::pending().await;
        };
        loop {
            let mut ready = fd.readable().await?;
            match ready.get_inner().0.read_events() {
                Ok(events) => return Ok(events.into_iter().map(|event| event.wd).collect()),
                Err(nix::Error::EAGAIN) => ready.clear_ready(),
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Blocks until `cgroup.events` of `cgroup` satisfies `done`, or `timeout` passes; returns the
/// last state read either way. A cgroup removed meanwhile (its owner saw it empty) reads as
/// empty and not frozen.
pub fn wait_until(
    cgroup: &SessionCgroup,
    timeout: Duration,
    done: impl Fn(CgroupEvents) -> bool,
) -> Result<CgroupEvents, CgroupError> {
    let file = cgroup.path().join("cgroup.events");
    let inotify = new_inotify(&file)?;
    match inotify.add_watch(&file, AddWatchFlags::IN_MODIFY) {
        Ok(_) => {}
        Err(nix::Error::ENOENT) => return Ok(CgroupEvents::default()),
        Err(error) => return Err(watch_error(&file, error)),
    }
    let deadline = Instant::now() + timeout;
    loop {
        // Read after the watch is in place: a change between the two is not missed.
        let events = match cgroup.events() {
            Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(CgroupEvents::default());
            }
            read => read?,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if done(events) || left.is_zero() {
            return Ok(events);
        }
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(error) => return Err(watch_error(&file, error)),
        }
        match inotify.read_events() {
            Ok(_) | Err(nix::Error::EAGAIN) => {}
            Err(error) => return Err(watch_error(&file, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_events() {
        assert_eq!(
            CgroupEvents::parse("populated 1\nfrozen 0\n"),
            CgroupEvents {
                populated: true,
                frozen: false
            }
        );
        assert_eq!(
            CgroupEvents::parse("populated 0\nfrozen 1\n"),
            CgroupEvents {
                populated: false,
                frozen: true
            }
        );
        assert_eq!(CgroupEvents::parse(""), CgroupEvents::default());
    }
}
