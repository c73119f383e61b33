//! Filling the cache on a miss: the sink's committer that inserts the
//! entry at the first byte and streams it back to the client, so the
//! client (and every collapsed follower) reads the entry while the
//! pipeline writes it. A fault abandons the insert and purges the entry's
//! unique fill key, so a broken body never poisons the key.

use std::io::{self, Write};

use super::fill_body::FillBody;
use std::time::Duration;

use fastly::cache::core::{Found, Transaction};
use fastly::http::body::StreamingBody;
use fastly::http::header::CONTENT_LENGTH;
use fastly::http::purge::purge_surrogate_key;
use fastly::http::{FramingHeadersMode, HeaderName, HeaderValue};
use fastly::Response;
use sluice_core::cache::fill::FillBudget;
use sluice_core::cache::stored_head::{self, StoredHead};
use sluice_core::cache::surrogate::{self, EntryKeys};
use sluice_core::cache::{NotStored, Store};
use sluice_core::sink::Commit;

/// A miss this request fills (or, if the answer may not be stored, marks
/// as hit-for-pass).
pub struct Fill {
    txn: Transaction,
    /// The stale entry and its head, when the origin's failure may be
    /// answered with it (stale-if-error).
    pub stale: Option<(Found, StoredHead)>,
}

impl Fill {
    /// A fill for an obligated transaction.
    pub fn new(txn: Transaction, stale: Option<(Found, StoredHead)>) -> Self {
        Self { txn, stale }
    }

    /// The answer may not be stored. A marker (when the reason allows one)
    /// lets waiting and later requests go to the origin at once instead of
    /// queueing behind each other's fetches.
    pub fn pass(self, reason: NotStored, marker_ttl: Duration) {
        if !reason.hit_for_pass() || marker_ttl.is_zero() {
            let _ = self.txn.cancel_insert_or_update();
            return;
        }
        let meta = stored_head::encode_pass(reason).into();
        let marker = self.txn.insert(marker_ttl).user_metadata(meta).execute();
        if let Err(e) = marker
            .map_err(io::Error::other)
            .and_then(StreamingBody::finish)
        {
            log::warn!("hit-for-pass marker not stored: {e}");
        }
    }

    /// The answer will be stored: the committer for the client sink.
    pub fn store(
        self,
        store: Store,
        path: &str,
        origin_keys: &[&str],
        budget: FillBudget,
    ) -> Inserter {
        let mut random = [0u8; 16];
        let fill_key = match getrandom::fill(&mut random) {
            Ok(()) => surrogate::fill_key(random),
            // Without a unique key a broken fill could not be purged
            // alone: the path key still removes it (and its siblings).
            Err(_) => surrogate::path_key(path),
        };
        let keys = EntryKeys::new(&fill_key, path, origin_keys);
        Inserter {
            txn: Some(self.txn),
            store,
            keys,
            fill_key,
            budget,
            decorate: None,
            known_length: None,
        }
    }
}

/// Adds the client's own part to the head it is sent.
pub type Decorate = Box<dyn FnOnce(&mut Response)>;

/// Inserts the entry at commit and streams it back to the client.
pub struct Inserter {
    txn: Option<Transaction>,
    store: Store,
    keys: EntryKeys,
    fill_key: String,
    budget: FillBudget,
    decorate: Option<Decorate>,
    known_length: Option<u64>,
}

impl Inserter {
    /// Adds the client's own part (its cookie, `X-Cache`) to the head it
    /// is sent, never to the stored one.
    pub fn decorating(mut self, decorate: Decorate) -> Self {
        self.decorate = Some(decorate);
        self
    }

    /// Sends `head` straight to the client, uncached.
    fn direct(&mut self, mut head: Response) -> FillBody {
        if let Some(decorate) = self.decorate.take() {
            decorate(&mut head);
        }
        FillBody {
            body: head.stream_to_client(),
            budget: None,
            cached: false,
        }
    }

    fn purge(&self) {
        if let Err(e) = purge_surrogate_key(&self.fill_key) {
            log::error!("purging the fill key {} failed: {e:?}", self.fill_key);
        }
    }
}

impl Commit for Inserter {
    type Head = Response;
    type Body = FillBody;

    fn status(head: &Response) -> u16 {
        head.get_status().as_u16()
    }

    fn open(&mut self, head: Response) -> io::Result<FillBody> {
        let Some(txn) = self.txn.take() else {
            return Ok(self.direct(head));
        };
        let headers: Vec<(&str, &[u8])> = head
            .get_headers()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let status = head.get_status().as_u16();
        let meta = StoredHead::from_response(status, headers, &self.store, &self.fill_key)
            .and_then(|h| h.encode());
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                log::warn!("response head not storable ({e}); streaming uncached");
                drop(txn);
                return Ok(self.direct(head));
            }
        };
        let vary: Vec<HeaderName> = (self.store.vary.names().iter())
            .filter_map(|n| n.parse().ok())
            .collect();
        let mut insert = txn
            .insert(self.store.ttl)
            .initial_age(self.store.initial_age)
            .stale_while_revalidate(self.store.core_stale_window())
            .surrogate_keys(self.keys.keys())
            .user_metadata(meta.into());
        if !vary.is_empty() {
            insert = insert.vary_by(&vary);
        }
        if let Some(len) = self.known_length {
            insert = insert.known_length(len);
        }
        let (body, found) = match insert.execute_and_stream_back() {
            Ok(pair) => pair,
            Err(e) => {
                log::error!("cache insert failed ({e}); streaming uncached");
                return Ok(self.direct(head));
            }
        };
        let mut client = head;
        if let Some(decorate) = self.decorate.take() {
            decorate(&mut client);
        }
        if let Some(len) = self.known_length {
            // A whole (buffered) body: the stream-back has no size hint, so
            // the length the finaliser set must be kept by hand.
            client.set_header(CONTENT_LENGTH, HeaderValue::from(len));
            client.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        }
        match found.to_stream() {
            Ok(stream) => client.with_body(stream).send_to_client(),
            Err(e) => {
                // The entry is being written, but this client cannot read
                // it: abandon it rather than leave a fill nobody reads.
                let _ = body.abandon();
                self.purge();
                return Err(io::Error::other(format!("reading the entry back: {e}")));
            }
        }
        Ok(FillBody {
            body,
            budget: Some(self.budget),
            cached: true,
        })
    }

    fn send_whole(&mut self, head: Response, body: Vec<u8>) -> io::Result<()> {
        // A known body: the entry says its length (which also lets a hit
        // carry `Content-Length`).
        self.known_length = Some(body.len() as u64);
        let mut out = self.open(head)?;
        out.write_all(&body)?;
        self.finish(out)
    }

    fn finish(&mut self, body: FillBody) -> io::Result<()> {
        let over = body.cached && body.budget.is_none();
        body.body.finish()?;
        if over {
            // Served whole to this client and its followers, but an
            // object over the budget is not kept.
            self.purge();
        }
        Ok(())
    }

    fn abort(&mut self, body: FillBody) {
        let _ = body.body.abandon();
        if body.cached {
            self.purge();
        }
    }
}
