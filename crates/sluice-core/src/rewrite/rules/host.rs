//! One rewrite host and the ASCII case-insensitive test of whether a
//! buffer starts with it.
//!
//! WHY not `<[u8]>::eq_ignore_ascii_case`: it compares a byte at a time,
//! and the matcher compares a host at every authority marker whose next
//! byte could start one (`//www.` starts most hosts and many other URLs):
//! about 100 instructions a marker on the corpus. Comparing eight bytes at
//! a time under a mask gives the same answer in a few.

/// A rewrite host, lower-cased, with its 8-byte comparison words.
#[derive(Debug)]
pub(super) struct HostRule {
    /// Lower-cased `host` or `host:port`.
    pub(super) bytes: Vec<u8>,
    pub(super) has_port: bool,
    /// For a host of at least 8 bytes: `(offset, word, mask)` for the
    /// 8-byte windows at 0, 8, 16, ... and at `len - 8` (overlapping the
    /// one before), so every byte lies in a window. `word` holds the
    /// host's bytes (little-endian), `mask` 0x20 at its letters: a byte
    /// `b` matches a lower-case letter `h` case-insensitively exactly when
    /// `b | 0x20 == h`, and any other byte `h` exactly when `b == h`.
    words: Vec<(usize, u64, u64)>,
}

impl HostRule {
    /// `bytes` must be lower-cased.
    pub(super) fn new(bytes: Vec<u8>, has_port: bool) -> Self {
        let len = bytes.len();
        let mut words = Vec::new();
        if len >= 8 {
            let offsets = (0..len - 8).step_by(8).chain([len - 8]);
            for off in offsets {
                let window = &bytes[off..off + 8];
                let mask = window.iter().rev().fold(0u64, |m, &b| {
                    m << 8 | if b.is_ascii_lowercase() { 0x20 } else { 0 }
                });
                words.push((off, load(window), mask));
            }
        }
        Self {
            bytes,
            has_port,
            words,
        }
    }

    /// Does `rest` start with the host (ASCII case-insensitively)?
    #[inline]
    pub(super) fn starts(&self, rest: &[u8]) -> bool {
        let Some(head) = rest.get(..self.bytes.len()) else {
            return false;
        };
        if self.words.is_empty() {
            return head.eq_ignore_ascii_case(&self.bytes);
        }
        self.words.iter().all(|&(off, word, mask)| {
            head.get(off..off + 8)
                .is_some_and(|w| load(w) | mask == word)
        })
    }
}

/// Eight bytes as a little-endian word (`w` is 8 bytes long).
#[inline]
fn load(w: &[u8]) -> u64 {
    <[u8; 8]>::try_from(w).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of hosts of 8 to 17 bytes (one
    /// window, whole windows, overlapping windows) and a short one: the
    /// word compare says what `eq_ignore_ascii_case` says.
    #[test]
    fn starts_agrees_with_eq_ignore_ascii_case() {
        for host in [
            "a-b.c_d9",
            "origin.example",
            "www.origin.ex:8080",
            "abcdefgh.ijklmnop",
            "o.e",
        ] {
            let rule = HostRule::new(host.as_bytes().to_vec(), host.contains(':'));
            for k in 0..host.len() {
                for b in 0..=255u8 {
                    let mut rest = host.as_bytes().to_vec();
                    rest[k] = b;
                    rest.extend_from_slice(b"/x");
                    let want = rest[..host.len()].eq_ignore_ascii_case(host.as_bytes());
                    assert_eq!(rule.starts(&rest), want, "{host} byte {k} = {b:#x}");
                }
            }
            let upper = host.to_ascii_uppercase();
            assert!(rule.starts(upper.as_bytes()), "{host}");
            assert!(!rule.starts(&host.as_bytes()[..host.len() - 1]), "{host}");
        }
    }
}
