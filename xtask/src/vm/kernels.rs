//! Debian cloud kernels: the newest package of each asked version, downloaded with apt once and
//! cached as `<tools>/kernels/<release>/vmlinuz` (with its `config`).
//!
//! Package names carry ABI numbers that move with every Debian update, so they are resolved from
//! apt's lists (`linux-image-6.1.0-56-cloud-amd64-unsigned`, `linux-image-6.12.117+deb12-…`),
//! never written down.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::host;
use crate::{cmd, setup};

pub struct Kernel {
    /// The version asked for, e.g. `6.12`.
    pub version: String,
    /// The kernel release, e.g. `6.12.117+deb12-cloud-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
}

const FLAVOUR: &str = "-cloud-amd64";

/// The kernels for `versions`, downloading those not cached yet.
pub fn ensure(versions: &[String]) -> Result<Vec<Kernel>> {
    for version in versions {
        let valid = version.split('.').count() == 2 && version.split('.').all(|part| part.parse::<u32>().is_ok());
        if !valid {
            bail!("`{version}` is not a kernel version like 6.1 or 6.12");
        }
    }
    let cache = setup::tools_dir().join("kernels");
    let mut releases: Vec<Option<Package>> = versions.iter().map(|version| newest_package(version)).collect();
    if releases.iter().any(Option::is_none) {
        // Before a first `apt-get update` the lists may be missing or old.
        eprintln!("vm-test: apt's lists lack a kernel package; running apt-get update");
        if let Err(error) = host::update() {
            eprintln!("warning: {error:#}");
        }
        releases = versions.iter().map(|version| newest_package(version)).collect();
    }

    let mut kernels = Vec::new();
    let mut missing = Vec::new();
    for (version, package) in versions.iter().zip(releases) {
        let release = match package {
            Some(package) => fetch(&cache, &package)?,
            None => match newest_cached(&cache, version) {
                Some(release) => {
                    eprintln!("warning: apt has no Linux {version} cloud kernel; using the cached {release}");
                    release
                }
                None => {
                    missing.push(version.as_str());
                    continue;
                }
            },
        };
        kernels.push(Kernel {
            version: version.clone(),
            vmlinuz: cache.join(&release).join("vmlinuz"),
            release,
        });
    }
    if !missing.is_empty() {
        let found: Vec<&str> = kernels.iter().map(|kernel| kernel.version.as_str()).collect();
        bail!(
            "apt has no Debian cloud kernel for Linux {} (looked for linux-image-<version>.*{FLAVOUR}[-unsigned] \
             with `apt-cache pkgnames`, after `apt-get update`).{} Debian 12 has 6.12 in bookworm-security; add a \
             source that carries it, or choose kernels with --kernel",
            missing.join(", "),
            if found.is_empty() {
                String::new()
            } else {
                format!(" Available: {}.", found.join(", "))
            }
        );
    }
    Ok(kernels)
}

struct Package {
    name: String,
    release: String,
}

/// The newest `linux-image-<version>.*-cloud-amd64[-unsigned]` in apt's lists, the unsigned
/// build preferred (the same kernel; it needs no signed-template machinery).
fn newest_package(version: &str) -> Option<Package> {
    let prefix = format!("linux-image-{version}.");
    let names = cmd::output(Command::new("apt-cache").args(["pkgnames", &prefix]))?;
    names
        .lines()
        .filter_map(|name| {
            let release = name.strip_prefix("linux-image-")?;
            let (release, unsigned) = match release.strip_suffix("-unsigned") {
                Some(release) => (release, true),
                None => (release, false),
            };
            release.ends_with(FLAVOUR).then(|| {
                (
                    (version_key(release), unsigned),
                    Package {
                        name: name.to_string(),
                        release: release.to_string(),
                    },
                )
            })
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, package)| package)
}

/// The numbers of a release in order (`6.1.0-56-cloud-amd64` → 6, 1, 0, 56), for sorting.
fn version_key(release: &str) -> Vec<u64> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

fn newest_cached(cache: &Path, version: &str) -> Option<String> {
    let prefix = format!("{version}.");
    fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|release| release.starts_with(&prefix) && cache.join(release).join("vmlinuz").is_file())
        .max_by_key(|release| version_key(release))
}

/// Downloads and unpacks the package unless its kernel is cached; returns the release.
fn fetch(cache: &Path, package: &Package) -> Result<String> {
    let dir = cache.join(&package.release);
    if dir.join("vmlinuz").is_file() {
        return Ok(package.release.clone());
    }
    eprintln!("vm-test: downloading {} (once)", package.name);
    let work = cache.join(format!(".{}.partial", package.release));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let download = || {
        let mut command = Command::new("apt-get");
        if cmd::is_root() {
            // apt drops to the `_apt` user to download, which cannot write to our directory.
            command.args(["-o", "APT::Sandbox::User=root"]);
        }
        cmd::run(command.args(["download", "-qq", &package.name]).current_dir(&work))
    };
    if download().is_err() {
        // The lists may name a version the mirror has dropped.
        host::update()?;
        download()?;
    }
    let deb = fs::read_dir(&work)
        .with_context(|| format!("cannot read {}", work.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .with_context(|| format!("`apt-get download {}` left no .deb in {}", package.name, work.display()))?;
    let root = work.join("root");
    cmd::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;

    let boot = root.join("boot");
    let staged = work.join("kernel");
    fs::create_dir_all(&staged).with_context(|| format!("cannot create {}", staged.display()))?;
    for (from, to) in [("vmlinuz", "vmlinuz"), ("config", "config")] {
        let source = boot.join(format!("{from}-{}", package.release));
        fs::copy(&source, staged.join(to)).with_context(|| format!("{} has no {}", deb.display(), source.display()))?;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staged, &dir).with_context(|| format!("cannot move {} to {}", staged.display(), dir.display()))?;
    fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    Ok(package.release.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_sort_by_their_numbers() {
        assert!(version_key("6.1.0-56-cloud-amd64") > version_key("6.1.0-9-cloud-amd64"));
        assert!(version_key("6.12.117+deb12-cloud-amd64") > version_key("6.12.38+deb12-cloud-amd64"));
    }
}
