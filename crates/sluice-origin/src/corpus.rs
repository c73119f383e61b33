//! The publisher corpus: `pages/*.html` plus `pages.tsv`, loaded once, with
//! each page's encoded variants computed on first use and cached.
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
            let digest = Sha256::digest(&bytes);
            let tag = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let page = Page {
                origin_host: hosts.get(&name).cloned(),
                name: name.clone(),
                bytes: Bytes::from(bytes),
                tag,
            };
            corpus.order.push(name.clone());
            corpus.pages.insert(name, Arc::new(page));
        }
        log::info!(
            "corpus: {} pages from {}",
            corpus.order.len(),
            dir.display()
        );
        corpus
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
