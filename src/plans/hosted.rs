//! Hosted streams: the origin streams SSE or NDJSON itself and the edge
//! relays every chunk the moment it arrives.
//!
//! Each origin read is written and flushed on its own: no coalescing, no
//! buffering, no rewrite (an event stream has no documents to rewrite, and
//! re-framing would only add latency). The quiet-gap tolerance is the
//! `origin` backend's `between_bytes_timeout_ms`. When a write fails the
//! client has gone, and the origin body is dropped at once, which closes
//! the origin connection.

use error_stack::Report;
use fastly::http::header;
use serde_json::json;

use crate::lifecycle::client::ToClient;
use crate::lifecycle::message::Parts;
use crate::lifecycle::pump::{pump, Flow, Pumped};
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Relays the origin's stream to the client.
pub fn relay(mut origin: Parts, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "hosted";
    // The host re-frames the body (chunked): a stale length must not
    // survive.
    origin.head.headers.remove(header::CONTENT_LENGTH);
    let (head, mut body) = origin.into_head_and_body();
    let mut down = super::downstream(cx);
    down.prepare(ToClient, head);
    let (mut bytes_in, mut chunks) = (0u64, 0u64);
    let result = pump(&mut body, |chunk| {
        bytes_in += chunk.len() as u64;
        chunks += 1;
        down.write(chunk).map(|()| Flow::More)
    });
    // Close the origin side first: on a client disconnect this is what
    // tells the origin to stop.
    drop(body);
    cx.record.bytes_in = bytes_in;
    let (outcome, result) = match result {
        Ok(()) => match down.finish() {
            Ok(()) => ("completed", Ok(Outcome::Sent)),
            Err(e) => ("client_disconnect", Err(gone(e))),
        },
        Err(Pumped::Handler(e)) => ("client_disconnect", Err(gone(e))),
        Err(Pumped::Read(e)) => (
            "origin_error",
            Err(Report::new(EdgeError::OriginRead).attach(e.to_string())),
        ),
    };
    cx.record.plan = Some(json!({"outcome": outcome, "chunks": chunks}));
    result
}

fn gone(e: std::io::Error) -> Report<EdgeError> {
    Report::new(EdgeError::ClientGone).attach(e.to_string())
}
