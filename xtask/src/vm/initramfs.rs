//! The guest's root file system: one gzip'd cpio archive, rebuilt at every run (a few seconds).
//!
//! It holds busybox for the basic tools, the real bash, coreutils and python3 the tests run, with
//! every library `ldd` names, users `root`, `agent` (1000) and `nobody`, the test binary and the
//! sensor (debug info stripped) at their host paths, the workspace's `rules/`, `config/` and
//! `tests/` folders, the tests' C programs built static (`target/vm/doors/`), and an `/init` that
//! runs the test binary and powers off.

use std::{
    collections::BTreeSet,
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

use super::{binaries::TestBinaries, cpio, tree::Tree};
use crate::cmd::{self, workspace};

/// Real programs for the tests (busybox stands in for anything missing here).
const PROGRAMS: &[&str] = &[
    "bash",
    "basename",
    "cat",
    "chmod",
    "chown",
    "cp",
    "cut",
    "date",
    "dd",
    "dirname",
    "echo",
    "env",
    "false",
    "find",
    "grep",
    "head",
    "id",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "mv",
    "nohup",
    "printf",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "tail",
    "tee",
    "test",
    "timeout",
    "tmux",
    "touch",
    "truncate",
    "tr",
    "true",
    "uname",
    "uniq",
    "unshare",
    "wc",
    "whoami",
    "xargs",
    "yes",
];

/// Parts of the Python standard library the tests never use.
fn skip_in_stdlib(name: &str) -> bool {
    matches!(
        name,
        "__pycache__"
            | "test"
            | "tests"
            | "idle_test"
            | "idlelib"
            | "tkinter"
            | "turtledemo"
            | "ensurepip"
            | "lib2to3"
            | "site-packages"
            | "dist-packages"
    ) || name.starts_with("config-3")
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
agent:x:1000:1000:agent:/home/agent:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";
const GROUP: &str = "root:x:0:
agent:x:1000:
nogroup:x:65534:
";
const HOSTS: &str = "127.0.0.1 localhost agent-sensor-vm
::1 localhost ip6-localhost ip6-loopback
";
const NSSWITCH: &str = "passwd: files
group: files
shadow: files
hosts: files
";

/// What a guest holds besides the common tools, and what its `/init` runs.
pub struct Guest {
    /// Names the archive: `initramfs-<name>.cpio.gz`.
    pub name: String,
    /// Programs placed at their host paths (debug info stripped), with their libraries.
    pub binaries: Vec<PathBuf>,
    /// The shell command `/init` runs in the workspace; its status is the guest's result.
    pub command: String,
}

/// Builds `<out_dir>/initramfs-<test>.cpio.gz` and returns its path.
pub fn build(binaries: &TestBinaries, args: &[String], out_dir: &Path) -> Result<PathBuf> {
    // Each test binary in turn; the first failure is the guest's result.
    let command = binaries
        .tests
        .iter()
        .map(|test| {
            std::iter::once(test.display().to_string())
                .chain(std::iter::once("--test-threads=1".to_string()))
                .chain(args.iter().cloned())
                .map(|word| shell_quote(&word))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" && ");
    let mut programs: Vec<PathBuf> = binaries.tests.iter().chain([&binaries.sensor]).cloned().collect();
    programs.extend(test_programs(out_dir)?);
    build_guest(
        &Guest {
            name: binaries.name.clone(),
            binaries: programs,
            command,
        },
        out_dir,
    )
}

/// The C programs of the end-to-end tests (`tests/doors/*.c`), built static into
/// `<out_dir>/doors/` because the guest has no C compiler: `tests/doors.rs` runs them from there
/// in the lab (the same path in the guest).
fn test_programs(out_dir: &Path) -> Result<Vec<PathBuf>> {
    let sources = workspace().join("tests/doors");
    let built = out_dir.join("doors");
    fs::create_dir_all(&built).with_context(|| format!("cannot create {}", built.display()))?;
    let mut programs = Vec::new();
    for entry in fs::read_dir(&sources).with_context(|| format!("cannot read {}", sources.display()))? {
        let source = entry
            .with_context(|| format!("cannot read {}", sources.display()))?
            .path();
        let (Some(name), true) = (source.file_stem(), source.extension().is_some_and(|ext| ext == "c")) else {
            continue;
        };
        let program = built.join(name);
        // Static and not position-independent: the 32-bit `int 0x80` program needs its buffers
        // below 4 GiB (tests/doors/int80_open.c).
        cmd::run(
            Command::new("cc")
                .args(["-O1", "-static", "-no-pie", "-o"])
                .arg(&program)
                .arg(&source),
        )
        .context("the lab's test programs are built with the system's C compiler (apt-get install gcc)")?;
        programs.push(program);
    }
    programs.sort();
    Ok(programs)
}

/// Builds `<out_dir>/initramfs-<guest.name>.cpio.gz` and returns its path.
pub fn build_guest(guest: &Guest, out_dir: &Path) -> Result<PathBuf> {
    let mut tree = Tree::default();
    base(&mut tree)?;
    let mut elf_files = Vec::new();

    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .context("no /usr/bin/busybox: install busybox-static")?;
    tree.host(&busybox)?;
    elf_files.push(busybox.clone());

    for program in PROGRAMS {
        if let Some(path) = find_program(program) {
            tree.host(&path)?;
            elf_files.push(path);
        } else if *program == "bash" {
            bail!("bash is missing on this machine");
        }
    }
    elf_files.extend(python(&mut tree)?);
    // tmux refuses to start without a UTF-8 locale: C.UTF-8's character classes.
    let utf8 = Path::new("/usr/lib/locale/C.utf8/LC_CTYPE");
    if utf8.is_file() {
        tree.host(utf8)?;
    }

    let stripped = out_dir.join("bin");
    let _ = fs::remove_dir_all(&stripped); // copies of earlier builds
    fs::create_dir_all(&stripped).with_context(|| format!("cannot create {}", stripped.display()))?;
    for binary in &guest.binaries {
        let copy = strip_debug_info(binary, &stripped)?;
        tree.file_from(binary, &copy)?;
        elf_files.push(copy);
    }
    for library in libraries(&elf_files)? {
        tree.host(&library)?;
    }
    busybox_applets(&mut tree, &busybox)?;
    workspace_files(&mut tree)?;

    let init = include_str!("init.sh")
        .replace("@WORKSPACE@", &shell_quote(&workspace().display().to_string()))
        .replace("@COMMAND@", &guest.command);
    tree.data("/init", init, 0o755);

    write_gzipped(&tree, &out_dir.join(format!("initramfs-{}.cpio.gz", guest.name)))
}

/// Directories, users and the merged-/usr links of the host (`/bin -> usr/bin`, …).
fn base(tree: &mut Tree) -> Result<()> {
    for dir in ["/proc", "/sys", "/dev", "/run", "/etc", "/mnt", "/var"] {
        tree.dir(dir, 0o755, 0);
    }
    tree.dir("/tmp", 0o1777, 0);
    tree.dir("/var/tmp", 0o1777, 0);
    tree.dir("/root", 0o700, 0);
    tree.dir("/home/agent", 0o755, 1000);
    for link in ["/bin", "/sbin", "/lib", "/lib64"] {
        let is_link = fs::symlink_metadata(link).is_ok_and(|meta| meta.file_type().is_symlink());
        if is_link {
            tree.host(link)?;
        }
    }
    tree.data("/etc/passwd", PASSWD, 0o644);
    tree.data("/etc/group", GROUP, 0o644);
    tree.data("/etc/hostname", "agent-sensor-vm\n", 0o644);
    tree.data("/etc/hosts", HOSTS, 0o644);
    tree.data("/etc/nsswitch.conf", NSSWITCH, 0o644);
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .into_iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// Debian's `/usr/bin/python3` and its standard library; returns the executables and extension
/// modules whose libraries must come too.
fn python(tree: &mut Tree) -> Result<Vec<PathBuf>> {
    let python = Path::new("/usr/bin/python3");
    tree.host(python)
        .context("Debian's python3 is missing (apt-get install python3)")?;
    let real = fs::canonicalize(python).with_context(|| format!("cannot resolve {}", python.display()))?;
    let version = real
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| name.starts_with("python3."))
        .with_context(|| format!("{} is not a python3.X", real.display()))?;
    let stdlib = Path::new("/usr/lib").join(version);
    tree.host_tree(&stdlib, &skip_in_stdlib)?;
    let mut elf_files = vec![real];
    let dynload = stdlib.join("lib-dynload");
    for entry in fs::read_dir(&dynload).with_context(|| format!("cannot read {}", dynload.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dynload.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "so") {
            elf_files.push(path);
        }
    }
    Ok(elf_files)
}

/// A copy of `binary` in `dir` without debug info (a tenth of the size); the binary itself when
/// objcopy is missing.
fn strip_debug_info(binary: &Path, dir: &Path) -> Result<PathBuf> {
    let name = binary
        .file_name()
        .with_context(|| format!("{} has no file name", binary.display()))?;
    let copy = dir.join(name);
    let status = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(binary)
        .arg(&copy)
        .status();
    if status.is_ok_and(|status| status.success()) {
        Ok(copy)
    } else {
        eprintln!("warning: could not strip {}; copying it whole", binary.display());
        Ok(binary.to_path_buf())
    }
}

/// Every shared library (and the loader) that `ldd` lists for `files`.
fn libraries(files: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let mut command = Command::new("ldd");
    command.args(files);
    let out = command
        .output()
        .with_context(|| format!("could not start `{}`", cmd::describe(&command)))?;
    // ldd fails for static programs (busybox) while listing the others: read what it printed.
    let mut libraries = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        if line.contains("not found") {
            bail!("a library is missing on this machine: {line}");
        }
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let Some((left, _address)) = line.rsplit_once(" (0x") else {
            continue;
        };
        let path = left.rsplit_once("=> ").map_or(left, |(_, path)| path).trim();
        if path.starts_with('/') {
            libraries.insert(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// Links to busybox for each of its applets that no real program provides.
fn busybox_applets(tree: &mut Tree, busybox: &Path) -> Result<()> {
    let list = cmd::output(Command::new(busybox).arg("--list-full"))
        .with_context(|| format!("`{} --list-full` failed", busybox.display()))?;
    let target = tree.resolve(busybox).unwrap_or_else(|| busybox.to_path_buf());
    for applet in list.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let path = Path::new("/").join(applet);
        if tree.exists(&path) {
            continue;
        }
        // Place the link where the guest's own links lead (`/bin/ash` is `/usr/bin/ash`).
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let dir = tree.resolve(dir).unwrap_or_else(|| dir.to_path_buf());
        tree.symlink(dir.join(name), &target);
    }
    Ok(())
}

/// The workspace folders tests read by path (`CARGO_MANIFEST_DIR/../rules/default`, …), and the
/// members' folders so that such `..` paths resolve.
fn workspace_files(tree: &mut Tree) -> Result<()> {
    let root = workspace();
    tree.dir(&root, 0o755, 0);
    for member in ["sensor", "sensor-common", "xtask"] {
        tree.dir(root.join(member), 0o755, 0);
    }
    for folder in ["rules", "config", "tests"] {
        let path = root.join(folder);
        if path.is_dir() {
            tree.host_tree(&path, &|name| name == "target")?;
        }
    }
    Ok(())
}

/// Writes the archive through `gzip -1` (fast to make; the guest unpacks it in a moment).
fn write_gzipped(tree: &Tree, path: &Path) -> Result<PathBuf> {
    let partial = path.with_extension("gz.partial");
    let file = fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut gzip = Command::new("gzip")
        .args(["-1", "-n"])
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .context("could not start gzip")?;
    let written = {
        let stdin = gzip.stdin.take().context("gzip has no standard input")?;
        let mut writer = BufWriter::with_capacity(1 << 20, stdin);
        cpio::write(tree, &mut writer).and_then(|()| writer.flush().context("cannot write to gzip"))
    };
    let status = gzip.wait().context("gzip did not finish")?;
    written?;
    if !status.success() {
        bail!("gzip failed with {status} writing {}", partial.display());
    }
    fs::rename(&partial, path).with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))?;
    Ok(path.to_path_buf())
}

/// `word` in single quotes for sh.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
