//! Dispatch streams: execute a `DispatchSession`'s actions on Fastly.
//!
//! The session decides everything (pacing, backoff, keep-alives, limits,
//! retries, the close reason); this loop only sleeps, POSTs step and close
//! calls to the `origin` backend with the session's per-call timeout, and
//! writes what it is given. Steps go through the backend, never to one
//! instance, so any origin instance can answer any step.

use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::http::{header, Method};
use fastly::Request;
use serde_json::json;
use sluice_core::stream::dispatch::{Action, DispatchSession, HttpCall, StepFailure};

use super::{downstream, now_ms, plan_error};
use crate::lifecycle::backend::{read_capped, send};
use crate::lifecycle::client::ToClient;
use crate::lifecycle::message::{planned_head, Parts};
use crate::lifecycle::{Cx, EdgeError, Outcome};
use crate::publisher::BACKEND;

/// Runs a dispatch stream from the origin's open message.
pub fn run(mut origin: Parts, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "dispatch";
    let limits = cx.settings.dispatch_limits;
    let open = read_capped(&mut origin.body, limits.max_message_bytes)
        .map_err(|r| super::failed(cx, "upstream_read", r))?;
    drop(origin);
    let started = Instant::now();
    let mut session = DispatchSession::open(&open, limits, now_ms(started))
        .map_err(|e| super::failed(cx, e.class().as_str(), plan_error("plan_invalid", e)))?;

    let mut down = downstream(cx);
    let (mut aborted, mut rejected, mut client_gone) = (false, false, false);
    loop {
        match session.next_action(now_ms(started)) {
            Action::SendHead(head) => down.prepare(ToClient, planned_head(&head)),
            Action::Write(bytes) => {
                if let Err(e) = down.write(&bytes) {
                    log::info!("dispatch: client went away: {e}");
                    down.abort();
                    client_gone = true;
                    session.client_disconnected(now_ms(started));
                }
            }
            Action::Wait { ms } => std::thread::sleep(Duration::from_millis(ms)),
            Action::Step(call) => step(&mut session, &call, started),
            Action::Finish => {
                if down.is_prepared() {
                    if let Err(e) = down.finish() {
                        log::info!("dispatch: client went away at the end: {e}");
                        client_gone = true;
                        session.client_disconnected(now_ms(started));
                    }
                }
            }
            Action::Abort => {
                aborted = true;
                down.abort();
            }
            Action::Reject(r) => {
                // Answered now, not after the close call that follows: the
                // client must not wait on a best-effort call.
                cx.answer_now(&plan_error(&r.class, r.message));
                cx.record.plan = Some(json!({"class": r.class}));
                rejected = true;
            }
            Action::Close(call) => close(&call),
            Action::Done => break,
        }
    }
    if !rejected {
        let stats = session.stats();
        cx.record.plan = Some(json!({
            "close_reason": session.close_reason(),
            "steps": stats.steps,
            "retries": stats.retries,
            "chunks": stats.chunks_sent,
            "keepalives": stats.keepalives,
            "end": if aborted { "aborted" } else { "completed" },
        }));
    }
    match (aborted, client_gone) {
        (true, _) => Err(Report::new(EdgeError::Plan("dispatch_error".into()))),
        (_, true) => Err(Report::new(EdgeError::ClientGone)),
        _ => Ok(Outcome::Sent),
    }
}

/// One step call; reports its outcome to the session.
fn step(session: &mut DispatchSession, call: &HttpCall, started: Instant) {
    let result = call_request(call).and_then(|req| {
        let mut resp = send(req, BACKEND, Some(Duration::from_millis(call.timeout_ms)))?;
        let status = resp.get_status().as_u16();
        read_capped(&mut resp.take_body(), call.max_response_bytes).map(|b| (status, b))
    });
    let now = now_ms(started);
    match result {
        Ok((status, body)) => session.step_response(now, status, &body),
        Err(report) => {
            log::warn!("dispatch step failed, the session decides on a retry: {report:?}");
            let failure = match report.current_context() {
                EdgeError::OriginTimeout => StepFailure::Timeout,
                EdgeError::OriginRead => StepFailure::Read(report.to_string()),
                _ => StepFailure::Connect(report.to_string()),
            };
            session.step_failed(now, failure);
        }
    }
}

/// The best-effort close call: its outcome changes nothing.
fn close(call: &HttpCall) {
    let sent = call_request(call).and_then(|req| {
        let mut resp = send(req, BACKEND, Some(Duration::from_millis(call.timeout_ms)))?;
        read_capped(&mut resp.take_body(), call.max_response_bytes)
    });
    if let Err(report) = sent {
        log::warn!("dispatch close call failed: {report:?}");
    }
}

/// The step or close request. The session validated the path (origin-
/// relative, printable ASCII); the host is the backend's own.
fn call_request(call: &HttpCall) -> Result<Request, Report<EdgeError>> {
    let host = fastly::backend::Backend::from_name(BACKEND)
        .map(|b| b.get_host())
        .map_err(|e| Report::new(EdgeError::OriginUnreachable).attach(e.to_string()))?;
    let url = fastly::http::Url::parse(&format!("http://{host}{}", call.path))
        .map_err(|e| Report::new(EdgeError::Internal).attach(format!("step path: {e}")))?;
    Ok(Request::new(Method::POST, url)
        .with_header(header::CONTENT_TYPE, "application/json")
        .with_body(call.body.clone()))
}
