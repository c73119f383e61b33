//! Hosted streams: the origin streams SSE or NDJSON itself and the edge
//! relays every chunk the moment it arrives
//! (`sluice_core::stream::drive::relay_hosted`: flushed per read, never
//! re-framed or rewritten). The quiet-gap tolerance is the `origin`
//! backend's `between_bytes_timeout_ms`.

use error_stack::Report;
use fastly::http::header;
use sluice_core::stream::drive::relay_hosted;

use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::report;
use crate::lifecycle::message::Parts;
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Relays the origin's stream to the client.
pub fn relay(mut origin: Parts, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "hosted";
    // The host re-frames the body (chunked): a stale length must not
    // survive.
    origin.head.headers.remove(header::CONTENT_LENGTH);
    let (head, body) = origin.into_head_and_body();
    let mut down = super::downstream(cx);
    down.prepare(ToClient, head);
    let relayed = relay_hosted(body, &mut down, &mut cx.record);
    relayed.map(|()| Outcome::Sent).map_err(report)
}
