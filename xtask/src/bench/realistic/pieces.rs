//! The pieces of realistic work: each a directory with `reset.sh` (untimed: puts the piece back
//! where a run starts) and `run.sh` (timed from spawn to exit), written into the scratch tmpfs.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result, bail};

use super::generate;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    CBuild,
    RustBuild,
    PythonTests,
    Git,
    Copy,
    Read,
    Processes,
}

impl Piece {
    pub const ALL: [Piece; 7] = [
        Piece::CBuild,
        Piece::RustBuild,
        Piece::PythonTests,
        Piece::Git,
        Piece::Copy,
        Piece::Read,
        Piece::Processes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Piece::CBuild => "c-build",
            Piece::RustBuild => "rust-build",
            Piece::PythonTests => "python-tests",
            Piece::Git => "git",
            Piece::Copy => "copy",
            Piece::Read => "read",
            Piece::Processes => "processes",
        }
    }

    /// Whether the piece needs a compiler (the kernel lab's guest has none).
    pub fn needs_compiler(self) -> bool {
        matches!(self, Piece::CBuild | Piece::RustBuild)
    }
}

/// How big each piece is.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub c_files: usize,
    pub c_functions: usize,
    pub rust_modules: usize,
    pub rust_items: usize,
    pub python_modules: usize,
    pub python_tests_per_module: usize,
    /// The git commands are repeated to last about this long with no sensor.
    pub git_seconds: f64,
    pub copies: usize,
    pub processes: usize,
}

impl Scale {
    pub fn full() -> Self {
        Self {
            c_files: 32,
            c_functions: 8,
            rust_modules: 8,
            rust_items: 6,
            python_modules: 16,
            python_tests_per_module: 100,
            git_seconds: 1.0,
            copies: 2,
            processes: 600,
        }
    }

    pub fn small() -> Self {
        Self {
            c_files: 8,
            c_functions: 2,
            rust_modules: 8,
            rust_items: 1,
            python_modules: 4,
            python_tests_per_module: 50,
            git_seconds: 0.2,
            copies: 1,
            processes: 100,
        }
    }
}

/// What the pieces read from the machine.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The tree copied and read (`/usr/include` here; the Python standard library in the lab).
    pub tree: PathBuf,
    /// A git checkout for the git piece (this repository).
    pub checkout: PathBuf,
    pub python: PathBuf,
}

impl Sources {
    pub fn host() -> Self {
        Self {
            tree: PathBuf::from("/usr/include"),
            checkout: crate::cmd::workspace(),
            python: python(),
        }
    }
}

/// Debian's python3 rather than a shim in front of it (pyenv's is a shell script).
pub fn python() -> PathBuf {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// One sentence per piece for the report, as prepared.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub piece: Piece,
    pub detail: String,
}

/// Writes each piece's directory under `scratch`; returns what each piece does.
pub fn prepare(scratch: &Path, sources: &Sources, scale: &Scale, pieces: &[Piece]) -> Result<Vec<Prepared>> {
    let tmp = scratch.join("tmp");
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut prepared = Vec::new();
    for &piece in pieces {
        let dir = scratch.join(piece.name());
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let d = quote(&dir);
        // Every piece keeps its temporary files on the scratch tmpfs.
        let head = format!("set -e\nexport TMPDIR={}\ncd {d}\n", quote(&tmp));
        let (reset, run, detail) = match piece {
            Piece::CBuild => {
                write_files(&dir, &generate::c_project(scale.c_files, scale.c_functions))?;
                (
                    "make -s clean\n".to_string(),
                    "exec make -s -j2\n".to_string(),
                    format!(
                        "`make -j2` of {} generated C files and a main (`cc -O1`), linked into one program",
                        scale.c_files
                    ),
                )
            }
            Piece::RustBuild => {
                write_files(&dir, &generate::rust_crate(scale.rust_modules, scale.rust_items))?;
                let (cargo, rustc) = rust_toolchain()?;
                (
                    "rm -rf target\n".to_string(),
                    format!(
                        "unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC_WRAPPER\n\
                         export CARGO_HOME={} RUSTC={}\nexec {} build --offline --quiet\n",
                        quote(&dir.join("cargo-home")),
                        quote(&rustc),
                        quote(&cargo)
                    ),
                    format!(
                        "`cargo build --offline` (debug) of a generated crate of {} modules, no dependencies",
                        scale.rust_modules
                    ),
                )
            }
            Piece::PythonTests => {
                write_files(
                    &dir,
                    &generate::python_suite(scale.python_modules, scale.python_tests_per_module),
                )?;
                (
                    "rm -rf work\nmkdir work\n".to_string(),
                    format!(
                        "export BENCH_PY_SCRATCH={d}/work\nexec {} -m unittest discover -q -s tests -t .\n",
                        quote(&sources.python)
                    ),
                    format!(
                        "a unittest suite of {} tests, each making a directory and a file, listing, reading, \
                         renaming and deleting them",
                        scale.python_modules * scale.python_tests_per_module
                    ),
                )
            }
            Piece::Git => git_piece(&dir, &head, sources, scale)?,
            Piece::Copy => {
                let copies: Vec<String> = (0..scale.copies).map(|copy| format!("copy{copy}")).collect();
                let mut run = String::new();
                // A file that goes away while it is copied (a package being installed) is not a
                // failure of the piece; a copy that was not made at all is.
                for copy in &copies {
                    run.push_str(&format!(
                        "cp -R {} {copy} 2> /dev/null || [ -d {copy} ]\n",
                        quote(&sources.tree)
                    ));
                }
                run.push_str(&format!("rm -rf {}\n", copies.join(" ")));
                (
                    format!("rm -rf {}\n", copies.join(" ")),
                    run,
                    format!(
                        "`cp -R {}` {} then `rm -rf` of the copies",
                        sources.tree.display(),
                        times(scale.copies)
                    ),
                )
            }
            Piece::Read => {
                let tree = quote(&sources.tree);
                (
                    String::new(),
                    // xargs exits with 123 when a command failed on some file (one that went
                    // away since `find` listed it); 126 or 127 when it could not run one.
                    format!(
                        "status=0; find {tree} -type f -print0 | xargs -0 cat > /dev/null 2>&1 || status=$?\n\
                         [ $status -eq 0 ] || [ $status -eq 123 ]\n\
                         status=0; grep -rsn -e return -e define {tree} > /dev/null || status=$?\n\
                         [ $status -le 2 ]\n\
                         status=0; find {tree} -type f -print0 | xargs -0 wc -l > /dev/null 2>&1 || status=$?\n\
                         [ $status -eq 0 ] || [ $status -eq 123 ]\n"
                    ),
                    format!(
                        "every file under {}: `xargs cat`, `grep -rn`, `wc -l`",
                        sources.tree.display()
                    ),
                )
            }
            Piece::Processes => (
                String::new(),
                format!(
                    "i=0\nwhile [ $i -lt {} ]; do\n    /bin/true\n    /bin/echo $i > /dev/null\n    \
                     /bin/cat /etc/hostname > /dev/null\n    /bin/ls {d} > /dev/null\n    i=$((i + 1))\ndone\n",
                    scale.processes.div_ceil(4)
                ),
                format!(
                    "a `sh` loop of {} short-lived commands (`true`, `echo`, `cat`, `ls`)",
                    scale.processes.div_ceil(4) * 4
                ),
            ),
        };
        write_script(&dir.join("reset.sh"), &format!("{head}{reset}"))?;
        write_script(&dir.join("run.sh"), &format!("{head}{run}"))?;
        prepared.push(Prepared { piece, detail });
    }
    Ok(prepared)
}

