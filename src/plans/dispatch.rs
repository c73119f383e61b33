//! Dispatch streams: `sluice_core::stream::drive::run_dispatch` performs a
//! `DispatchSession`'s actions; this host sleeps, POSTs step and close
//! calls to the `origin` backend with the session's per-call timeout, and
//! answers a rejection. Steps go through the backend, never to one
//! instance, so any origin instance can answer any step.

use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::http::{header, Method};
use fastly::Request;
use sluice_core::edge_error::EdgeFault;
use sluice_core::pump;
use sluice_core::stream::dispatch::{DispatchSession, HttpCall, StepFailure};
use sluice_core::stream::drive::{ms_since, run_dispatch, DispatchHost};

use super::{downstream, failed};
use crate::lifecycle::backend::send;
use crate::lifecycle::client::ToClient;
use crate::lifecycle::error::report;
use crate::lifecycle::message::Parts;
use crate::lifecycle::{Cx, EdgeError, Outcome};
use crate::publisher::BACKEND;

/// Runs a dispatch stream from the origin's open message.
pub fn run(mut origin: Parts, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "dispatch";
    let limits = cx.settings.dispatch_limits;
    let open = pump::read_capped(&mut origin.body, limits.max_message_bytes)
        .map_err(|e| failed(cx, "upstream_read", e))?;
    drop(origin);
    let started = Instant::now();
    let mut session = DispatchSession::open(&open, limits, ms_since(started))
        .map_err(|e| failed(cx, e.class().as_str(), e))?;
    let mut down = downstream(cx);
    let end = run_dispatch(&mut session, &mut Host { cx, started }, &mut down);
    cx.record.plan = Some(end.detail);
    end.result.map(|()| Outcome::Sent).map_err(report)
}

/// Fastly's side of a dispatch loop.
struct Host<'a, 'b> {
    cx: &'a mut Cx<'b>,
    started: Instant,
}

impl DispatchHost for Host<'_, '_> {
    type Client = ToClient;

    fn now_ms(&self) -> u64 {
        ms_since(self.started)
    }

    fn sleep(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn step(&mut self, call: &HttpCall) -> Result<(u16, Vec<u8>), StepFailure> {
        call_origin(call).map_err(|report| {
            log::warn!("dispatch step failed, the session decides on a retry: {report:?}");
            report.current_context().step_failure(report.to_string())
        })
    }

    fn close(&mut self, call: &HttpCall) {
        if let Err(report) = call_origin(call) {
            log::warn!("dispatch close call failed: {report:?}");
        }
    }

    fn reject(&mut self, fault: &EdgeFault) {
        crate::lifecycle::answer_now(self.cx, &report(fault.clone()));
    }
}

/// A step or close call: its status and its body, read to the call's cap.
/// The session validated the path (origin-relative, printable ASCII); the
/// host is the backend's own.
fn call_origin(call: &HttpCall) -> Result<(u16, Vec<u8>), Report<EdgeError>> {
    let host = fastly::backend::Backend::from_name(BACKEND)
        .map(|b| b.get_host())
        .map_err(|e| Report::new(EdgeError::OriginUnreachable).attach(e.to_string()))?;
    let url = fastly::http::Url::parse(&format!("http://{host}{}", call.path))
        .map_err(|e| Report::new(EdgeError::Internal).attach(format!("step path: {e}")))?;
    let req = Request::new(Method::POST, url)
        .with_header(header::CONTENT_TYPE, "application/json")
        .with_body(call.body.clone());
    let mut resp = send(req, BACKEND, Some(Duration::from_millis(call.timeout_ms)))?;
    let status = resp.get_status().as_u16();
    let body = pump::read_capped(&mut resp.take_body(), call.max_response_bytes);
    let body = body.map_err(|e| Report::new(EdgeError::OriginRead).attach(e.to_string()))?;
    Ok((status, body))
}
