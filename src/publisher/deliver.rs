//! The publisher's answer for a page: plan it from its head
//! (`sluice_core::page::plan`), decide whether the edge cache keeps it,
//! then hand the body to the host untouched or rewrite it while it streams
//! (`sluice_core::page::rewrite`).

use error_stack::Report;
use fastly::http::{header, FramingHeadersMode, HeaderValue};
use fastly::Response;
use sluice_core::cache::delivery::{Outcome as Delivered, STRIP_FROM_CLIENT};
use sluice_core::cache::flow::{self, OriginAnswer, Stored};
use sluice_core::cache::NotStored;
use sluice_core::http::headers::first;
use sluice_core::http::origin_response::{self, add_server_timing};
use sluice_core::http::PassReason;
use sluice_core::page::{self, PageFacts, PagePlan};

use super::identity::{self, Visitor};
use super::{Before, Page};
use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::report;
use crate::lifecycle::message::{FastlyHead, Parts};
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Plans the origin's answer and sends it in the chosen mode.
pub fn deliver(page: Page, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    let Page {
        mut origin, before, ..
    } = page;
    let facts = PageFacts {
        status: origin.status(),
        is_head: cx.view.is_head,
        raw: before.raw,
        path: &before.path,
        client_accept_encoding: first(&before.headers, "accept-encoding"),
    };
    let (how, input, output) =
        match page::plan(&origin.head.headers, facts, page.rules, cx.settings) {
            PagePlan::Rewrite { how, input, output } => (how, input, output),
            PagePlan::PassThrough(reason) => return Ok(pass_through(origin, reason, before, cx)),
        };
    // The cache decides on the origin's head as it came (its length
    // included), before the rewritten body's headers and the visitor's part.
    let authorized = before.headers.contains_key(header::AUTHORIZATION);
    let Before {
        visitor,
        fill,
        delivered,
        path,
        ..
    } = before;
    let stored = fill.map(|fill| {
        let (status, headers) = (origin.status(), &origin.head.headers);
        let answer = OriginAnswer {
            status,
            headers,
            authorized,
            input,
            path: &path,
        };
        flow::decide(fill, answer, identity::random, cx)
    });
    origin_response::for_rewritten_body(
        &mut origin.head.headers,
        output.encoding,
        output.compress_hint,
    );
    add_server_timing(&mut origin.head.headers, cx.elapsed_ms(), how.mode.as_str());
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
        cx.record.mode = how.mode.as_str();
        decorate(&mut head, &visitor, delivered, max_age);
        head.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        return Ok(Outcome::Respond(head));
    }
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

/// Hands the origin's body handle to the host untouched (no byte enters
/// the guest); an entry this request owed the cache is left unfilled.
fn pass_through(mut origin: Parts, reason: PassReason, before: Before, cx: &mut Cx<'_>) -> Outcome {
    let delivered = match before.fill {
        Some(fill) => flow::not_stored(fill, NotStored::NotRewritten, origin.status(), cx),
        None => before.delivered,
    };
    add_server_timing(&mut origin.head.headers, cx.elapsed_ms(), "passthrough");
    cx.record.mode = "passthrough";
    cx.record.pass_reason = Some(reason.as_str());
    for name in STRIP_FROM_CLIENT {
        origin.head.headers.remove(*name);
    }
    let length = origin.header(header::CONTENT_LENGTH.as_str());
    let length = length.and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut resp = origin.into_response();
    let max_age = cx.settings.synthetic_id_max_age;
    decorate(&mut resp, &before.visitor, delivered, max_age);
    if cx.view.is_head {
        // The body is empty, so automatic framing would drop the origin's
        // Content-Length; HEAD must report the GET length.
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
    } else {
        cx.record.bytes_out = length;
    }
    Outcome::Respond(resp)
}

/// The per-request part of a head: the visitor's cookie and what the
/// cache did.
fn decorate(resp: &mut Response, visitor: &Visitor, delivered: Delivered, max_age: u64) {
    identity::decorate(visitor, resp, max_age);
    for (name, value) in delivered.headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.append_header(name, v);
        }
    }
}
