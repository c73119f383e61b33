//! Origin-planned streams: the edge owns the client connection and drives
//! the stream; the origin answers quickly and only plans.
//!
//! The router picks a strategy from the `origin` backend's answer
//! (`sluice_core::stream::detect`, see `docs/STREAM_PROTOCOLS.md`):
//!
//! * [`hosted`]: `text/event-stream` / `application/x-ndjson` from the
//!   origin, relayed chunk by chunk (flushed per chunk, never rewritten);
//! * [`dispatch`]: `application/vnd.sluice.dispatch+json`, a
//!   `DispatchSession` driven against the origin's step endpoint;
//! * [`upstream_plan`]: `application/vnd.sluice.upstream-plan+json`, an
//!   `UpstreamSession` fed from an allow-listed backend.
//!
//! Every decision, and the loops that carry them out, live in
//! `sluice_core::stream` (`drive`); these modules only send the requests a
//! session asks for, sleep and pass the clock in.

pub mod dispatch;
pub mod hosted;
pub mod upstream_plan;

use error_stack::Report;
use sluice_core::sink::Downstream;

use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::{report, EdgeFault};
use crate::lifecycle::{Cx, EdgeError};

/// A downstream counting into the request's sink counters.
pub fn downstream(cx: &Cx<'_>) -> Downstream<ToClient> {
    Downstream::new(std::rc::Rc::clone(&cx.stats))
}

/// A planned stream's failure before it began: its class goes on the
/// access line and becomes the report's context (the status and
/// `x-sluice-error-class`).
pub fn failed(cx: &mut Cx<'_>, class: &str, detail: impl std::fmt::Display) -> Report<EdgeError> {
    cx.record.plan = Some(serde_json::json!({"class": class}));
    report(EdgeFault::plan(class, detail))
}
