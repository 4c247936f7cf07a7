//! What the kernel needs to tell the system's own programs from copies, and which programs run a
//! script named by their arguments.
//!
//! - An executable below one of the system's binary directories that the session did not write
//!   is the system's own: program exceptions by name (`ssh` may read `~/.ssh`) apply to it. A
//!   copy of `cat` named `ssh` in the workspace is not below them; one the session wrote there
//!   (as root) is marked written.
//! - Interpreters: when one of these runs a file the session wrote (its first argument that is not
//!   an option, or the second when it ends like a script), the script counts as the program run
//!   (`agent_sensor.exec.script`).

use std::{collections::BTreeSet, fs};

use sensor_common::policy::{MAX_TRUSTED_DIRS, path_hash};

use super::expand::components;

/// The system's program trees, which only the administrator writes (`/bin` and `/sbin` are links
/// to `/usr` on merged systems, where executables resolve below `/usr`; `/opt` and `/snap` hold
/// packaged applications such as browsers).
pub const SYSTEM_DIRS: [&str; MAX_TRUSTED_DIRS] =
    ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/snap", "/nix/store"];

/// The path hashes and depths of [`SYSTEM_DIRS`] (for `PolicyConfig`).
pub fn directories(seed: u64) -> ([u64; MAX_TRUSTED_DIRS], [u32; MAX_TRUSTED_DIRS]) {
    let mut hashes = [0; MAX_TRUSTED_DIRS];
    let mut depths = [0; MAX_TRUSTED_DIRS];
    for (index, dir) in SYSTEM_DIRS.iter().enumerate() {
        hashes[index] = path_hash(seed, dir.as_bytes());
        depths[index] = components(dir).len() as u32;
    }
    (hashes, depths)
}

/// Interpreters by the base name of their executable (as the kernel resolves it: `python3` runs
/// as `python3.11`, `sh` as `dash`).
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "ksh93",
    "mksh",
    "ash",
    "yash",
    "fish",
    "tcsh",
    "csh",
    "busybox",
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
    "node",
    "nodejs",
    "bun",
    "deno",
    "perl",
    "ruby",
    "php",
    "lua",
    "luajit",
    "Rscript",
    "tclsh",
    "wish",
    "pwsh",
    "osascript",
    "awk",
    "gawk",
    "mawk",
    "expect",
];

/// Prefixes of versioned interpreter names found in the system's binary directories
/// (`python3.11`, `perl5.36.0`, `ruby3.1`, `php8.2`, `lua5.4`, `tclsh8.6`).
const VERSIONED: &[&str] = &["python", "pypy", "perl", "ruby", "php", "lua", "tclsh", "wish", "node"];

/// Every interpreter name: the fixed list, and the versioned names present on this machine.
pub fn script_hosts() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = INTERPRETERS.iter().map(|name| name.to_string()).collect();
    for dir in ["/usr/bin", "/usr/local/bin", "/bin", "/opt/bin"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let versioned = VERSIONED.iter().any(|prefix| {
                name.strip_prefix(prefix)
                    .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
            });
            if versioned {
                names.insert(name);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_interpreters_are_found_and_plain_ones_listed() {
        let names = script_hosts();
        assert!(names.contains("bash"));
        assert!(names.contains("python3"));
        assert!(!names.iter().any(|name| name.ends_with("-config")));
    }

    #[test]
    fn directories_have_their_depths() {
        let (hashes, depths) = directories(7);
        assert_eq!(depths[0], 1);
        assert_eq!(depths[7], 2);
        assert_eq!(hashes[0], path_hash(7, b"/usr"));
    }
}