/// The git commands, repeated so that one run lasts about `scale.git_seconds` with no sensor
/// (timed here, once). A clone with a single commit (or a shallow one) diffs its working tree
/// against HEAD instead of HEAD against its parent.
fn git_piece(dir: &Path, head: &str, sources: &Sources, scale: &Scale) -> Result<(String, String, String)> {
    let checkout = quote(&sources.checkout);
    let has_parent = Command::new("git")
        .args([
            "-c",
            "safe.directory=*",
            "rev-parse",
            "-q",
            "--verify",
            "HEAD~1^{commit}",
        ])
        .current_dir(&sources.checkout)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let diff = if has_parent { "diff HEAD~1 HEAD" } else { "diff HEAD" };
    let body = |count: usize| {
        format!(
            "cd {checkout}\n\
             g() {{ git -c safe.directory='*' -c core.pager=cat --no-optional-locks \"$@\" > /dev/null; }}\n\
             i=0\nwhile [ $i -lt {count} ]; do\n    g status\n    g log --stat -n 200\n    g {diff}\n    \
             g log -p -n 20\n    g grep -n -e fn -e def -e return\n    i=$((i + 1))\ndone\n"
        )
    };
    let probe = dir.join("probe.sh");
    write_script(&probe, &format!("{head}{}", body(1)))?;
    let started = Instant::now();
    let status = Command::new("sh")
        .arg(&probe)
        .stdout(Stdio::null())
        .status()
        .context("timing the git commands")?;
    if !status.success() {
        bail!("the git commands failed on {} ({status})", sources.checkout.display());
    }
    let once = started.elapsed().as_secs_f64().max(1e-3);
    let count = ((scale.git_seconds / once).round() as usize).clamp(1, 200);
    let _ = fs::remove_file(&probe);
    Ok((
        String::new(),
        body(count),
        format!("on this checkout, {count} × (`git status`, `log --stat -n 200`, `{diff}`, `log -p -n 20`, `grep -n`)"),
    ))
}

/// The real `cargo` and `rustc` of the default toolchain (not rustup's proxies, which would need
/// the bench user's HOME).
fn rust_toolchain() -> Result<(PathBuf, PathBuf)> {
    let which = |tool: &str| -> PathBuf {
        crate::cmd::output(Command::new("rustup").args(["which", tool]))
            .map(|path| PathBuf::from(path.trim()))
            .unwrap_or_else(|| PathBuf::from(tool))
    };
    let cargo = which("cargo");
    let rustc = which("rustc");
    if !cargo.is_absolute() && crate::cmd::output(Command::new(&cargo).arg("--version")).is_none() {
        bail!("no cargo on this machine");
    }
    Ok((cargo, rustc))
}

fn times(count: usize) -> &'static str {
    match count {
        1 => "once",
        2 => "twice",
        _ => "several times",
    }
}

fn write_files(dir: &Path, files: &[(String, String)]) -> Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `path` in single quotes for sh.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
