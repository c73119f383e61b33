//! The publisher's answer for a page: classify it from its head, decide
//! whether the edge cache keeps it, then hand the body to the host
//! untouched or rewrite it while it streams.

use error_stack::Report;
use fastly::http::{header, FramingHeadersMode, HeaderValue};
use fastly::Response;
use sluice_core::cache::delivery::{Outcome as Delivered, STRIP_FROM_CLIENT};
use sluice_core::cache::NotStored;
use sluice_core::content_kind::{charset_from_content_type, ContentKind};
use sluice_core::http::csp::PolicyHeaders;
use sluice_core::http::output::choose_output;
use sluice_core::http::{classify, origin_response, BodyHandling, PassReason, ResponseFacts};
use sluice_core::limits::PipelineLimits;
use sluice_core::page::{self, Rewrite};
use sluice_core::pipeline::PipelineConfig;

use super::identity::Visitor;
use super::{server_timing, Page};
use crate::cache::{self, Stored};
use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::report;
use crate::lifecycle::message::{self, FastlyHead};
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Classifies the origin's answer and sends it in the chosen mode.
pub fn deliver(page: Page, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    let Page { mut origin, .. } = page;
    let (rules, visitor, fill, delivered) = (page.rules, page.visitor, page.fill, page.delivered);
    let (path, authorized, raw) = (page.path, page.authorized, page.raw);
    let client_accept_encoding = page.client_accept_encoding;
    // A policy with hash sources needs the whole HTML document before its
    // head goes out: that is the Buffered path's job.
    let policies = PolicyHeaders {
        enforce: all_values(&origin, "content-security-policy"),
        report_only: all_values(&origin, "content-security-policy-report-only"),
    };
    let html = origin
        .header(header::CONTENT_TYPE.as_str())
        .is_some_and(|ct| ContentKind::from_content_type(ct) == ContentKind::Html);
    let hashed = (html && !rules.is_empty() && policies.needs_hashes()).then_some(policies);
    let decision = match raw {
        true => BodyHandling::PassThrough(PassReason::Raw),
        false => classify(&ResponseFacts {
            is_head: cx.view.is_head,
            status: origin.status(),
            content_type: origin.header(header::CONTENT_TYPE.as_str()),
            content_encoding: origin.header(header::CONTENT_ENCODING.as_str()),
            content_disposition: origin.header(header::CONTENT_DISPOSITION.as_str()),
            has_rewrite_hosts: !rules.is_empty(),
            wants_buffering: hashed.is_some() || cx.settings.wants_buffering(&path),
        }),
    };
    let (mode, kind, input) = match decision {
        BodyHandling::PassThrough(reason) => {
            let delivered = match fill {
                Some(fill) => cache::not_stored(fill, NotStored::NotRewritten, origin.status(), cx),
                None => delivered,
            };
            server_timing(&mut origin, cx, "passthrough");
            cx.record.mode = "passthrough";
            cx.record.pass_reason = Some(reason.as_str());
            for name in STRIP_FROM_CLIENT {
                origin.head.headers.remove(*name);
            }
            let mut resp = origin.into_response();
            decorate(
                &mut resp,
                &visitor,
                delivered,
                cx.settings.synthetic_id_max_age,
            );
            if cx.view.is_head {
                // The body is empty, so automatic framing would drop the
                // origin's Content-Length; HEAD must report the GET length.
                resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
            } else {
                cx.record.bytes_out = message::response_header(&resp, header::CONTENT_LENGTH)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            return Ok(Outcome::Respond(resp));
        }
        BodyHandling::Rewrite {
            mode,
            kind,
            encoding,
        } => (mode, kind, encoding),
    };
    let output = choose_output(
        input,
        mode,
        cx.settings.output_encoding,
        client_accept_encoding.as_deref(),
    );
    let charset = origin
        .header(header::CONTENT_TYPE.as_str())
        .and_then(charset_from_content_type)
        .map(str::to_owned);
    // The CPU budget reserves what decoding the rest will cost.
    let origin_length = origin
        .header(header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse().ok());
    // The cache decides on the origin's head as it came (its length
    // included), before the rewritten body's headers and the visitor's part.
    let stored = fill.map(|fill| cache::decide(fill, &origin, authorized, input, &path, cx));
    origin_response::for_rewritten_body(
        &mut origin.head.headers,
        output.encoding,
        output.compress_hint,
    );
    server_timing(&mut origin, cx, mode.as_str());
    for name in STRIP_FROM_CLIENT {
        origin.head.headers.remove(*name);
    }
    let (inserter, delivered) = match stored {
        Some(Stored::Fill(inserter)) => (Some(inserter), Delivered::Miss),
        Some(Stored::Pass(delivered)) => (None, delivered),
        None => (None, delivered),
    };
    let max_age = cx.settings.synthetic_id_max_age;
    let (mut head, body) = origin.into_head_and_body();
    if cx.view.is_head {
        // The GET's head, without a body (a HEAD only reads the cache, so
        // it never fills). Manual framing: an empty body must not become
        // `Content-Length: 0` (the GET streams). A buffered path's exact
        // length and strong tag need the body, so its HEAD gets the
        // streamed variant's head.
        cx.record.mode = mode.as_str();
        decorate(&mut head, &visitor, delivered, max_age);
        head.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        return Ok(Outcome::Respond(head));
    }
    let mut config = PipelineConfig::new(input, output.encoding, kind, rules);
    config.limits = PipelineLimits::default()
        .with_max_decoded_bytes(cx.settings.max_decoded_bytes)
        .with_max_brotli_window(cx.settings.max_brotli_window_bytes);
    config.charset = charset;
    config.gzip_level = cx.settings.gzip_level;
    config.brotli_quality = cx.settings.brotli_quality;
    let how = Rewrite {
        config,
        mode,
        hashed,
        origin_length,
    };
    let written = match inserter {
        Some(inserter) => {
            let decorate = move |resp: &mut Response| {
                decorate(resp, &visitor, Delivered::Miss, max_age);
            };
            let inserter = inserter.decorating(Box::new(decorate));
            page::rewrite::<FastlyHead, _, _>(head, body, how, inserter, cx)
        }
        None => {
            decorate(&mut head, &visitor, delivered, max_age);
            page::rewrite::<FastlyHead, _, _>(head, body, how, ToClient, cx)
        }
    };
    written.map(|()| Outcome::Sent).map_err(report)
}

/// The per-request part of a head: the visitor's cookie and what the
/// cache did.
fn decorate(resp: &mut Response, visitor: &Visitor, delivered: Delivered, max_age: u64) {
    super::identity::decorate(visitor, resp, max_age);
    for (name, value) in delivered.headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.append_header(name, v);
        }
    }
}

/// Every text value of a header of the origin's answer.
fn all_values(origin: &crate::lifecycle::message::Parts, name: &str) -> Vec<String> {
    sluice_core::http::headers::values(&origin.head.headers, name)
        .map(str::to_owned)
        .collect()
}
