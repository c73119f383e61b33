//! The publisher corpus: `pages/*.html` plus `pages.tsv`, loaded once, with
//! each page's encoded variants computed on first use and cached. Two
//! pages of the origin's own are added ([`FIXTURES`]): the corpus has no
//! page in a legacy single-byte or Japanese encoding, and the edge must
//! keep such bytes exact.
//!
//! Memory: the corpus (about 25 MiB) plus at most one cached copy per page
//! and encoding; nothing grows with traffic.

use crate::encode::{encode_all, Encoding};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One corpus page.
#[derive(Debug)]
pub struct Page {
    /// File name, e.g. `aclu.html`.
    pub name: String,
    /// The identity bytes.
    pub bytes: Bytes,
    /// `origin_host` from pages.tsv, when it names one.
    pub origin_host: Option<String>,
    /// First 16 hex digits of the SHA-256 of `bytes`, for strong ETags.
    pub tag: String,
    /// The charset the page declares in a `<meta>` tag near its start
    /// (lower-case), `utf-8` when it declares none: what its
    /// `Content-Type` says, as a real server configured for it would.
    pub charset: String,
}

/// The origin's own pages, served beside the corpus under `/pages/`: a
/// windows-1252 (Latin-1) page and a Shift_JIS page, whose bytes (accented
/// letters, `\` as the second byte of many kanji) must come through the
/// edge unchanged apart from the rewritten URLs. Their links point at
/// `origin.example`.
pub const FIXTURES: [(&str, &[u8]); 2] = [
    ("latin1.html", include_bytes!("../fixtures/latin1.html")),
    (
        "shift_jis.html",
        include_bytes!("../fixtures/shift_jis.html"),
    ),
];

/// How far into a page a `<meta>` charset is looked for: the 1024 bytes
/// HTML's encoding prescan reads.
const PRESCAN_BYTES: usize = 1024;

