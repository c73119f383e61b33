//! The edge cache's part of one request, over the platform's cache
//! ([`CacheRead`] to look up, [`CacheWrite`] to fill): before the origin,
//! look the request up and say whether to serve, fill or pass; after the
//! origin's head, decide whether the rewritten answer is stored. Each step
//! records what the cache did on the access line. Cache faults are never
//! the client's problem: a failed lookup goes to the origin.

use std::io;
use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::conditional::{self, Conditional, ConditionalRequest};
use super::delivery::{Outcome as Delivered, PassReason};
use super::fill::{Admission, FillBudget};
use super::found::{after_lookup, AfterLookup};
use super::freshness::FoundFacts;
use super::inserter::{CacheWrite, Fill, Inserter};
use super::policy::{self, Decision, NotStored};
use super::request::{plan, LookupPlan, LookupRequest};
use super::{vary, CacheKey, StoredHead};
use crate::context::Cx;
use crate::encoding::ContentEncoding;
use crate::http::headers::{first, values};

/// The platform's cache, as a lookup uses it.
pub trait CacheRead: CacheWrite {
    /// A found entry (its body is read by the platform, never the guest).
    type Found;
    /// Looks `key` up with the request's vary headers: a transaction (a
    /// miss may oblige this request to fill, and concurrent misses wait
    /// for it) when `transaction`, else a plain read.
    #[allow(clippy::type_complexity)]
    fn lookup(
        key: &[u8],
        vary: &[(String, String)],
        transaction: bool,
    ) -> io::Result<(Option<Self::Found>, Option<Self::Txn>)>;
    /// True when the transaction obliges this request to insert or update.
    fn obliged(txn: &Self::Txn) -> bool;
    /// The entry's user metadata: its encoded stored head, in the
    /// platform's own buffer (read once per lookup, never copied).
    fn metadata(found: &Self::Found) -> impl AsRef<[u8]>;
    /// The entry's age, lifetime, staleness and length (`must_refresh` is
    /// the lookup's to set).
    fn facts(found: &Self::Found) -> FoundFacts;
}

/// A miss this request fills, with the stale entry stale-if-error may
/// serve.
pub type EdgeFill<P> = Fill<P, (<P as CacheRead>::Found, StoredHead)>;

/// What the lookup says to do.
pub enum Looked<P: CacheRead> {
    /// Answer from the entry.
    Serve {
        /// The entry.
        found: P::Found,
        /// Its stored head.
        head: StoredHead,
        /// What the response says the cache did.
        delivered: Delivered,
        /// The client's copy is current: answer `304`.
        not_modified: bool,
    },
    /// Go to the origin; with a fill when this request must store the
    /// answer.
    Fetch {
        /// The fill this request owes the cache.
        fill: Option<EdgeFill<P>>,
        /// What the response will say it was (`MISS` or `PASS`).
        delivered: Delivered,
    },
}

/// The client request, as the lookup reads it.
#[derive(Debug, Clone, Copy)]
pub struct LookupOf<'a> {
    /// The method.
    pub method: &'a str,
    /// The path (after the raw-URL prefix was taken off).
    pub path: &'a str,
    /// The query, if any.
    pub query: Option<&'a str>,
    /// The client's headers.
    pub headers: &'a HeaderMap,
}

/// Looks the request up and says what to do with it.
pub fn lookup<P: CacheRead>(req: LookupOf<'_>, cx: &mut Cx<'_>) -> Looked<P> {
    let has = |name| req.headers.contains_key(name);
    let how = plan(
        cx.settings.cache.enabled,
        &LookupRequest {
            method: req.method,
            has_range: has("range") || has("if-range"),
            has_precondition: has("if-match") || has("if-unmodified-since"),
        },
    );
    if let LookupPlan::Bypass(why) = how {
        return pass(cx, PassReason::Bypass(why));
    }
    let ae = first(req.headers, "accept-encoding");
    let key = CacheKey::for_request(cx.settings, &cx.view, req.path, req.query, ae);
    let vary = vary::lookup_headers(&cx.settings.cache.vary_headers, |name| {
        values(req.headers, name).collect()
    });
    let transaction = how == LookupPlan::Transaction;
    let (found, txn) = match P::lookup(key.as_bytes(), &vary, transaction) {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("cache lookup failed, going to the origin: {e}");
            return pass(cx, PassReason::Bypass("lookup_error"));
        }
    };
    let obliged = txn.as_ref().is_some_and(P::obliged);
    let after = {
        let meta = found.as_ref().map(P::metadata);
        let facts = found.as_ref().map(P::facts);
        after_lookup(meta.as_ref().map(AsRef::as_ref).zip(facts), obliged)
    };
    match (after, found, txn) {
        (AfterLookup::Serve(delivered, head), Some(found), _) => {
            let not_modified = not_modified(&req, &head);
            Looked::Serve {
                found,
                head,
                delivered,
                not_modified,
            }
        }
        (AfterLookup::Fill { stale }, found, Some(txn)) => {
            note(cx, Delivered::Miss);
            Looked::Fetch {
                fill: Some(Fill::new(txn, found.zip(stale))),
                delivered: Delivered::Miss,
            }
        }
        (AfterLookup::DeadFill(fill_key), ..) => {
            log::warn!("purging a dead cache fill ({fill_key})");
            if let Err(e) = P::purge(&fill_key) {
                log::error!("purging a dead fill failed: {e}");
            }
            pass(cx, PassReason::Bypass("dead_fill"))
        }
        (AfterLookup::Pass(reason), ..) => pass(cx, reason),
        // Serve without an entry, or fill without a transaction: neither
        // can come out of `after_lookup`.
        _ => pass(cx, PassReason::ReadOnlyMiss),
    }
}

