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

use std::time::Instant;

use error_stack::Report;
use sluice_core::sink::Downstream;

use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::{report, EdgeFault};
use crate::lifecycle::{Cx, EdgeError};

/// A downstream counting into the request's sink counters.
pub fn downstream(cx: &Cx<'_>) -> Downstream<ToClient> {
    Downstream::new(std::rc::Rc::clone(&cx.stats))
}

/// Milliseconds on the stream's monotonic clock.
pub fn now_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A planned stream's failure with its class.
pub fn plan_error(class: &str, detail: impl std::fmt::Display) -> Report<EdgeError> {
    report(EdgeFault::plan(class, detail))
}

/// Records the class of a failure before the stream began and passes the
/// report on with that class.
pub fn failed(cx: &mut Cx<'_>, class: &str, report: Report<EdgeError>) -> Report<EdgeError> {
    cx.record.plan = Some(serde_json::json!({"class": class}));
    report.change_context(EdgeError::Plan(class.to_owned()))
}
