//! The host packages the kernel lab needs, and running apt (directly as root, else with sudo).

use std::process::Command;

use anyhow::Result;

use crate::cmd;

/// Debian packages the lab needs: the emulator and a static busybox for the guest's basic tools.
const PACKAGES: [&str; 2] = ["qemu-system-x86", "busybox-static"];

/// Installs the lab's missing packages; quiet and fast when they are all there.
pub fn ensure_packages() -> Result<()> {
    ensure("vm-test", &PACKAGES)
}

/// Installs those of `packages` that are missing (for `what`); quiet and fast when they are all
/// there.
pub fn ensure(what: &str, packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|package| !installed(package)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("{what}: installing {}", missing.join(" "));
    let install = |missing: &[&str]| {
        cmd::run(
            apt("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(missing),
        )
    };
    if install(&missing).is_err() {
        // Stale package lists name versions the mirror no longer has.
        update()?;
        install(&missing)?;
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    cmd::output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", package]))
        .is_some_and(|status| status.trim() == "installed")
}

/// `apt-get update`, quietly.
pub fn update() -> Result<()> {
    cmd::run(apt("apt-get").args(["update", "-qq"]))
}

/// An apt command run as root: directly when we are root, else through sudo.
pub fn apt(program: &str) -> Command {
    let mut command = if cmd::is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["env", "DEBIAN_FRONTEND=noninteractive", program]);
        sudo
    };
    command.env("DEBIAN_FRONTEND", "noninteractive");
    command
}
