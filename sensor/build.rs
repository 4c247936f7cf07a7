//! Builds the kernel programs (`sensor-ebpf`) for `bpfel-unknown-none` with the nightly toolchain
//! and bpf-linker, and hands the object to the sensor, which embeds it.
//!
//! `cargo xtask setup` installs what this needs (nightly's rust-src, a bpf-linker that matches
//! nightly's LLVM). When something is missing, the build stops with a sentence saying so.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    if let Err(message) = embed_default_rules()
        .and_then(|()| embed_country_data())
        .and_then(|()| build())
    {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// Writes `$OUT_DIR/default_rules.rs`: the shipped rule packs (`rules/default/*.yaml`, test files
/// excluded), in name order, as `(file name, text)` pairs the binary carries.
fn embed_default_rules() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let dir = manifest_dir.join("../rules/default");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".tests."))
        .collect();
    names.sort();
    let mut code = String::from("pub static DEFAULT_PACKS: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    // The Sigma pack (rules/sigma: SigmaHQ's rules in subdirectories, its pipeline and tuning),
    // loaded beside the rules when the configuration's `sigma_pack` is on.
    let sigma = manifest_dir.join("../rules/sigma");
    println!("cargo:rerun-if-changed={}", sigma.display());
    let mut files = Vec::new();
    sigma_files(&sigma, &mut files)?;
    files.sort();
    code.push_str("pub static SIGMA_PACK: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.strip_prefix(&sigma).unwrap_or(path).display().to_string();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("default_rules.rs");
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Writes `$OUT_DIR/country_data.rs`: the registry data of the `iptocc` crate (its `v4.bin` and
/// `v6.bin`), so the sensor can list a country's networks (the crate answers single lookups
/// only). `None` when the crate's sources are not where Cargo unpacks registry crates.
fn embed_country_data() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let lock = manifest_dir.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let version = text
        .split("[[package]]")
        .find(|package| package.contains("name = \"iptocc\""))
        .and_then(|package| package.lines().find_map(|line| line.strip_prefix("version = ")))
        .map(|version| version.trim_matches('"').to_string());
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let mut found = None;
    if let (Some(version), Some(cargo_home)) = (version, cargo_home)
        && let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src"))
    {
        for registry in registries.flatten() {
            let data = registry.path().join(format!("iptocc-{version}/src/data"));
            if data.join("v4.bin").is_file() && data.join("v6.bin").is_file() {
                found = Some(data);
                break;
            }
        }
    }
    let code = match found {
        Some(data) => format!(
            "pub static IPTOCC_DATA: Option<(&[u8], &[u8])> = Some((include_bytes!({:?}), include_bytes!({:?})));\n",
            data.join("v4.bin").display().to_string(),
            data.join("v6.bin").display().to_string()
        ),
        None => {
            println!(
                "cargo:warning=iptocc's data files were not found: country allowlists cannot be compiled for the kernel"
            );
            "pub static IPTOCC_DATA: Option<(&[u8], &[u8])> = None;\n".to_string()
        }
    };
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("country_data.rs");
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// The YAML files of the Sigma pack at any depth, `tests/` and rule tests aside.
fn sigma_files(dir: &std::path::Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && name != "tests" {
            println!("cargo:rerun-if-changed={}", path.display());
            sigma_files(&path, files)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".tests.") {
            files.push(path);
        }
    }
    Ok(())
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let workspace = manifest_dir.parent().ok_or("sensor/ has no parent directory")?;
    let ebpf_dir = workspace.join("sensor-ebpf");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    for watched in [
        "sensor-ebpf/src",
        "sensor-ebpf/Cargo.toml",
        "sensor-common/src",
        "sensor-common/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=AGENT_SENSOR_TOOLS");

    let linker_dir = find_bpf_linker()?;
    let target_dir = workspace.join("target").join("ebpf");
    let mut path = OsString::from(&linker_dir);
    if let Some(old) = env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }

    let mut cargo = Command::new("rustup");
    cargo
        .args(["run", "nightly", "cargo", "build", "--release"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&ebpf_dir)
        .env("PATH", path)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Cdebuginfo=2\u{1f}-Clink-arg=--btf");
    // The outer cargo's settings must not leak into the nightly build.
    for var in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .map_err(|e| format!("could not run `rustup run nightly cargo` ({e}); run `cargo xtask setup` first"))?;
    if !status.success() {
        return Err(format!(
            "building the kernel programs in {} failed (see above); `cargo xtask setup` installs \
             nightly's rust-src and bpf-linker if they are missing",
            ebpf_dir.display()
        ));
    }
    let object = target_dir.join("bpfel-unknown-none/release/sensor-ebpf");
    std::fs::copy(&object, out_dir.join("sensor-ebpf.o"))
        .map_err(|e| format!("copying {} failed: {e}", object.display()))?;
    Ok(())
}

/// The directory holding `bpf-linker`: `$AGENT_SENSOR_TOOLS/bpf-linker/bin` (default
/// `~/.cache/agent-sensor`, where `cargo xtask setup` installs it), else anywhere on `PATH`.
fn find_bpf_linker() -> Result<PathBuf, String> {
    let tools = env::var_os("AGENT_SENSOR_TOOLS")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cache/agent-sensor")));
    if let Some(dir) = tools.map(|tools| tools.join("bpf-linker/bin"))
        && dir.join("bpf-linker").is_file()
    {
        return Ok(dir);
    }
    if let Some(path) = env::var_os("PATH") {
        for dir in env::split_paths(&path) {
            if dir.join("bpf-linker").is_file() {
                return Ok(dir);
            }
        }
    }
    Err("bpf-linker was not found; run `cargo xtask setup` (it builds bpf-linker against nightly's LLVM)".into())
}
