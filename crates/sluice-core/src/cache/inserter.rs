//! Filling the cache on a miss, generic over the platform's cache
//! ([`CacheWrite`]): the sink's committer that inserts the entry at the
//! first byte and streams it back to the client, so the client (and every
//! collapsed follower) reads the entry while the pipeline writes it. A
//! fault abandons the insert and purges the entry's unique fill key, so a
//! broken body never poisons the key; a body over `cache.max_object_bytes`
//! is completed for its readers, then purged.

use std::io::{self, Write};
use std::time::Duration;

use super::fill::{FillBudget, FillStep};
use super::policy::{NotStored, Store};
use super::stored_head::{self, StoredHead};
use super::surrogate::{self, EntryKeys};
use crate::page::Append;
use crate::sink::Commit;

/// What an entry is inserted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert<'a> {
    /// The policy's lifetimes and vary rule.
    pub store: &'a Store,
    /// The surrogate keys (fill key, path key, the origin's).
    pub keys: &'a [String],
    /// The encoded stored head.
    pub meta: Vec<u8>,
    /// A whole body's length, when known before the first byte.
    pub known_length: Option<u64>,
}

/// Why an insert did not stream back.
#[derive(Debug)]
pub enum InsertFailed<H> {
    /// The insert was refused: the head comes back to go out uncached.
    Refused(H, io::Error),
    /// The entry is being written but cannot be read back (the platform
    /// has abandoned it).
    ReadBack(io::Error),
}

/// The platform's cache, as a fill uses it.
pub trait CacheWrite {
    /// A lookup transaction that obliges this request to fill.
    type Txn;
    /// The platform's response head.
    type Head;
    /// A streaming body: the entry being written, or the client's.
    type Body: Write;
    /// The head's status.
    fn status(head: &Self::Head) -> u16;
    /// The head's headers (names lower-case), for the stored head.
    fn headers(head: &Self::Head) -> Vec<(&str, &[u8])>;
    /// Streams `head` straight to the client, uncached.
    fn send_direct(head: Self::Head) -> Self::Body;
    /// Inserts the entry and streams it back to the client under `head`.
    fn insert(
        txn: Self::Txn,
        insert: &Insert,
        head: Self::Head,
    ) -> Result<Self::Body, InsertFailed<Self::Head>>;
    /// Inserts a hit-for-pass marker with `meta`, for `ttl`.
    fn insert_marker(txn: Self::Txn, ttl: Duration, meta: Vec<u8>) -> io::Result<()>;
    /// Gives up the obligation: waiting requests go to the origin.
    fn cancel(txn: Self::Txn);
    /// Ends a body cleanly.
    fn finish(body: Self::Body) -> io::Result<()>;
    /// Breaks a body off.
    fn abandon(body: Self::Body);
    /// Purges a surrogate key.
    fn purge(key: &str) -> io::Result<()>;
}

/// A miss this request fills (or, if the answer may not be stored, marks
/// as hit-for-pass); `S` is what a stale-if-error answer needs.
pub struct Fill<P: CacheWrite, S> {
    txn: P::Txn,
    /// The stale entry, when the origin's failure may be answered with it.
    pub stale: Option<S>,
}

impl<P: CacheWrite, S> Fill<P, S> {
    /// A fill for an obligated transaction.
    pub fn new(txn: P::Txn, stale: Option<S>) -> Self {
        Self { txn, stale }
    }

    /// The answer may not be stored. A marker (when the reason allows one)
    /// lets waiting and later requests go to the origin at once instead of
    /// queueing behind each other's fetches.
    pub fn pass(self, reason: NotStored, marker_ttl: Duration) {
        if !reason.hit_for_pass() || marker_ttl.is_zero() {
            return P::cancel(self.txn);
        }
        let meta = stored_head::encode_pass(reason);
        if let Err(e) = P::insert_marker(self.txn, marker_ttl, meta) {
            log::warn!("hit-for-pass marker not stored: {e}");
        }
    }

    /// The answer will be stored: the committer for the client sink.
    /// `random` makes the entry's unique fill key; without it a broken
    /// fill can only be purged with its path (and its siblings).
    pub fn store(
        self,
        store: Store,
        path: &str,
        origin_keys: &[&str],
        budget: FillBudget,
        random: Option<[u8; 16]>,
    ) -> Inserter<P> {
        let fill_key = random.map_or_else(|| surrogate::path_key(path), surrogate::fill_key);
        let keys = EntryKeys::new(&fill_key, path, origin_keys);
        Inserter {
            txn: Some(self.txn),
            store,
            keys: keys.keys().map(str::to_owned).collect(),
            fill_key,
            budget,
            decorate: None,
            known_length: None,
        }
    }
}

