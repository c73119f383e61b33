//! Before the origin: the lookup (a transaction for `GET`, a plain read
//! for `HEAD` and ranges) and the answer from a found entry.

use error_stack::Report;
use fastly::cache::core::{self, CacheKey, Found, Transaction};
use fastly::http::{header, FramingHeadersMode, HeaderName, HeaderValue, StatusCode};
use fastly::{Request, Response};
use sluice_core::cache::conditional::ConditionalRequest;
use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};
use sluice_core::cache::found::{after_lookup, answer, AfterLookup};
use sluice_core::cache::freshness::FoundFacts;
use sluice_core::cache::inserter::CacheWrite;
use sluice_core::cache::key::CacheKey as Key;
use sluice_core::cache::request::{plan, LookupPlan, LookupRequest};
use sluice_core::cache::{vary, StoredHead};

use super::fill::FastlyCache;
use super::{note, pass, Cached, Fill};
use crate::lifecycle::message;
use crate::lifecycle::{Cx, EdgeError, Outcome};
use crate::publisher::identity::Visitor;

/// Looks the request up. Cache faults are never the client's problem: a
/// lookup that fails is logged and the request goes to the origin.
pub fn lookup(req: &Request, visitor: &Visitor, cx: &mut Cx<'_>) -> Cached {
    let has = |name: HeaderName| req.contains_header(name);
    let how = plan(
        cx.settings.cache.enabled,
        &LookupRequest {
            method: req.get_method_str(),
            has_range: has(header::RANGE) || has(header::IF_RANGE),
            has_precondition: has(header::IF_MATCH) || has(header::IF_UNMODIFIED_SINCE),
        },
    );
    if let LookupPlan::Bypass(why) = how {
        return pass(cx, PassReason::Bypass(why));
    }
    let (path, query) = (req.get_path(), req.get_query_str());
    let ae = message::header(req, header::ACCEPT_ENCODING);
    let key = Key::for_request(cx.settings, &cx.view, path, query, ae);
    let key = CacheKey::copy_from_slice(key.as_bytes());
    let vary = vary::lookup_headers(&cx.settings.cache.vary_headers, |name| {
        message::header_all(req, name)
    });
    let vary: Vec<(HeaderName, HeaderValue)> = vary
        .iter()
        .filter_map(|(n, v)| Some((n.parse().ok()?, HeaderValue::from_str(v).ok()?)))
        .collect();
    let looked = match how {
        LookupPlan::ReadOnly => {
            let mut b = core::lookup(key);
            for (n, v) in &vary {
                b = b.header(n, v);
            }
            b.execute().map(|found| (found, None))
        }
        _ => {
            let mut b = Transaction::lookup(key);
            for (n, v) in &vary {
                b = b.header(n, v);
            }
            b.execute().map(|txn| (txn.found(), Some(txn)))
        }
    };
    let (found, txn) = match looked {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("cache lookup failed, going to the origin: {e}");
            return pass(cx, PassReason::Bypass("lookup_error"));
        }
    };
    let obligated = txn.as_ref().is_some_and(Transaction::must_insert_or_update);
    let meta = found.as_ref().map(Found::user_metadata);
    let facts = found.as_ref().map(|f| FoundFacts {
        stale: f.is_stale(),
        must_refresh: obligated,
        age: f.age(),
        ttl: f.max_age(),
        known_length: f.known_length(),
    });
    let after = after_lookup(meta.as_deref().zip(facts), obligated);
    match (after, found, txn) {
        (AfterLookup::Serve(delivered, head), Some(found), _) => {
            serve(req, &found, &head, delivered, visitor, cx)
        }
        (AfterLookup::Fill { stale }, found, Some(txn)) => {
            note(cx, Delivered::Miss);
            let stale = found.zip(stale);
            let fill = Some(Fill::new(txn, stale));
            Cached::Fetch {
                fill,
                delivered: Delivered::Miss,
            }
        }
        (AfterLookup::DeadFill(fill_key), ..) => {
            log::warn!("purging a dead cache fill ({fill_key})");
            if let Err(e) = FastlyCache::purge(&fill_key) {
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

/// Answers from a found entry: `304` when the client's copy is current,
/// else the stored head with the cached body handle (no guest copy; none
/// for `HEAD`).
fn serve(
    req: &Request,
    found: &Found,
    head: &StoredHead,
    delivered: Delivered,
    visitor: &Visitor,
    cx: &mut Cx<'_>,
) -> Cached {
    let inm = message::header_all(req, "if-none-match");
    let ims = message::header_all(req, "if-modified-since");
    let conditional = ConditionalRequest {
        method: req.get_method_str(),
        if_none_match: &inm,
        if_modified_since: &ims,
    };
    match serve_found(found, head, delivered, Some(&conditional), visitor, cx) {
        Ok(outcome) => Cached::Answered(outcome),
        Err(report) => {
            log::error!("reading a cache entry failed, going to the origin: {report:?}");
            pass(cx, PassReason::Bypass("read_error"))
        }
    }
}

/// The response for a found entry, decorated for this visitor.
pub fn serve_found(
    found: &Found,
    head: &StoredHead,
    delivered: Delivered,
    conditional: Option<&ConditionalRequest<'_>>,
    visitor: &Visitor,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>> {
    note(cx, delivered);
    cx.record.mode = "cache";
    let answer = answer(head, delivered, conditional);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut resp = Response::from_status(status);
    for (name, value) in &answer.headers {
        // Never a panic on an entry's bytes: unrepresentable pairs are dropped.
        let name = HeaderName::from_bytes(name.as_bytes());
        if let (Ok(n), Ok(v)) = (name, HeaderValue::from_bytes(value)) {
            resp.append_header(n, v);
        }
    }
    crate::publisher::identity::decorate(visitor, &mut resp, cx.settings.synthetic_id_max_age);
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
