//! Every kind of traffic, at a glance: the one place that decides which
//! handler owns a request. Routes are checked in order; the publisher
//! proxy owns everything no other route claims. Planned streams are chosen
//! by the `origin` backend's answer, never by the client.

use std::time::Instant;

use error_stack::Report;
use fastly::{Request, Response};
use sluice_core::cache::purge::PURGE_PATH;
use sluice_core::stream::Strategy;

use crate::lifecycle::{self, Cx, EdgeError, Outcome};
use crate::publisher::{Fetched, Prepared};
use crate::{gateway, plans, publisher, purge};

/// A handler: one phase list that fills in the lifecycle.
type Handler = fn(Request, &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>>;

/// Edge-owned routes with a fixed path, one line each (any method: the
/// handler answers `405` itself).
const ROUTES: &[(&str, Handler)] = &[
    (PURGE_PATH, purge::handle), // edge cache purge, POST /_sluice/purge
];

/// Routes one client request through the lifecycle. Returns the response
/// for `main` to send, or `None` when it has gone out already.
pub fn route_request(req: Request, started: Instant) -> Option<Response> {
    lifecycle::serve(req, started, |req, cx| {
        if let Some(claim) = gateway::claims(&req, cx.settings) {
            return gateway::handle(req, claim, cx); // AI gateway (OpenAI-compatible)
        }
        if let Some((_, handle)) = ROUTES.iter().find(|(path, _)| *path == req.get_path()) {
            return handle(req, cx);
        }
        publisher(req, cx) // everything else, and the planned streams below
    })
}

/// The publisher proxy, its edge cache, and the planned streams its origin
/// may answer with.
fn publisher(mut req: Request, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    let before = match publisher::prepare(&mut req, cx)? {
        Prepared::Answered(outcome) => return Ok(outcome), // edge cache hit or 304
        Prepared::Fetch(before) => before,                 // SRI raw URLs are taken back here
    };
    match publisher::fetch(req, before, cx)? {
        Fetched::Answered(outcome) => Ok(outcome), // stale entry, the origin failed
        Fetched::Page(page) => publisher::deliver(page, cx), // stream, buffer or pass through
        Fetched::Planned(Strategy::Hosted, resp) => plans::hosted::relay(resp, cx),
        Fetched::Planned(Strategy::Dispatch, resp) => plans::dispatch::run(resp, cx),
        Fetched::Planned(Strategy::UpstreamPlan, resp) => plans::upstream_plan::run(resp, cx),
    }
}