/// Adds the client's own part to the head it is sent.
pub type Decorate<H> = Box<dyn FnOnce(&mut H)>;

/// Inserts the entry at commit and streams it back to the client.
pub struct Inserter<P: CacheWrite> {
    txn: Option<P::Txn>,
    store: Store,
    keys: Vec<String>,
    fill_key: String,
    budget: FillBudget,
    decorate: Option<Decorate<P::Head>>,
    known_length: Option<u64>,
}

impl<P: CacheWrite> Inserter<P> {
    /// Adds the client's own part (its cookie, `X-Cache`) to the head it
    /// is sent, never to the stored one.
    pub fn decorating(mut self, decorate: Decorate<P::Head>) -> Self {
        self.decorate = Some(decorate);
        self
    }

    /// Sends `head` straight to the client, uncached.
    fn direct(head: P::Head) -> FillBody<P::Body> {
        FillBody {
            body: P::send_direct(head),
            budget: None,
            cached: false,
        }
    }

    fn purge(&self) {
        if let Err(e) = P::purge(&self.fill_key) {
            log::error!("purging the fill key {} failed: {e}", self.fill_key);
        }
    }
}

impl<P: CacheWrite> Commit for Inserter<P> {
    type Head = P::Head;
    type Body = FillBody<P::Body>;

    fn status(head: &P::Head) -> u16 {
        P::status(head)
    }

    fn open(&mut self, mut head: P::Head) -> io::Result<Self::Body> {
        let meta = StoredHead::from_response(
            P::status(&head),
            P::headers(&head),
            &self.store,
            &self.fill_key,
        )
        .and_then(|h| h.encode());
        if let Some(decorate) = self.decorate.take() {
            decorate(&mut head);
        }
        let Some(txn) = self.txn.take() else {
            return Ok(Self::direct(head));
        };
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                log::warn!("response head not storable ({e}); streaming uncached");
                P::cancel(txn);
                return Ok(Self::direct(head));
            }
        };
        let insert = Insert {
            store: &self.store,
            keys: &self.keys,
            meta,
            known_length: self.known_length,
        };
        match P::insert(txn, &insert, head) {
            Ok(body) => Ok(FillBody {
                body,
                budget: Some(self.budget),
                cached: true,
            }),
            Err(InsertFailed::Refused(head, e)) => {
                log::error!("cache insert failed ({e}); streaming uncached");
                Ok(Self::direct(head))
            }
            Err(InsertFailed::ReadBack(e)) => {
                // The entry is being written, but this client cannot read
                // it: it was abandoned, and nobody may read it later.
                self.purge();
                Err(io::Error::other(format!("reading the entry back: {e}")))
            }
        }
    }

    fn send_whole(&mut self, head: P::Head, body: Vec<u8>) -> io::Result<()> {
        // A known body: the entry says its length (which also lets a hit
        // carry `Content-Length`).
        self.known_length = Some(body.len() as u64);
        let mut out = self.open(head)?;
        out.write_all(&body)?;
        self.finish(out)
    }

    fn finish(&mut self, body: Self::Body) -> io::Result<()> {
        let over = body.cached && body.budget.is_none();
        P::finish(body.body)?;
        if over {
            // Served whole to this client and its followers, but an
            // object over the budget is not kept.
            self.purge();
        }
        Ok(())
    }

    fn abort(&mut self, body: Self::Body) {
        P::abandon(body.body);
        if body.cached {
            self.purge();
        }
    }
}

/// The body of an entry being filled (or, when the insert could not be
/// made, the client's): what the pipeline writes, counted against
/// `cache.max_object_bytes`.
pub struct FillBody<B> {
    body: B,
    budget: Option<FillBudget>,
    cached: bool,
}

impl<B: Write> Write for FillBody<B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.body.write(buf)?;
        if let Some(budget) = self.budget.as_mut() {
            if budget.record(n) == FillStep::TooLarge {
                log::warn!("cache fill passed cache.max_object_bytes; the entry will not be kept");
                self.budget = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.body.flush()
    }
}

impl<B, R> Append<R> for FillBody<B> {
    /// The entry's body counts what it stores against
    /// `cache.max_object_bytes`; an append would bypass that count, so the
    /// guest copies instead.
    fn append_rest(&mut self, rest: R) -> Result<(), R> {
        Err(rest)
    }
}

#[cfg(test)]
pub(crate) mod tests;
