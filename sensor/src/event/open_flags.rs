//! Open flags: their names, and whether an open reads, writes or creates.

/// The access an open asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn of(flags: u32) -> Self {
        match flags as i32 & libc::O_ACCMODE {
            libc::O_WRONLY => Self::Write,
            libc::O_RDWR => Self::ReadWrite,
            _ => Self::Read,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::ReadWrite => "read-write",
        }
    }

    pub fn writes(self) -> bool {
        !matches!(self, Self::Read)
    }
}

/// True when the open can change the file: write access, or creation or truncation.
pub fn is_write(flags: u32) -> bool {
    let flags_i = flags as i32;
    Access::of(flags).writes() || flags_i & (libc::O_CREAT | libc::O_TRUNC) != 0
}

/// True when the open may create the file (and its mode argument matters).
pub fn creates(flags: u32) -> bool {
    let flags = flags as i32;
    flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE
}

const NAMED: &[(i32, &str)] = &[
    (libc::O_CREAT, "O_CREAT"),
    (libc::O_EXCL, "O_EXCL"),
    (libc::O_NOCTTY, "O_NOCTTY"),
    (libc::O_TRUNC, "O_TRUNC"),
    (libc::O_APPEND, "O_APPEND"),
    (libc::O_NONBLOCK, "O_NONBLOCK"),
    (libc::O_DSYNC, "O_DSYNC"),
    (libc::O_DIRECT, "O_DIRECT"),
    (libc::O_LARGEFILE, "O_LARGEFILE"),
    (libc::O_DIRECTORY, "O_DIRECTORY"),
    (libc::O_NOFOLLOW, "O_NOFOLLOW"),
    (libc::O_NOATIME, "O_NOATIME"),
    (libc::O_CLOEXEC, "O_CLOEXEC"),
    (libc::O_PATH, "O_PATH"),
    (libc::O_TMPFILE, "O_TMPFILE"),
];

/// `["O_WRONLY", "O_CREAT", …]`; the access mode always comes first.
#[cfg(test)]
pub fn names(flags: u32) -> Vec<&'static str> {
    each_name(flags).collect()
}

/// The names of [`names`], one by one (the event line writes them without collecting them).
pub fn each_name(flags: u32) -> impl Iterator<Item = &'static str> {
    let flags = flags as i32;
    let access = match flags & libc::O_ACCMODE {
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    };
    // O_TMPFILE includes O_DIRECTORY, O_SYNC includes O_DSYNC: require every bit.
    let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
    let bits = NAMED.iter().filter_map(move |&(bit, name)| {
        let set = bit != 0 && flags & bit == bit;
        (set && !(tmpfile && bit == libc::O_DIRECTORY)).then_some(name)
    });
    std::iter::once(access).chain(bits)
}

/// One open flag test: the access mode (not a bit) or a set of bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagTest {
    AccessMode(u32),
    Bits(u32),
}

impl FlagTest {
    pub fn holds(self, flags: u32) -> bool {
        match self {
            Self::AccessMode(mode) => flags & libc::O_ACCMODE as u32 == mode,
            Self::Bits(bits) => flags & bits == bits,
        }
    }
}

/// The names rules may use for open flags.
pub fn flag_test(name: &str) -> Option<FlagTest> {
    Some(match name {
        "O_RDONLY" => FlagTest::AccessMode(libc::O_RDONLY as u32),
        "O_WRONLY" => FlagTest::AccessMode(libc::O_WRONLY as u32),
        "O_RDWR" => FlagTest::AccessMode(libc::O_RDWR as u32),
        "O_CREAT" => FlagTest::Bits(libc::O_CREAT as u32),
        "O_EXCL" => FlagTest::Bits(libc::O_EXCL as u32),
        "O_NOCTTY" => FlagTest::Bits(libc::O_NOCTTY as u32),
        "O_TRUNC" => FlagTest::Bits(libc::O_TRUNC as u32),
        "O_APPEND" => FlagTest::Bits(libc::O_APPEND as u32),
        "O_NONBLOCK" => FlagTest::Bits(libc::O_NONBLOCK as u32),
        "O_DSYNC" => FlagTest::Bits(libc::O_DSYNC as u32),
        "O_SYNC" => FlagTest::Bits(libc::O_SYNC as u32),
        "O_DIRECT" => FlagTest::Bits(libc::O_DIRECT as u32),
        "O_DIRECTORY" => FlagTest::Bits(libc::O_DIRECTORY as u32),
        "O_NOFOLLOW" => FlagTest::Bits(libc::O_NOFOLLOW as u32),
        "O_NOATIME" => FlagTest::Bits(libc::O_NOATIME as u32),
        "O_CLOEXEC" => FlagTest::Bits(libc::O_CLOEXEC as u32),
        "O_PATH" => FlagTest::Bits(libc::O_PATH as u32),
        "O_TMPFILE" => FlagTest::Bits(libc::O_TMPFILE as u32),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_and_create_are_told_apart() {
        let read = libc::O_RDONLY as u32;
        let write = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32;
        assert_eq!(Access::of(read), Access::Read);
        assert!(!is_write(read));
        assert_eq!(Access::of(write), Access::Write);
        assert!(is_write(write));
        assert!(is_write((libc::O_RDONLY | libc::O_TRUNC) as u32));
        assert_eq!(Access::of(libc::O_RDWR as u32), Access::ReadWrite);
    }

    #[test]
    fn names_flags_in_order() {
        let flags = (libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u32;
        assert_eq!(names(flags), ["O_WRONLY", "O_CREAT", "O_CLOEXEC"]);
        assert_eq!(
            names(libc::O_TMPFILE as u32 | libc::O_RDWR as u32),
            ["O_RDWR", "O_TMPFILE"]
        );
    }
}
