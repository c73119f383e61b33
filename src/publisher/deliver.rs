//! The publisher's answer for a page: classify it from its head, then hand
//! the body to the host untouched or rewrite it while it streams.

use error_stack::Report;
use fastly::http::{header, FramingHeadersMode};
use sluice_core::content_kind::charset_from_content_type;
use sluice_core::http::output::choose_output;
use sluice_core::http::{classify, origin_response, Decision, PassReason, ResponseFacts};
use sluice_core::limits::Limits;
use sluice_core::pipeline::PipelineConfig;

use super::{body, server_timing, Page};
use crate::lifecycle::message;
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Classifies the origin's answer and sends it in the chosen mode.
pub fn deliver(page: Page, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    let Page {
        mut origin,
        rules,
        client_accept_encoding,
        path,
    } = page;
    let decision = classify(&ResponseFacts {
        is_head: cx.view.is_head,
        status: origin.status(),
        content_type: origin.header(header::CONTENT_TYPE.as_str()),
        content_encoding: origin.header(header::CONTENT_ENCODING.as_str()),
        content_disposition: origin.header(header::CONTENT_DISPOSITION.as_str()),
        has_rewrite_hosts: !rules.is_empty(),
        wants_buffering: cx.settings.wants_buffering(&path),
    });
    let (mode, kind, input) = match decision {
        Decision::PassThrough(reason) => {
            server_timing(&mut origin, cx, "passthrough");
            cx.record.mode = "passthrough";
            cx.record.pass_reason = Some(reason.as_str());
            let mut resp = origin.into_response();
            if reason == PassReason::Head {
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
        Decision::Rewrite {
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
    origin_response::for_rewritten_body(
        &mut origin.head.headers,
        output.encoding,
        output.compress_hint,
    );
    server_timing(&mut origin, cx, mode.as_str());
    if cx.view.is_head {
        // The GET's head, without a body. Manual framing: an empty body
        // must not become `Content-Length: 0` (the GET streams). A
        // buffered path's exact length and strong tag need the body, so
        // its HEAD gets the streamed variant's head.
        cx.record.mode = mode.as_str();
        let (mut resp, _) = origin.into_head_and_body();
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        return Ok(Outcome::Respond(resp));
    }

    let mut config = PipelineConfig::new(input, output.encoding, kind, rules);
    config.limits = Limits::default().with_max_decoded_bytes(cx.settings.max_decoded_bytes);
    config.charset = charset;
    config.gzip_level = cx.settings.gzip_level;
    config.brotli_quality = cx.settings.brotli_quality;
    body::rewrite(origin, config, mode, cx)
}
