//! The publisher proxy: forward to the `origin` backend, then stream,
//! buffer or pass through its answer, rewriting origin URLs into the edge
//! host as the body streams.
//!
//! Phases (docs/ARCHITECTURE.md): identify the visitor → prepare the
//! origin request → send → origin head policy → plan detection (router) →
//! classify → rewritten-body headers → body → access line (lifecycle).

mod deliver;
pub mod identity;
mod send;

use std::ops::ControlFlow;

use error_stack::Report;
use fastly::http::header;
use fastly::Request;
use sluice_core::cache::delivery::Outcome as Delivered;
use sluice_core::cache::flow;
use sluice_core::cache::freshness::origin_failed;
use sluice_core::cache::NotStored;
use sluice_core::http::{origin_request, origin_response};
use sluice_core::rewrite::{raw_origin_target, RewriteRules};
use sluice_core::stream::{self, Strategy};

use crate::cache::{self, Fill};
use crate::lifecycle::message::{self, Parts};
use crate::lifecycle::{Cx, EdgeError, Outcome};
use identity::Visitor;

pub use deliver::deliver;

/// The publisher origin's backend name in `fastly.toml`.
pub const BACKEND: &str = "origin";

/// An origin answer that is a page (or any non-planned response).
pub struct Page {
    /// The origin's head (after the head policy) and body.
    pub origin: Parts,
    /// The rewrite rules for this request's edge host.
    pub rules: RewriteRules,
    /// What the publisher knew before the origin answered.
    pub before: Before,
}

/// What the origin answered.
// One value per request, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Fetched {
    /// A response for the publisher path.
    Page(Page),
    /// A planned stream the edge drives (hosted, dispatch, upstream plan).
    Planned(Strategy, Parts),
    /// Answered without the origin's answer (a stale entry).
    Answered(Outcome),
}

/// The publisher's state before the origin.
// One value per request, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Prepared {
    /// The edge cache answered.
    Answered(Outcome),
    /// The origin must answer.
    Fetch(Before),
}

/// What the publisher knows before the origin answers.
pub struct Before {
    /// The client's headers, which the origin request is made from.
    pub headers: http::HeaderMap,
    /// The request path, for the buffered-path decision and the entry's
    /// path key.
    pub path: String,
    /// The visitor.
    pub visitor: Visitor,
    /// The cache entry this request fills, if it must.
    pub fill: Option<Fill>,
    /// What the response will say the cache did.
    pub delivered: Delivered,
    /// An SRI-pinned resource's raw URL: the answer passes through.
    pub raw: bool,
}

/// What the publisher does before the origin: take an SRI-pinned
/// resource's raw URL back to the origin's path, identify the visitor and
/// ask the edge cache.
pub fn prepare(req: &mut Request, cx: &mut Cx<'_>) -> Result<Prepared, Report<EdgeError>> {
    let raw = take_raw_prefix(req);
    let headers = message::request_headers(req);
    let visitor = identity::identify(&headers, cx)?;
    let (fill, delivered) = match cache::lookup(req, &headers, &visitor, cx) {
        ControlFlow::Break(outcome) => return Ok(Prepared::Answered(outcome)),
        ControlFlow::Continue(fetch) => fetch,
    };
    let path = req.get_path().to_owned();
    Ok(Prepared::Fetch(Before {
        headers,
        path,
        visitor,
        fill,
        delivered,
        raw,
    }))
}

/// `/_sluice-raw/path?q` (a URL the HTML stage wrote for a resource
/// pinned by `integrity`) becomes `/path?q`: only ever a path on the
/// `origin` backend, like any rewritten URL, so no open proxy. True when
/// the request was one: its answer goes through untouched, so the pinned
/// hash still matches.
fn take_raw_prefix(req: &mut Request) -> bool {
    let Some((path, query)) = raw_origin_target(req.get_path(), req.get_query_str()) else {
        return false;
    };
    req.set_path(&path);
    req.set_query_str(query);
    true
}

/// Sends the client request to the origin and applies the head policy.
pub fn fetch(
    mut req: Request,
    mut before: Before,
    cx: &mut Cx<'_>,
) -> Result<Fetched, Report<EdgeError>> {
    let (hosts, view) = (&cx.settings.rewrite_hosts, &cx.view);
    let rules = RewriteRules::new(hosts, view.scheme, &view.authority)
        .map_err(|e| Report::new(EdgeError::Config(format!("rewrite rules: {e}"))))?;
    let mut headers = before.headers.clone();
    let filling = before.fill.is_some();
    origin_request::prepare(&mut headers, view, before.visitor.id.as_deref(), filling);
    // Fastly's read-through cache would only hold the origin's bytes
    // again: sluice stores the rewritten response itself.
    req.set_pass(filling);
    message::set_request_headers(&mut req, &headers);
    let sent = send::send(req, cx, !rules.is_empty());
    // stale-if-error: a refresh whose origin fails (or answers 5xx) serves
    // the stale entry while its window allows.
    let status = sent.as_ref().ok().map(|r| r.get_status().as_u16());
    let stale = (before.fill.as_mut())
        .filter(|_| origin_failed(status))
        .and_then(|f| f.stale.take());
    if let Some((found, head)) = stale {
        log::warn!("the origin failed a refresh; serving the stale entry");
        let delivered = Delivered::Stale { age: found.age() };
        let answered = cache::serve(&found, &head, delivered, false, &before.visitor, cx);
        return answered.map(Fetched::Answered);
    }
    let mut origin = Parts::of(sent?);
    cx.record.origin_status = Some(origin.status());
    origin_response::head_policy(&mut origin.head.headers, &rules, &cx.settings.rewrite_hosts);
    // Plan content types are honoured here only: on the `origin`
    // backend's response, never on a client request.
    let content_type = origin.header(header::CONTENT_TYPE.as_str());
    let Some(strategy) = stream::detect(content_type, origin.status(), cx.view.is_head) else {
        return Ok(Fetched::Page(Page {
            origin,
            rules,
            before,
        }));
    };
    if let Some(fill) = before.fill {
        flow::not_stored(fill, NotStored::NotRewritten, origin.status(), cx);
    }
    origin_response::add_server_timing(&mut origin.head.headers, cx.elapsed_ms(), "plan");
    let visitor = &before.visitor;
    if visitor.issued {
        let max_age = cx.settings.synthetic_id_max_age;
        let head = &mut origin.head.headers;
        origin_response::issue_synthetic_cookie(head, &visitor.cookie_value, max_age);
    }
    Ok(Fetched::Planned(strategy, origin))
}
