//! Every kind of traffic, at a glance: the one place that decides which
//! handler owns a request. Routes are checked in order; the publisher
//! proxy owns everything no other route claims. Planned streams are chosen
//! by the `origin` backend's answer, never by the client.

use std::time::Instant;

use error_stack::Report;
use fastly::{Request, Response};
use sluice_core::stream::Strategy;

use crate::lifecycle::{self, Cx, EdgeError, Outcome};
use crate::publisher::Fetched;
use crate::{gateway, plans, publisher};

/// Routes one client request through the lifecycle. Returns the response
/// for `main` to send, or `None` when it has gone out already.
pub fn route_request(req: Request, started: Instant) -> Option<Response> {
    lifecycle::serve(req, started, |req, cx| {
        if let Some(claim) = gateway::claims(&req, cx.settings) {
            return gateway::handle(req, claim, cx); // AI gateway (OpenAI-compatible)
        }
        publisher(req, cx)
    })
}

/// The publisher proxy, and the planned streams its origin may answer with.
fn publisher(req: Request, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    match publisher::fetch(req, cx)? {
        Fetched::Page(resp) => publisher::deliver(resp, cx), // stream, buffer or pass through
        Fetched::Planned(Strategy::Hosted, resp) => plans::hosted::relay(resp, cx),
        Fetched::Planned(Strategy::Dispatch, resp) => plans::dispatch::run(resp, cx),
        Fetched::Planned(Strategy::UpstreamPlan, resp) => plans::upstream_plan::run(resp, cx),
    }
}
