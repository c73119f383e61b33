//! The edge cache: a rewritten response is computed once and then served
//! from Fastly's core cache to everyone who asks next.
//!
//! Before the origin, [`lookup`] asks the cache (a transaction for `GET`,
//! so concurrent misses collapse onto one fill; a plain read for `HEAD`
//! and ranges). A hit hands the cached body handle to the host: no guest
//! copy. A miss returns a [`Fill`], the sink's committer that inserts the
//! entry at the first byte and lets the client stream it while it is
//! written. Every decision (plan, key, vary, freshness, 304s, headers) is
//! `sluice_core::cache`'s; this module only calls the cache.

mod fill;

use std::time::{Duration, SystemTime};

use error_stack::Report;
use fastly::cache::core::{self, CacheKey, Found, Transaction};
use fastly::http::{header, FramingHeadersMode, HeaderName, HeaderValue, StatusCode};
use fastly::{Request, Response};
use sluice_core::cache::conditional::{self, Conditional, ConditionalRequest};
use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};
use sluice_core::cache::fill::{Admission, FillBudget};
use sluice_core::cache::freshness::{on_found, FoundAction, FoundFacts};
use sluice_core::cache::key::{CacheKey as Key, CodingClass, KeyInput, RewriteFingerprint};
use sluice_core::cache::policy::{self, Decision, RequestFacts, ResponseFacts};
use sluice_core::cache::request::{plan, LookupPlan, LookupRequest};
use sluice_core::cache::{stored_head, vary, Entry, NotStored, StoredHead};
use sluice_core::encoding::ContentEncoding;
use sluice_core::http::headers::values;

pub use fill::{Fill, FillBody, Inserter};

use crate::lifecycle::message::{self, Parts};
use crate::lifecycle::{Cx, EdgeError, Outcome};
use crate::publisher::identity::Visitor;

/// What the cache did with a request.
// One value per request, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Cached {
    /// Answered from the cache.
    Answered(Outcome),
    /// Go to the origin; with a fill when this request must store the
    /// answer.
    Fetch {
        /// The fill this request owes the cache.
        fill: Option<Fill>,
        /// What the response will say it was (`MISS` or `PASS`).
        delivered: Delivered,
    },
}

/// Goes to the origin without a fill, and says why.
fn pass(cx: &mut Cx<'_>, reason: PassReason) -> Cached {
    let delivered = Delivered::Pass(reason);
    note(cx, delivered);
    Cached::Fetch {
        fill: None,
        delivered,
    }
}

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
    match on_found(&facts, &head) {
        FoundAction::Hit => serve(
            req,
            &found,
            &head,
            Delivered::Hit { age: facts.age },
            visitor,
            cx,
        ),
        FoundAction::ServeStale => serve(
            req,
            &found,
            &head,
            Delivered::Stale { age: facts.age },
            visitor,
            cx,
        ),
        FoundAction::Refresh { stale_on_error } => {
            fill(cx, txn, stale_on_error.then_some((found, head)))
        }
        FoundAction::Pass => pass(cx, PassReason::Bypass("stale")),
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

/// Records what the cache did, for the access line.
pub fn note(cx: &mut Cx<'_>, delivered: Delivered) {
    cx.record.cache = Some(delivered.as_str());
    cx.record.cache_pass = match delivered {
        Delivered::Pass(reason) => Some(reason.as_str()),
        _ => None,
    };
}

/// How long a hit-for-pass marker lives.
pub fn hit_for_pass(cx: &Cx<'_>) -> Duration {
    Duration::from_secs(cx.settings.cache.hit_for_pass_s)
}

/// The cache's decision for an origin answer this request must fill.
pub enum Stored {
    /// Store it: the committer that inserts and streams back.
    Fill(Inserter),
    /// Do not store it (a marker may say so to others).
    Pass(Delivered),
}

/// Decides from the origin's head (before the visitor's part) whether the
/// rewritten answer is stored.
pub fn decide(
    fill: Fill,
    origin: &Parts,
    authorized: bool,
    input: ContentEncoding,
    path: &str,
    cx: &mut Cx<'_>,
) -> Stored {
    let h = &origin.head.headers;
    let all = |name: &str| -> Vec<&str> { values(h, name).collect() };
    let (cc, sc, expires, date, age, pragma, vary, keys) = (
        all("cache-control"),
        all("surrogate-control"),
        all("expires"),
        all("date"),
        all("age"),
        all("pragma"),
        all("vary"),
        all("surrogate-key"),
    );
    let decision = policy::decide(
        &RequestFacts {
            method: "GET",
            has_authorization: authorized,
        },
        &ResponseFacts {
            status: origin.status(),
            cache_control: &cc,
            surrogate_control: &sc,
            expires: &expires,
            date: &date,
            age: &age,
            pragma: &pragma,
            vary: &vary,
            has_set_cookie: h.contains_key(header::SET_COOKIE),
        },
        &cx.settings.cache,
        SystemTime::now(),
    );
    let store = match decision {
        Decision::Store(store) => store,
        Decision::DoNotStore(reason) => {
            return Stored::Pass(not_stored(fill, reason, origin.status(), cx))
        }
    };
    let length = origin
        .header(header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse().ok());
    let max = cx.settings.cache.max_object_bytes;
    match FillBudget::admit(max, length, input == ContentEncoding::Identity) {
        Admission::Fill(budget) => Stored::Fill(fill.store(store, path, &keys, budget)),
        Admission::TooLarge => {
            Stored::Pass(not_stored(fill, NotStored::TooLarge, origin.status(), cx))
        }
    }
}

/// Leaves the entry unfilled and says so. A marker tells waiting and later
/// requests to pass at once when the reason lies in the response, but
/// never for a server error: a passing origin failure must not keep a page
/// out of the cache for the marker's lifetime.
pub fn not_stored(fill: Fill, reason: NotStored, status: u16, cx: &mut Cx<'_>) -> Delivered {
    let marker = match status {
        500.. => Duration::ZERO,
        _ => hit_for_pass(cx),
    };
    fill.pass(reason, marker);
    let delivered = Delivered::Pass(PassReason::NotStored(reason));
    note(cx, delivered);
    delivered
}
