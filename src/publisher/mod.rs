//! The publisher proxy: forward to the `origin` backend, classify the
//! response, and rewrite origin URLs into the edge host while streaming.
//!
//! Phases, in order (see `docs/ARCHITECTURE.md`):
//! identify visitor → prepare upstream request → send → classify →
//! finalise headers → body (stream / buffered / pass-through) → log.

mod body;
mod fetch;
mod headers;
mod identity;

use std::time::Instant;

use error_stack::Report;
use fastly::{Body, Request, Response};
use sluice_core::http::{accept_encoding, classify, BodyHandling, Mode, PassReason, ResponseFacts};
use sluice_core::pipeline::PipelineConfig;

use crate::access_log::AccessRecord;
use crate::config::{OutputEncoding, Settings};
use crate::edge_error::EdgeError;
use crate::request_view::RequestView;

pub use body::send;

/// The publisher origin's backend name in `fastly.toml`.
pub const BACKEND: &str = "origin";

/// What the handler decided to do with the origin's response.
pub enum PublisherResponse {
    /// Rewrite while streaming: the common case.
    Stream {
        /// Head with final headers.
        response: Response,
        /// The origin body, read chunk by chunk.
        body: Body,
        /// How to decode, rewrite and encode it.
        pipeline: PipelineConfig,
    },
    /// Rewrite into memory (up to `cap`) for a whole-document
    /// post-processor; past the cap it streams instead.
    Buffered {
        /// Head with final headers (stream variant; the post-processor
        /// adds `Content-Length` and a strong `ETag`).
        response: Response,
        /// The origin body.
        body: Body,
        /// How to decode, rewrite and encode it.
        pipeline: PipelineConfig,
        /// The buffering cap in bytes.
        cap: usize,
    },
    /// The origin body goes to the host untouched.
    PassThrough(Response, PassReason),
    /// An origin-planned stream (hosted, dispatch, upstream plan): the
    /// `plans` module drives it.
    Planned(crate::plans::Planned),
}

/// Per-request context handed to the handler.
pub struct Ctx<'a> {
    /// When the request started.
    pub started: Instant,
    /// The edge's own view of the client.
    pub view: &'a RequestView,
    /// Settings from the Config Store.
    pub settings: &'a Settings,
}

/// Handles one publisher request up to the point where the body is sent.
pub fn handle_publisher_request(
    req: Request,
    ctx: &Ctx<'_>,
    record: &mut AccessRecord,
) -> Result<PublisherResponse, Report<EdgeError>> {
    let visitor = identity::identify(&req)?;
    let client_ae = req
        .get_header_str(fastly::http::header::ACCEPT_ENCODING)
        .map(str::to_owned);
    let path = req.get_path().to_owned();
    let mut resp = fetch::fetch(req, ctx, &visitor.id)?;
    record.origin_status = Some(resp.get_status().as_u16());

    headers::strip_hop_by_hop_response(&mut resp);
    let rules = fetch::rules_for(ctx)?;
    headers::rewrite_origin_references(&mut resp, &rules, &ctx.settings.rewrite_hosts);
    if visitor.issued {
        headers::set_synthetic_cookie(
            &mut resp,
            &visitor.cookie_value,
            ctx.settings.synthetic_id_max_age,
        );
    }

    // Plan content types are honoured here only: on the `origin` backend's
    // response, never on a client request, and never forwarded.
    if let Some(strategy) = crate::plans::detect(&resp, ctx.view.is_head) {
        headers::server_timing(&mut resp, ctx.started, "plan");
        return Ok(PublisherResponse::Planned(crate::plans::Planned {
            strategy,
            response: resp,
        }));
    }

    let decision = classify(&ResponseFacts {
        is_head: ctx.view.is_head,
        status: resp.get_status().as_u16(),
        content_type: resp.get_header_str(fastly::http::header::CONTENT_TYPE),
        content_encoding: resp.get_header_str(fastly::http::header::CONTENT_ENCODING),
        content_disposition: resp.get_header_str(fastly::http::header::CONTENT_DISPOSITION),
        has_rewrite_hosts: !rules.is_empty(),
        wants_buffering: ctx.settings.wants_buffering(&path),
    });
    let (mode, kind, input) = match decision {
        BodyHandling::PassThrough(reason) => {
            headers::server_timing(&mut resp, ctx.started, Mode::PassThrough.as_str());
            return Ok(PublisherResponse::PassThrough(resp, reason));
        }
        BodyHandling::Rewrite {
            mode,
            kind,
            encoding,
        } => (mode, kind, encoding),
    };

    // The buffered post-processor's exact `Content-Length` and strong
    // `ETag` must describe the bytes the client gets, so a buffered body is
    // encoded by the guest, never left to the host.
    let hint =
        ctx.settings.output_encoding == OutputEncoding::IdentityWithHint && mode != Mode::Buffered;
    let output = match input.header_value() {
        Some(coding) if !hint && accept_encoding::accepts(client_ae.as_deref(), coding) => input,
        _ => sluice_core::encoding::ContentEncoding::Identity,
    };
    let charset = resp
        .get_header_str(fastly::http::header::CONTENT_TYPE)
        .and_then(sluice_core::content_kind::charset_from_content_type)
        .map(str::to_owned);
    headers::for_rewritten_body(&mut resp, output, hint);
    headers::server_timing(&mut resp, ctx.started, mode.as_str());

    let pipeline = fetch::pipeline_config(ctx, rules, input, output, kind, charset);
    let body = resp.take_body();
    Ok(match mode {
        Mode::Buffered => PublisherResponse::Buffered {
            response: resp,
            body,
            pipeline,
            cap: ctx.settings.buffer_max_bytes,
        },
        Mode::Stream | Mode::PassThrough => PublisherResponse::Stream {
            response: resp,
            body,
            pipeline,
        },
    })
}
