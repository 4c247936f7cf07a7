//! The trampoline behind `watch`: `agent-sensor __session-exec --control-fd 3 -- COMMAND`.
//!
//! It tells the sensor it has started (one byte on the control socket), waits until the sensor
//! has tracked it (one byte back), drops to the requested user, and executes COMMAND in its own
//! place, so COMMAND's very first instruction already runs inside the tracked session.

use std::{
    ffi::OsString,
    io::{Read, Write},
    os::{
        fd::FromRawFd,
        unix::{net::UnixStream, process::CommandExt},
    },
};

use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

pub struct SessionExec {
    pub control_fd: i32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Vec<u32>,
    pub command: Vec<OsString>,
}

/// Never returns on success; returns the exit code to use when something failed.
pub fn run(options: SessionExec) -> i32 {
    // SAFETY: the sensor passes its end of the control socket pair as this descriptor; nothing
    // else in this process owns it.
    let mut control = unsafe { UnixStream::from_raw_fd(options.control_fd) };
    let mut byte = [0u8; 1];
    if control.write_all(&[1]).is_err() || control.read_exact(&mut byte).is_err() {
        eprintln!("agent-sensor: the sensor went away before the command could start");
        return 125;
    }
    drop(control);
    if let Some(uid) = options.uid {
        let gid = Gid::from_raw(options.gid.unwrap_or(uid));
        let groups: Vec<Gid> = options.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        if let Err(error) = setgroups(&groups)
            .and_then(|()| setgid(gid))
            .and_then(|()| setuid(Uid::from_raw(uid)))
        {
            eprintln!("agent-sensor: cannot switch to uid {uid}: {error}");
            return 125;
        }
    }
    let Some((program, args)) = options.command.split_first() else {
        eprintln!("agent-sensor: no command to run");
        return 125;
    };
    let error = std::process::Command::new(program).args(args).exec();
    eprintln!("agent-sensor: cannot run {}: {error}", program.to_string_lossy());
    if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}
