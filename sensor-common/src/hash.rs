//! The hash the kernel uses to look up program names: agent profiles at exec (`EXEC_NAMES`) and
//! spawner programs at a unix connect (`SPAWNERS`).
//!
//! Userspace hashes each name with the same function and stores the hash in the map; the kernel
//! hashes the base name of the executed file (or of the listener's executable) and looks it up.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Starts a 64-bit FNV-1a hash.
pub const fn fnv1a_start() -> u64 {
    FNV_OFFSET
}

/// Feeds one byte to a 64-bit FNV-1a hash.
#[inline(always)]
pub const fn fnv1a_step(hash: u64, byte: u8) -> u64 {
    (hash ^ byte as u64).wrapping_mul(FNV_PRIME)
}

/// 64-bit FNV-1a of `bytes`.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = fnv1a_start();
    let mut i = 0;
    while i < bytes.len() {
        hash = fnv1a_step(hash, bytes[i]);
        i += 1;
    }
    hash
}

/// How many bytes of an executable's base name [`name_words_hash`] reads.
pub const NAME_WORD_BYTES: usize = 16;

/// FNV-1a of a name given as its first 16 bytes in two little-endian words, up to its first NUL:
/// what the kernel can read of a dentry's name in two loads. Names of 16 bytes and more hash
/// their first 16.
#[inline(always)]
pub const fn name_words_hash(head: u64, tail: u64) -> u64 {
    let mut hash = fnv1a_start();
    let mut i = 0;
    while i < NAME_WORD_BYTES {
        let word = if i < 8 { head } else { tail };
        let byte = (word >> ((i % 8) * 8)) as u8;
        if byte == 0 {
            break;
        }
        hash = fnv1a_step(hash, byte);
        i += 1;
    }
    hash
}

/// [`name_words_hash`] of `name`, as userspace stores it.
pub fn name_hash(name: &[u8]) -> u64 {
    let mut bytes = [0u8; NAME_WORD_BYTES];
    let len = name.len().min(NAME_WORD_BYTES);
    bytes[..len].copy_from_slice(&name[..len]);
    let (head, tail) = bytes.split_at(8);
    let word = |part: &[u8]| part.try_into().map_or(0, u64::from_le_bytes);
    name_words_hash(word(head), word(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_hashes_as_its_bytes_and_a_long_one_as_its_first_sixteen() {
        assert_eq!(name_hash(b"tmux"), fnv1a(b"tmux"));
        assert_eq!(name_hash(b"systemd"), fnv1a(b"systemd"));
        assert_eq!(name_hash(b"exactly-8"), fnv1a(b"exactly-8"));
        assert_eq!(name_hash(b"fifteen-bytes-x"), fnv1a(b"fifteen-bytes-x"));
        assert_eq!(name_hash(b"a-name-of-twenty-bytes"), fnv1a(b"a-name-of-twenty"));
        // What the kernel reads past the NUL does not count.
        let head = u64::from_le_bytes(*b"tmux\0xyz");
        assert_eq!(name_words_hash(head, u64::MAX), fnv1a(b"tmux"));
        assert_ne!(name_hash(b"tmux"), name_hash(b"tmuxx"));
    }
}