/// The charset label a page declares in a `<meta charset=...>` or
/// `<meta http-equiv="Content-Type" content="...; charset=...">` within its
/// first 1024 bytes (lower-case), if any. A plain substring search, not a
/// parser: the corpus and fixtures are known pages, and this only picks the
/// label the origin puts in `Content-Type`.
pub fn declared_charset(page: &[u8]) -> Option<String> {
    let head = page
        .get(..PRESCAN_BYTES)
        .unwrap_or(page)
        .to_ascii_lowercase();
    let mut rest = head.as_slice();
    while let Some(at) = find(rest, b"<meta") {
        let tag = &rest[at..];
        let tag = &tag[..find(tag, b">").unwrap_or(tag.len())];
        if let Some(c) = find(tag, b"charset=") {
            let value = &tag[c + b"charset=".len()..];
            let value = value
                .strip_prefix(b"\"")
                .or_else(|| value.strip_prefix(b"'"))
                .unwrap_or(value);
            let label: Vec<u8> = value
                .iter()
                .copied()
                .take_while(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
                .collect();
            if !label.is_empty() {
                return String::from_utf8(label).ok();
            }
        }
        rest = &rest[at + 1..];
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// All pages, by name, in pages.tsv order.
#[derive(Debug, Default)]
pub struct Corpus {
    pages: HashMap<String, Arc<Page>>,
    order: Vec<String>,
    encoded: Mutex<HashMap<(String, Encoding), Bytes>>,
}

impl Corpus {
    /// Loads `dir/pages/*.html` and the hosts from `dir/pages.tsv`. A
    /// missing or unreadable corpus is logged and yields an empty corpus:
    /// the other routes still work.
    pub fn load(dir: &Path) -> Self {
        let mut corpus = Self::default();
        let hosts = read_hosts(&dir.join("pages.tsv"));
        let entries = match std::fs::read_dir(dir.join("pages")) {
            Ok(e) => e,
            Err(e) => {
                log::warn!("corpus {} not loaded: {e}", dir.display());
                corpus.add_fixtures();
                return corpus;
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".html"))
            .collect();
        names.sort();
        for name in names {
            let bytes = match std::fs::read(dir.join("pages").join(&name)) {
                Ok(b) => b,
                Err(e) => {
                    log::warn!("corpus page {name} skipped: {e}");
                    continue;
                }
            };
            let host = hosts.get(&name).cloned();
            corpus.add(name, bytes, host);
        }
        log::info!(
            "corpus: {} pages from {}",
            corpus.order.len(),
            dir.display()
        );
        corpus.add_fixtures();
        corpus
    }

    /// Adds the origin's own pages ([`FIXTURES`]), unless the corpus has
    /// pages of the same names.
    fn add_fixtures(&mut self) {
        for (name, bytes) in FIXTURES {
            if !self.pages.contains_key(name) {
                self.add(
                    name.to_owned(),
                    bytes.to_vec(),
                    Some("origin.example".to_owned()),
                );
            }
        }
    }

    fn add(&mut self, name: String, bytes: Vec<u8>, origin_host: Option<String>) {
        let digest = Sha256::digest(&bytes);
        let tag = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let page = Page {
            charset: declared_charset(&bytes).unwrap_or_else(|| "utf-8".to_owned()),
            origin_host,
            name: name.clone(),
            bytes: Bytes::from(bytes),
            tag,
        };
        self.order.push(name.clone());
        self.pages.insert(name, Arc::new(page));
    }

    /// A page by file name.
    pub fn get(&self, name: &str) -> Option<Arc<Page>> {
        self.pages.get(name).cloned()
    }

    /// Every page, sorted by name.
    pub fn pages(&self) -> impl Iterator<Item = &Arc<Page>> {
        self.order.iter().filter_map(|n| self.pages.get(n))
    }

    /// The page's body in `enc`, computed off the async runtime on first use.
    pub async fn encoded(&self, page: &Arc<Page>, enc: Encoding) -> io::Result<Bytes> {
        if enc == Encoding::Identity {
            return Ok(page.bytes.clone());
        }
        let key = (page.name.clone(), enc);
        if let Some(b) = self.lock().get(&key) {
            return Ok(b.clone());
        }
        let src = page.bytes.clone();
        let out = tokio::task::spawn_blocking(move || encode_all(enc, &src))
            .await
            .map_err(io::Error::other)??;
        let out = Bytes::from(out);
        self.lock().insert(key, out.clone());
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Encoding), Bytes>> {
        match self.encoded.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

fn read_hosts(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next()?;
            let host = cols.nth(1)?;
            (host != "-" && !host.is_empty()).then(|| (name.to_owned(), host.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_charset_is_read_from_a_meta_tag() {
        let cases: [(&[u8], Option<&str>); 8] = [
            (b"<meta charset=\"Shift_JIS\">", Some("shift_jis")),
            (b"<head><META CHARSET=utf-8><title>", Some("utf-8")),
            (
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\" />",
                Some("gb2312"),
            ),
            (b"<meta charset='iso-8859-1'>", Some("iso-8859-1")),
            (b"<meta name=x><meta charset=euc-jp>", Some("euc-jp")),
            (b"<script charset=\"utf-8\"></script>", None),
            (
                b"<meta name=\"description\" content=\"x\">charset=utf-8",
                None,
            ),
            (b"<p>no declaration</p>", None),
        ];
        for (page, want) in cases {
            assert_eq!(
                declared_charset(page).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(page)
            );
        }
        // Beyond the prescan window a declaration does not count.
        let late = [vec![b' '; PRESCAN_BYTES], b"<meta charset=gbk>".to_vec()].concat();
        assert_eq!(declared_charset(&late), None);
    }

    #[test]
    fn the_fixtures_declare_their_encodings() {
        let charsets: Vec<Option<String>> =
            FIXTURES.iter().map(|(_, b)| declared_charset(b)).collect();
        assert_eq!(
            charsets,
            [Some("iso-8859-1".to_owned()), Some("shift_jis".to_owned())]
        );
    }
}
