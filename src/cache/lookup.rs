//! Before the origin: the lookup (a transaction for `GET`, a plain read
//! for `HEAD` and ranges) and the answer from a found entry.

use error_stack::Report;
use fastly::cache::core::{self, CacheKey, Found, Transaction};
use fastly::http::{header, FramingHeadersMode, HeaderName, HeaderValue, StatusCode};
use fastly::{Request, Response};
use sluice_core::cache::conditional::{self, Conditional, ConditionalRequest};
use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};
use sluice_core::cache::freshness::{on_found, FoundAction, FoundFacts};
use sluice_core::cache::key::{CacheKey as Key, CodingClass, KeyInput, RewriteFingerprint};
use sluice_core::cache::request::{plan, LookupPlan, LookupRequest};
use sluice_core::cache::{stored_head, vary, Entry, StoredHead};

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
    let key = CacheKey::copy_from_slice(key_for(req, cx).as_bytes());
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
    let fill = |cx: &mut Cx<'_>, txn: Option<Transaction>, stale| match txn
        .filter(Transaction::must_insert_or_update)
    {
        Some(txn) => {
            note(cx, Delivered::Miss);
            Cached::Fetch {
                fill: Some(Fill::new(txn, stale)),
                delivered: Delivered::Miss,
            }
        }
        None => pass(cx, PassReason::ReadOnlyMiss),
    };
    let Some(found) = found else {
        return fill(cx, txn, None);
    };
    let head = match stored_head::decode(&found.user_metadata()) {
        Ok(Entry::Response(head)) => head,
        Ok(Entry::Pass(reason)) => return pass(cx, PassReason::NotStored(reason)),
        Err(e) => {
            log::warn!("unreadable cache entry, going to the origin: {e}");
            return pass(cx, PassReason::Bypass("bad_entry"));
        }
    };
    let must_refresh = txn.as_ref().is_some_and(Transaction::must_insert_or_update);
    let facts = FoundFacts {
        stale: found.is_stale(),
        must_refresh,
        age: found.age(),
        ttl: found.max_age(),
        known_length: found.known_length(),
    };
    let action = on_found(&facts, &head);
    let answered = match action {
        FoundAction::Hit => Some(Delivered::Hit { age: facts.age }),
        FoundAction::ServeStale => Some(Delivered::Stale { age: facts.age }),
        _ => None,
    };
    if let Some(delivered) = answered {
        return serve(req, &found, &head, delivered, visitor, cx);
    }
    match action {
        FoundAction::Refresh { stale_on_error } => {
            fill(cx, txn, stale_on_error.then_some((found, head)))
        }
        FoundAction::Hit | FoundAction::ServeStale | FoundAction::Pass => {
            pass(cx, PassReason::Bypass("stale"))
        }
        FoundAction::DeadFill => {
            // A fill whose guest died before it could end or purge it.
            log::warn!("purging a dead cache fill ({})", head.fill_key);
            if let Err(e) = fastly::http::purge::purge_surrogate_key(&head.fill_key) {
                log::error!("purging a dead fill failed: {e:?}");
            }
            pass(cx, PassReason::Bypass("dead_fill"))
        }
    }
}

/// The key: everything the rewritten bytes depend on (sluice_core::cache::key).
fn key_for(req: &Request, cx: &Cx<'_>) -> Key {
    let path = req.get_path();
    let path_and_query = match req.get_query_str() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let buffered = cx.settings.wants_buffering(path);
    let fingerprint = RewriteFingerprint::from_settings(cx.settings);
    Key::derive(&KeyInput {
        scheme: cx.view.scheme,
        authority: &cx.view.authority,
        path_and_query: &path_and_query,
        buffered,
        coding: CodingClass::for_request(
            cx.settings.output_encoding,
            buffered,
            message::header(req, header::ACCEPT_ENCODING),
        ),
        fingerprint: &fingerprint,
    })
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
    let not_modified =
        conditional.is_some_and(|c| conditional::evaluate(c, head) == Conditional::NotModified);
    let (status, headers) = if not_modified {
        (304, conditional::not_modified_headers(head))
    } else {
        let all = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        (head.status, all.collect())
    };
    let mut resp = Response::from_status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            resp.append_header(n, v);
        }
    }
    for (name, value) in delivered.headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.append_header(name, v);
        }
    }
    crate::publisher::identity::decorate(visitor, &mut resp, cx.settings.synthetic_id_max_age);
    if not_modified {
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