/// True when the client's conditional headers say its copy is current.
fn not_modified(req: &LookupOf<'_>, head: &StoredHead) -> bool {
    let inm: Vec<&str> = values(req.headers, "if-none-match").collect();
    let ims: Vec<&str> = values(req.headers, "if-modified-since").collect();
    let conditional = ConditionalRequest {
        method: req.method,
        if_none_match: &inm,
        if_modified_since: &ims,
    };
    conditional::evaluate(&conditional, head) == Conditional::NotModified
}

/// Goes to the origin without a fill, and says why.
fn pass<P: CacheRead>(cx: &mut Cx<'_>, reason: PassReason) -> Looked<P> {
    let delivered = Delivered::Pass(reason);
    note(cx, delivered);
    Looked::Fetch {
        fill: None,
        delivered,
    }
}

/// Records what the cache did, for the access line.
pub fn note(cx: &mut Cx<'_>, delivered: Delivered) {
    cx.record.cache = Some(delivered.as_str());
    cx.record.cache_pass = match delivered {
        Delivered::Pass(reason) => Some(reason.as_str()),
        _ => None,
    };
}

/// The cache's decision for an origin answer this request must fill.
pub enum Stored<P: CacheWrite> {
    /// Store it: the committer that inserts and streams back.
    Fill(Inserter<P>),
    /// Do not store it (a marker may say so to others).
    Pass(Delivered),
}

/// The origin's answer as the fill decision reads it: its head as it came
/// (its length included), before the rewritten body's headers and the
/// visitor's part.
#[derive(Debug, Clone, Copy)]
pub struct OriginAnswer<'a> {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The client request carried `Authorization`.
    pub authorized: bool,
    /// The body's coding (only an identity length bounds the fill).
    pub input: ContentEncoding,
    /// The request path, for the entry's path key.
    pub path: &'a str,
}

/// Decides whether the rewritten answer is stored. `random` makes the
/// entry's unique fill key (asked for only when the answer is stored).
pub fn decide<P: CacheWrite, S>(
    fill: Fill<P, S>,
    origin: OriginAnswer<'_>,
    random: impl FnOnce() -> Option<[u8; 16]>,
    cx: &mut Cx<'_>,
) -> Stored<P> {
    let (h, status, now) = (origin.headers, origin.status, SystemTime::now());
    let store = match policy::decide_head(status, h, origin.authorized, &cx.settings.cache, now) {
        Decision::Store(store) => store,
        Decision::DoNotStore(reason) => return Stored::Pass(not_stored(fill, reason, status, cx)),
    };
    let length = first(h, "content-length").and_then(|v| v.parse().ok());
    let max = cx.settings.cache.max_object_bytes;
    match FillBudget::admit(max, length, origin.input == ContentEncoding::Identity) {
        Admission::Fill(budget) => {
            let keys: Vec<&str> = values(h, "surrogate-key").collect();
            Stored::Fill(fill.store(store, origin.path, &keys, budget, random()))
        }
        Admission::TooLarge => Stored::Pass(not_stored(fill, NotStored::TooLarge, status, cx)),
    }
}

/// Leaves the entry unfilled and says so. A marker tells waiting and later
/// requests to pass at once when the reason lies in the response, but
/// never for a server error: a passing origin failure must not keep a page
/// out of the cache for the marker's lifetime.
pub fn not_stored<P: CacheWrite, S>(
    fill: Fill<P, S>,
    reason: NotStored,
    status: u16,
    cx: &mut Cx<'_>,
) -> Delivered {
    let marker = match status {
        500.. => Duration::ZERO,
        _ => Duration::from_secs(cx.settings.cache.hit_for_pass_s),
    };
    fill.pass(reason, marker);
    let delivered = Delivered::Pass(PassReason::NotStored(reason));
    note(cx, delivered);
    delivered
}

#[cfg(test)]
mod tests;
