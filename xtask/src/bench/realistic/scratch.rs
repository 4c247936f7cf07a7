//! The realistic work's scratch space: a tmpfs mounted under `target/bench`, unmounted (and its
//! mount point removed) when dropped. Not under /tmp or /dev/shm: the default pack's staged-exec
//! rule watches programs run from there, and a build runs programs it has just written.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Mounts a fresh tmpfs at `<parent>/realistic.<pid>`.
    pub fn mount(parent: &Path) -> Result<Self> {
        let path = parent.join(format!("realistic.{}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=755", "agent-sensor-bench"])
            .arg(&path)
            .status()
            .context("running mount")?;
        if !status.success() {
            let _ = fs::remove_dir(&path);
            bail!("mounting a tmpfs at {} failed ({status})", path.display());
        }
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success())
            || Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status()
                .is_ok_and(|status| status.success());
        if !unmounted || fs::remove_dir(&self.path).is_err() {
            eprintln!("bench: could not unmount and remove {}", self.path.display());
        }
    }
}
