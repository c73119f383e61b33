//! Hosted streams: the origin streams SSE or NDJSON itself and the edge
//! relays every chunk the moment it arrives.
//!
//! Each origin read is written and flushed on its own: no coalescing, no
//! buffering, no rewrite (an event stream has no documents to rewrite, and
//! re-framing would only add latency). The quiet-gap tolerance is the
//! `origin` backend's `between_bytes_timeout_ms` (60 s by default in
//! `fastly.toml`). When a write fails the client has gone, and the origin
//! body is dropped at once, which closes the origin connection.

use std::io::Read;

use fastly::http::header;
use fastly::Response;
use serde_json::json;

use super::io::{Downstream, READ_CHUNK};
use crate::access_log::AccessRecord;
use crate::publisher::Ctx;

/// Why a hosted relay stopped early.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    /// The origin body broke (reset, between-bytes timeout).
    #[error("reading the origin stream: {0}")]
    Origin(std::io::Error),
    /// The client went away.
    #[error("writing to the client: {0}")]
    Client(std::io::Error),
}

/// Relays the origin's stream to the client.
pub fn relay(mut response: Response, ctx: &Ctx<'_>, mut record: AccessRecord) -> Option<Response> {
    let mut body = response.take_body();
    // The body is re-framed by the host (chunked); a stale length must not
    // survive, and an event stream must never be cached by an intermediary.
    response.remove_header(header::CONTENT_LENGTH);
    record.status = response.get_status().as_u16();
    let mut down = Downstream::new();
    down.prepare(response);

    let mut bytes_in = 0u64;
    let mut chunks = 0u64;
    let mut buf = vec![0u8; READ_CHUNK];
    let result = loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(RelayError::Origin(e)),
        };
        bytes_in += n as u64;
        chunks += 1;
        if let Err(e) = down.write(&buf[..n]) {
            break Err(RelayError::Client(e));
        }
    };
    // Close the origin side first: on a client disconnect this is what tells
    // the origin to stop.
    drop(body);
    record.bytes_in = bytes_in;
    let outcome = match result {
        Ok(()) => match down.finish() {
            Ok(()) => "completed",
            Err(e) => {
                log::info!("hosted stream: client went away at the end: {e}");
                record.abort = Some("client_write".to_owned());
                "client_disconnect"
            }
        },
        Err(RelayError::Client(e)) => {
            log::info!("hosted stream: client went away: {e}");
            record.abort = Some("client_write".to_owned());
            down.abort();
            "client_disconnect"
        }
        Err(e @ RelayError::Origin(_)) if !down.committed() => {
            // Nothing reached the client: a clean 502 instead of a broken 200.
            down.abort();
            let resp = super::io::reject("upstream_read", &e.to_string(), &mut record);
            record.plan = Some(json!({"outcome": "origin_error", "chunks": chunks}));
            record.emit(ctx.started, None);
            return Some(resp);
        }
        Err(e @ RelayError::Origin(_)) => {
            log::error!("hosted stream aborted: {e}");
            record.abort = Some("origin_read".to_owned());
            down.abort();
            "origin_error"
        }
    };
    record.bytes_out = down.bytes_out();
    record.plan = Some(json!({"outcome": outcome, "chunks": chunks}));
    record.emit(ctx.started, down.committed_at());
    None
}
