//! Fixture homes, projects and system roots for the inventory tests, built in temporary
//! directories. Keys are fake and assembled at run time, so no key-shaped literal sits in the
//! source.
#![allow(dead_code)]

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use agent_sensor::inventory::{self, Report, ScanOptions, homes};

pub struct Fixture {
    dir: tempfile::TempDir,
    pub advisories: Option<PathBuf>,
    pub prefixes: Vec<PathBuf>,
}

/// A fake key: the provider's marker and filler of the right length.
pub fn fake_key(marker: &str, len: usize) -> String {
    let filler: String = "Xq7Z".chars().cycle().take(len).collect();
    format!("{marker}{filler}")
}

pub fn anthropic_key() -> String {
    fake_key("sk-ant-api03-", 80)
}

pub fn openai_key() -> String {
    fake_key("sk-proj-", 48)
}

pub fn google_key() -> String {
    fake_key("AIza", 35)
}

pub fn github_key() -> String {
    fake_key("ghp_", 36)
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "project", "root"] {
            fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        fs::set_permissions(dir.path().join("home"), fs::Permissions::from_mode(0o700)).expect("chmod");
        Self {
            dir,
            advisories: None,
            prefixes: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `~/x` in the home, `p/x` in the project, `/x` under the system root, else under the
    /// fixture's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        if let Some(rest) = name.strip_prefix("~/") {
            self.home().join(rest)
        } else if let Some(rest) = name.strip_prefix("p/") {
            self.project().join(rest)
        } else if let Some(rest) = name.strip_prefix('/') {
            self.root().join(rest)
        } else {
            self.dir.path().join(name)
        }
    }

    pub fn put(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
        path
    }

    pub fn chmod(&self, name: &str, mode: u32) {
        fs::set_permissions(self.path(name), fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn options(&self) -> ScanOptions {
        ScanOptions {
            homes: vec![homes::of_dir(&self.home()).expect("home")],
            projects: vec![self.project()],
            system_root: self.root(),
            npm_prefixes: self.prefixes.clone(),
            allow_hosts: Vec::new(),
            codex_home: None,
            advisories: self.advisories.clone(),
        }
    }

    pub fn scan(&self) -> Report {
        inventory::scan(&self.options(), &mut |_| {})
    }

    pub fn ids(&self) -> Vec<&'static str> {
        self.scan().ids()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
