//! `file.*`: the file, and what changed about it.

use super::*;

#[derive(Serialize)]
pub(super) struct FileFields<'a> {
    pub(super) path: &'a str,
    pub(super) name: &'a str,
    pub(super) directory: &'a str,
    /// The inode and device the kernel saw (ECS keywords).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) inode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) device: Option<String>,
    /// A symbolic link's target, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) target_path: Option<&'a str>,
    /// chmod's new mode, chown's new owner (octal, numeric ids: ECS keywords).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gid: Option<String>,
}

impl<'a> FileFields<'a> {
    pub(super) fn of(file: &'a crate::event::FileDetail) -> Self {
        use crate::event::FileChange as C;
        let identity = file.identity.filter(|identity| identity.ino != 0);
        let mut fields = Self {
            path: &file.path,
            name: file.name(),
            directory: file.directory(),
            inode: identity.map(|identity| identity.ino.to_string()),
            device: identity.map(|identity| format!("{}:{}", identity.dev >> 20, identity.dev & 0xfffff)),
            target_path: None,
            mode: None,
            uid: None,
            gid: None,
        };
        match &file.change {
            C::Symlink { target } => fields.target_path = Some(target),
            C::Chmod { mode } | C::Mkdir { mode } => fields.mode = Some(format!("{:04o}", mode & 0o7777)),
            C::Chown { uid, gid } => {
                fields.uid = uid.map(|uid| uid.to_string());
                fields.gid = gid.map(|gid| gid.to_string());
            }
            _ => {}
        }
        fields
    }
}

/// `agent_sensor.file`: what a file operation did beyond its path.
#[derive(Serialize, Default)]
pub(super) struct FileChangeFields<'a> {
    /// A rename's or hard link's old name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) original: Option<OriginalPath<'a>>,
    /// An open that created the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) truncate_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) xattr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mount: Option<MountFields<'a>>,
}

#[derive(Serialize)]
pub(super) struct OriginalPath<'a> {
    pub(super) path: &'a str,
}

#[derive(Serialize)]
pub(super) struct MountFields<'a> {
    pub(super) source: &'a str,
    pub(super) fstype: &'a str,
    pub(super) flags: u64,
}

impl<'a> FileChangeFields<'a> {
    pub(super) fn of(change: &'a crate::event::FileChange) -> Option<Self> {
        use crate::event::FileChange as C;
        let mut fields = Self::default();
        match change {
            C::From { original } => fields.original = Some(OriginalPath { path: original }),
            C::Created => fields.created = true,
            C::Truncate { length } => fields.truncate_length = Some(*length),
            C::Xattr { name } => fields.xattr = Some(name),
            C::Mount { source, fstype, flags } => {
                fields.mount = Some(MountFields {
                    source,
                    fstype,
                    flags: *flags,
                })
            }
            _ => return None,
        }
        Some(fields)
    }
}

/// `file.*` into the line, as [`FileFields`] serializes it.
pub(super) fn write(line: &mut Line, file: &crate::event::FileDetail) {
    use crate::event::FileChange as C;
    line.field(br#","file":{"path":"#, &file.path);
    line.field(br#","name":"#, file.name());
    line.field(br#","directory":"#, file.directory());
    if let Some(identity) = file.identity.filter(|identity| identity.ino != 0) {
        line.raw(br#","inode":""#);
        line.int(identity.ino);
        line.raw(br#"","device":""#);
        line.int(identity.dev >> 20);
        line.raw(b":");
        line.int(identity.dev & 0xfffff);
        line.raw(b"\"");
    }
    match &file.change {
        C::Symlink { target } => line.field(br#","target_path":"#, target),
        C::Chmod { mode } | C::Mkdir { mode } => {
            line.raw(br#","mode":""#);
            line.raw(&super::line::octal4(mode & 0o7777));
            line.raw(b"\"");
        }
        C::Chown { uid, gid } => {
            for (key, id) in [(br#","uid":""#, uid), (br#","gid":""#, gid)] {
                if let Some(id) = id {
                    line.raw(key);
                    line.int(*id);
                    line.raw(b"\"");
                }
            }
        }
        _ => {}
    }
    line.raw(b"}");
}

/// `agent_sensor.file` into the line, as [`FileChangeFields`] serializes it.
pub(super) fn write_change(line: &mut Line, change: &crate::event::FileChange) {
    use crate::event::FileChange as C;
    match change {
        C::From { original } => {
            line.field(br#","file":{"original":{"path":"#, original);
            line.raw(b"}}");
        }
        C::Created => line.raw(br#","file":{"created":true}"#),
        C::Truncate { length } => {
            line.raw(br#","file":{"truncate_length":"#);
            line.int(*length);
            line.raw(b"}");
        }
        C::Xattr { name } => {
            line.field(br#","file":{"xattr":"#, name);
            line.raw(b"}");
        }
        C::Mount { source, fstype, flags } => {
            line.field(br#","file":{"mount":{"source":"#, source);
            line.field(br#","fstype":"#, fstype);
            line.raw(br#","flags":"#);
            line.int(*flags);
            line.raw(b"}}");
        }
        _ => {}
    }
}
