//! Origin-planned streams: the edge owns the client connection and drives
//! the stream; the origin answers quickly and only plans.
//!
//! Three strategies, chosen by the origin response's `Content-Type` (see
//! `docs/STREAM_PROTOCOLS.md`):
//!
//! * [`hosted`]: `text/event-stream` / `application/x-ndjson` from the
//!   origin, relayed chunk by chunk (flushed per chunk, never rewritten);
//! * [`dispatch`]: `application/vnd.sluice.dispatch+json`, a
//!   [`DispatchSession`](sluice_core::stream::dispatch::DispatchSession)
//!   driven against the origin's step endpoint;
//! * [`upstream_plan`]: `application/vnd.sluice.upstream-plan+json`, an
//!   [`UpstreamSession`](sluice_core::stream::UpstreamSession) fed from an
//!   allow-listed backend.
//!
//! Every decision lives in `sluice_core::stream`; this module only performs
//! I/O: it sends the requests a session asks for, reads bodies, sleeps,
//! passes the clock in, and writes what it is told to the [`ClientSink`].
//! Plan content types are only ever recognised on the `origin` backend's
//! response (this module is reached from the publisher handler, after
//! `fetch` sent the client request to `origin`), and a plan response is never
//! forwarded: its body is consumed here.

mod dispatch;
mod hosted;
mod io;
mod upstream_plan;

use fastly::http::header;
use fastly::Response;
use sluice_core::stream::dispatch::DISPATCH_CONTENT_TYPE;
use sluice_core::stream::plan::UPSTREAM_PLAN_CONTENT_TYPE;

use crate::access_log::AccessRecord;
use crate::publisher::Ctx;

/// Which strategy an origin response asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The origin streams SSE or NDJSON itself: relay chunk by chunk.
    Hosted,
    /// A dispatch open message.
    Dispatch,
    /// An upstream plan.
    UpstreamPlan,
}

impl Strategy {
    /// The access-log mode.
    fn mode(self) -> &'static str {
        match self {
            Strategy::Hosted => "hosted",
            Strategy::Dispatch => "dispatch",
            Strategy::UpstreamPlan => "upstream_plan",
        }
    }
}

/// An origin response handed over to this module.
pub struct Planned {
    /// The strategy its content type selected.
    pub strategy: Strategy,
    /// The `origin` backend's response (head already finalised for hosted
    /// streams; for plans only the body is used).
    pub response: Response,
}

/// The strategy for a response from the `origin` backend, if any.
///
/// Plans are recognised whatever the status (a plan is never forwarded,
/// even by mistake); hosted streams only for 2xx bodies of a non-`HEAD`
/// request, since anything else has no stream to relay and the publisher's
/// normal path handles it.
pub fn detect(resp: &Response, is_head: bool) -> Option<Strategy> {
    let ct = resp.get_header_str(header::CONTENT_TYPE)?;
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(DISPATCH_CONTENT_TYPE) {
        return Some(Strategy::Dispatch);
    }
    if media.eq_ignore_ascii_case(UPSTREAM_PLAN_CONTENT_TYPE) {
        return Some(Strategy::UpstreamPlan);
    }
    let hosted = media.eq_ignore_ascii_case("text/event-stream")
        || media.eq_ignore_ascii_case("application/x-ndjson");
    let status = resp.get_status().as_u16();
    (hosted && !is_head && (200..300).contains(&status) && status != 204 && status != 205)
        .then_some(Strategy::Hosted)
}

/// Runs a planned response to its end. Returns a response for `main` to
/// send when nothing was streamed here (a 502 before the first byte).
pub fn run(planned: Planned, ctx: &Ctx<'_>, mut record: AccessRecord) -> Option<Response> {
    record.mode = planned.strategy.mode();
    match planned.strategy {
        Strategy::Hosted => hosted::relay(planned.response, ctx, record),
        Strategy::Dispatch => dispatch::run(planned.response, ctx, record),
        Strategy::UpstreamPlan => upstream_plan::run(planned.response, ctx, record),
    }
}
