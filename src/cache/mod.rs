//! The edge cache on Fastly's core cache: a rewritten response is computed
//! once and then served to everyone who asks next.
//!
//! `sluice_core::cache::flow` decides every step (plan, key, vary,
//! freshness, `304`s, whether an answer is stored) over the [`FastlyCache`]
//! calls: a transaction for `GET`, so concurrent misses collapse onto one
//! fill; a plain read for `HEAD` and ranges. A hit hands the cached body
//! handle to the host (no guest copy); a miss's fill is the sink's
//! committer that inserts at the first byte and streams the entry back.

mod fill;

use std::ops::ControlFlow;

use error_stack::Report;
use fastly::cache::core::{self, CacheKey, Found, Transaction};
use fastly::http::{header, FramingHeadersMode, HeaderName, HeaderValue};
use fastly::Request;
use http::HeaderMap;
use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};
use sluice_core::cache::flow::{self, CacheRead, EdgeFill, Looked, LookupOf};
use sluice_core::cache::found::answer;
use sluice_core::cache::freshness::FoundFacts;
use sluice_core::cache::StoredHead;

pub use fill::FastlyCache;

use crate::lifecycle::message;
use crate::lifecycle::{Cx, EdgeError, Outcome};
use crate::publisher::identity::{self, Visitor};

/// A miss this request fills.
pub type Fill = EdgeFill<FastlyCache>;

/// Looks the request up: `Break` with the answer from a found entry, or
/// `Continue` to the origin with the fill this request owes the cache (if
/// any) and what the response will say the cache did. An entry that cannot
/// be read is the cache's fault, never the client's: it goes to the origin.
pub fn lookup(
    req: &Request,
    headers: &HeaderMap,
    visitor: &Visitor,
    cx: &mut Cx<'_>,
) -> ControlFlow<Outcome, (Option<Fill>, Delivered)> {
    let of = LookupOf {
        method: req.get_method_str(),
        path: req.get_path(),
        query: req.get_query_str(),
        headers,
    };
    let (found, head, delivered, not_modified) = match flow::lookup::<FastlyCache>(of, cx) {
        Looked::Fetch { fill, delivered } => return ControlFlow::Continue((fill, delivered)),
        Looked::Serve {
            found,
            head,
            delivered,
            not_modified,
        } => (found, head, delivered, not_modified),
    };
    match serve(&found, &head, delivered, not_modified, visitor, cx) {
        Ok(outcome) => ControlFlow::Break(outcome),
        Err(report) => {
            log::error!("reading a cache entry failed, going to the origin: {report:?}");
            let delivered = Delivered::Pass(PassReason::Bypass("read_error"));
            flow::note(cx, delivered);
            ControlFlow::Continue((None, delivered))
        }
    }
}

/// Answers from a found entry, decorated for this visitor: `304` when the
/// client's copy is current, else the stored head with the cached body
/// handle (no guest copy; none for `HEAD`).
pub fn serve(
    found: &Found,
    head: &StoredHead,
    delivered: Delivered,
    not_modified: bool,
    visitor: &Visitor,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>> {
    flow::note(cx, delivered);
    cx.record.mode = "cache";
    let answer = answer(head, delivered, not_modified);
    let headers = answer.headers.iter().map(|(n, v)| (*n, v.as_slice()));
    let mut resp = message::response(answer.status, headers);
    identity::decorate(visitor, &mut resp, cx.settings.synthetic_id_max_age);
    if answer.not_modified() {
        return Ok(Outcome::Respond(resp));
    }
    // A complete entry knows its length: the answer says it exactly.
    if let Some(len) = found.known_length() {
        resp.set_header(header::CONTENT_LENGTH, HeaderValue::from(len));
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        cx.record.bytes_out = len;
    }
    if !cx.view.is_head {
        let body = found
            .to_stream()
            .map_err(|e| Report::new(EdgeError::Internal).attach(format!("cache body: {e}")))?;
        resp.set_body(body);
    }
    Ok(Outcome::Respond(resp))
}

impl CacheRead for FastlyCache {
    type Found = Found;

    fn lookup(
        key: &[u8],
        vary: &[(String, String)],
        transaction: bool,
    ) -> std::io::Result<(Option<Found>, Option<Transaction>)> {
        let key = CacheKey::copy_from_slice(key);
        // Never a panic on a client's bytes: unrepresentable pairs are
        // left out of the lookup.
        let vary = vary.iter().filter_map(|(n, v)| {
            Some((
                HeaderName::try_from(n.as_str()).ok()?,
                HeaderValue::from_str(v).ok()?,
            ))
        });
        let looked = match transaction {
            true => vary
                .fold(Transaction::lookup(key), |b, (n, v)| b.header(n, v))
                .execute()
                .map(|txn| (txn.found(), Some(txn))),
            false => vary
                .fold(core::lookup(key), |b, (n, v)| b.header(n, v))
                .execute()
                .map(|found| (found, None)),
        };
        looked.map_err(std::io::Error::other)
    }

    fn obliged(txn: &Transaction) -> bool {
        txn.must_insert_or_update()
    }

    fn metadata(found: &Found) -> impl AsRef<[u8]> {
        found.user_metadata()
    }

    fn facts(found: &Found) -> FoundFacts {
        FoundFacts {
            stale: found.is_stale(),
            must_refresh: false,
            age: found.age(),
            ttl: found.max_age(),
            known_length: found.known_length(),
        }
    }
}
