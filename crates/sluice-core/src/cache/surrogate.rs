//! Surrogate keys: the handles purges act on.
//!
//! Every entry gets, in this order:
//! 1. its **fill key** `sluice-fill-<32 hex>` (16 random bytes from the
//!    adapter): unique to this one insert, so a fill that breaks can be
//!    purged alone (Viceroy keeps an abandoned insert as a HIT whose body
//!    errors until it expires; see docs/ARCHITECTURE.md);
//! 2. its **path key** `sluice-path-<32 hex>`: the first 16 bytes of
//!    SHA-256 of the path (query excluded), so one page can be purged
//!    across every host, coding, query and variant it is cached under;
//! 3. the origin's `Surrogate-Key` keys, in order, de-duplicated.
//!
//! Limits are Fastly's (VCL constraints, and the same numbers enforced by
//! Viceroy): a key is 1..=1024 bytes of visible ASCII (0x21..=0x7E); only
//! keys entirely within the first 16 KiB of the space-joined list apply.
//! Viceroy fails the whole insert on one bad key, so bad origin keys are
//! dropped here, and so are origin keys in sluice's own `sluice-`
//! namespace (an origin must not be able to name another entry's fill
//! key). Sluice's two keys come first so they always fit.

use sha2::{Digest, Sha256};

/// Longest key.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest space-joined key list.
pub const MAX_LIST_BYTES: usize = 16 * 1024;
/// Prefix reserved for keys sluice makes.
pub const RESERVED_PREFIX: &str = "sluice-";

/// True for a key Fastly accepts: 1..=1024 bytes of visible ASCII.
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The key of one page: `sluice-path-` and the first 16 bytes of
/// SHA-256 of the path, in hex. Anything from `?` on is ignored, so a
/// page's query variants share it. The path is taken as received (no
/// percent-decoding): `/a%20b` and `/a b` are different pages to the
/// origin too.
pub fn path_key(path: &str) -> String {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let digest = Sha256::digest(path.as_bytes());
    format!("{RESERVED_PREFIX}path-{}", hex::encode(&digest[..16]))
}

/// The unique key of one insert, from 16 random bytes.
pub fn fill_key(random: [u8; 16]) -> String {
    format!("{RESERVED_PREFIX}fill-{}", hex::encode(random))
}

/// The keys to pass to `surrogate_keys` on insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKeys {
    keys: Vec<String>,
    /// Origin keys left out (invalid, reserved, or past the list limit),
    /// for the access log.
    pub dropped: usize,
}

impl EntryKeys {
    /// The fill key, the path key, then the origin's `Surrogate-Key`
    /// field lines (space-separated keys).
    pub fn new(fill_key: &str, path: &str, origin: &[&str]) -> Self {
        let mut keys = vec![fill_key.to_owned(), path_key(path)];
        let mut joined = keys.iter().map(String::len).sum::<usize>() + keys.len() - 1;
        let mut dropped = 0;
        for key in origin.iter().flat_map(|v| v.split([' ', '\t'])) {
            if key.is_empty() || keys.iter().any(|k| k == key) {
                continue;
            }
            if !is_valid_key(key)
                || key.starts_with(RESERVED_PREFIX)
                || joined + 1 + key.len() > MAX_LIST_BYTES
            {
                dropped += 1;
                continue;
            }
            joined += 1 + key.len();
            keys.push(key.to_owned());
        }
        Self { keys, dropped }
    }

    /// The keys, fill key first.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FILL: &str = "sluice-fill-000102030405060708090a0b0c0d0e0f";

    #[test]
    fn fill_and_path_keys() {
        assert_eq!(fill_key(core::array::from_fn(|i| i as u8)), FILL);
        // printf %s /news/a | sha256sum → first 32 hex digits.
        let k = path_key("/news/a");
        assert_eq!(k.len(), "sluice-path-".len() + 32);
        assert_eq!(k, path_key("/news/a?utm=x"));
        assert_ne!(k, path_key("/news/a/"));
        assert_ne!(k, path_key("/news/b"));
        assert!(is_valid_key(&k) && is_valid_key(FILL));
        assert_eq!(
            path_key(""),
            "sluice-path-e3b0c44298fc1c149afbf4c8996fb924",
            "SHA-256 of the empty string"
        );
    }

    #[test]
    fn origin_keys_are_filtered_and_ordered() {
        let long = "k".repeat(1025);
        let origin = [
            "article-1  section-news",
            "article-1\tbad\u{e9}key",
            long.as_str(),
            "sluice-fill-ffff sluice-path-x ok",
        ];
        let keys = EntryKeys::new(FILL, "/a", &origin);
        let got: Vec<&str> = keys.keys().collect();
        assert_eq!(
            got,
            [FILL, &path_key("/a"), "article-1", "section-news", "ok"]
        );
        assert_eq!(keys.dropped, 4);
    }

    #[test]
    fn the_list_stays_within_16_kib() {
        let many: Vec<String> = (0..200).map(|i| format!("{i:0>100}")).collect();
        let line = many.join(" ");
        let keys = EntryKeys::new(FILL, "/", &[line.as_str()]);
        let joined: usize = keys.keys().map(|k| k.len() + 1).sum::<usize>() - 1;
        assert!(joined <= MAX_LIST_BYTES);
        assert!(joined > MAX_LIST_BYTES - 102, "fills up to the limit");
        assert_eq!(keys.keys().count() - 2 + keys.dropped, 200);
    }

    proptest! {
        #[test]
        fn every_kept_key_is_valid(lines in proptest::collection::vec(".{0,80}", 0..4)) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let keys = EntryKeys::new(FILL, "/p", &lines);
            let all: Vec<&str> = keys.keys().collect();
            prop_assert!(all.iter().all(|k| is_valid_key(k)));
            let mut dedup = all.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), all.len());
            prop_assert!(all.iter().skip(2).all(|k| !k.starts_with(RESERVED_PREFIX)));
        }
    }
}
