//! The publisher proxy: forward to the `origin` backend, then stream,
//! buffer or pass through its answer, rewriting origin URLs into the edge
//! host as the body streams.
//!
//! Phases (docs/ARCHITECTURE.md): identify the visitor → prepare the
//! origin request → send → origin head policy → plan detection (router) →
//! classify → rewritten-body headers → body → access line (lifecycle).

mod body;
mod deliver;
mod identity;

use error_stack::Report;
use fastly::http::{header, Method};
use fastly::Request;
use sluice_core::http::{origin_request, origin_response, upload};
use sluice_core::rewrite::RewriteRules;
use sluice_core::stream::{self, Strategy};

use crate::lifecycle::backend;
use crate::lifecycle::message::{self, Parts};
use crate::lifecycle::{Cx, EdgeError};

pub use deliver::deliver;

/// The publisher origin's backend name in `fastly.toml`.
pub const BACKEND: &str = "origin";

/// An origin answer that is a page (or any non-planned response).
pub struct Page {
    /// The origin's head (after the head policy) and body.
    pub origin: Parts,
    /// The rewrite rules for this request's edge host.
    pub rules: RewriteRules,
    /// The client's `Accept-Encoding`, for the output choice.
    pub client_accept_encoding: Option<String>,
    /// The request path, for the buffered-path decision.
    pub path: String,
}

/// What the origin answered.
pub enum Fetched {
    /// A response for the publisher path.
    Page(Page),
    /// A planned stream the edge drives (hosted, dispatch, upstream plan).
    Planned(Strategy, Parts),
}

/// Sends the client request to the origin and applies the head policy.
pub fn fetch(mut req: Request, cx: &mut Cx<'_>) -> Result<Fetched, Report<EdgeError>> {
    let visitor = identity::identify(&req)?;
    let client_accept_encoding =
        message::header(&req, header::ACCEPT_ENCODING).map(str::to_owned);
    let path = req.get_path().to_owned();
    let rules = RewriteRules::new(
        &cx.settings.rewrite_hosts,
        cx.view.scheme,
        &cx.view.authority,
    )
    .map_err(|e| Report::new(EdgeError::Config(format!("rewrite rules: {e}"))))?;

    let mut headers = message::request_headers(&req);
    origin_request::prepare(&mut headers, &cx.view, Some(&visitor.id));
    message::set_request_headers(&mut req, &headers);
    let origin = Parts::of(send(req, cx, !rules.is_empty())?);
    cx.record.origin_status = Some(origin.status());

    let mut origin = origin;
    let head = &mut origin.head.headers;
    sluice_core::http::headers::strip_hop_by_hop(head);
    origin_response::point_at_edge(head, &rules, &cx.settings.rewrite_hosts);
    if visitor.issued {
        origin_response::issue_synthetic_cookie(
            head,
            &visitor.cookie_value,
            cx.settings.synthetic_id_max_age,
        );
    }
    // Plan content types are honoured here only: on the `origin`
    // backend's response, never on a client request.
    let content_type = origin.header(header::CONTENT_TYPE.as_str());
    if let Some(strategy) = stream::detect(content_type, origin.status(), cx.view.is_head) {
        server_timing(&mut origin, cx, "plan");
        return Ok(Fetched::Planned(strategy, origin));
    }
    Ok(Fetched::Page(Page {
        origin,
        rules,
        client_accept_encoding,
        path,
    }))
}

/// Sends to `origin` with the upload policy, and asks again without
/// `Range` when a `206` of a processable type comes back (the edge cannot
/// rewrite a fragment; a server may always ignore `Range`).
fn send(req: Request, cx: &Cx<'_>, rewrites: bool) -> Result<fastly::Response, Report<EdgeError>> {
    let policy = upload::upload_policy(
        message::header(&req, header::CONTENT_LENGTH),
        req.has_body(),
        cx.settings.upload_max_bytes,
    )
    .map_err(|e| {
        let kind = match e {
            upload::UploadError::TooLarge { .. } => EdgeError::PayloadTooLarge,
            upload::UploadError::BadLength => EdgeError::BadRequest,
        };
        Report::new(kind).attach(e.to_string())
    })?;
    let retry = (req.get_method() == Method::GET && req.contains_header(header::RANGE))
        .then(|| req.clone_without_body());
    let resp = match policy {
        upload::Upload::Handle => backend::send(req, BACKEND, None)?,
        upload::Upload::Counted(limit) => backend::send_counted(req, BACKEND, limit)?,
    };
    let ct = message::response_header(&resp, header::CONTENT_TYPE);
    match retry {
        Some(mut retry)
            if upload::refetch_whole(resp.get_status().as_u16(), ct, true, rewrites) =>
        {
            log::debug!("206 of a processable type: fetching it whole to rewrite it");
            retry.remove_header(header::RANGE);
            retry.remove_header(header::IF_RANGE);
            backend::send(retry, BACKEND, None)
        }
        _ => Ok(resp),
    }
}

/// Adds `Server-Timing: edge;dur=…, mode;desc=<mode>`.
pub fn server_timing(origin: &mut Parts, cx: &Cx<'_>, mode: &str) {
    let value = origin_response::server_timing(cx.elapsed_ms(), mode);
    if let Ok(v) = fastly::http::HeaderValue::from_str(&value) {
        origin.head.headers.append("server-timing", v);
    }
}
