//! Dispatch streams: execute a [`DispatchSession`]'s actions on Fastly.
//!
//! The session decides everything (pacing, backoff, keep-alives, limits,
//! retries, the close reason); this loop only sleeps, POSTs step and close
//! calls to the `origin` backend with the session's per-call timeout, and
//! writes what it is given. Steps go through the backend, never to one
//! instance, so any origin instance can answer any step.

use std::time::Instant;

use fastly::http::{header, Method};
use fastly::{Request, Response};
use serde_json::json;
use sluice_core::stream::dispatch::{Action, DispatchSession, HttpCall, StepFailure};

use super::io::{self, head_response, now_ms, read_capped, send_with_deadline, CallError};
use crate::access_log::AccessRecord;
use crate::publisher::{Ctx, BACKEND};

/// Runs a dispatch stream from the origin's open message.
pub fn run(mut response: Response, ctx: &Ctx<'_>, mut record: AccessRecord) -> Option<Response> {
    let limits = ctx.settings.dispatch_limits;
    let mut body = response.take_body();
    let open = match read_capped(&mut body, limits.max_message_bytes) {
        Ok(bytes) => bytes,
        Err(e) => {
            let resp = io::reject(
                "upstream_read",
                &format!("reading the open: {e}"),
                &mut record,
            );
            record.plan = Some(json!({"class": "upstream_read"}));
            record.emit(ctx.started, None);
            return Some(resp);
        }
    };
    drop(body);
    let started = Instant::now();
    let mut session = match DispatchSession::open(&open, limits, now_ms(started)) {
        Ok(s) => s,
        Err(e) => {
            let class = e.class().as_str();
            let resp = io::reject(class, &e.to_string(), &mut record);
            record.plan = Some(json!({"class": class}));
            record.emit(ctx.started, None);
            return Some(resp);
        }
    };

    let mut down = io::Downstream::new();
    let mut rejected = false;
    let mut ended = "completed";
    loop {
        match session.next_action(now_ms(started)) {
            Action::SendHead(head) => {
                record.status = head.status;
                down.prepare(head_response(&head));
            }
            Action::Write(bytes) => {
                if let Err(e) = down.write(&bytes) {
                    log::info!("dispatch: client went away: {e}");
                    down.abort();
                    session.client_disconnected(now_ms(started));
                }
            }
            Action::Wait { ms } => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Action::Step(call) => step(&mut session, &call, started),
            Action::Finish => {
                if down.is_prepared() {
                    if let Err(e) = down.finish() {
                        log::info!("dispatch: client went away at the end: {e}");
                        session.client_disconnected(now_ms(started));
                    }
                }
            }
            Action::Abort => {
                ended = "aborted";
                down.abort();
            }
            Action::Reject(r) => {
                // Sent now, not after the close call that follows: the
                // client should not wait on a best-effort call.
                io::reject(&r.class, &r.message, &mut record).send_to_client();
                rejected = true;
                record.plan = Some(json!({"class": r.class}));
            }
            Action::Close(call) => close(&call),
            Action::Done => break,
        }
    }

    let stats = session.stats();
    let reason = session
        .close_reason()
        .map(|r| serde_json::to_value(r).unwrap_or_default());
    if !rejected {
        record.plan = Some(json!({
            "close_reason": reason,
            "steps": stats.steps,
            "retries": stats.retries,
            "chunks": stats.chunks_sent,
            "keepalives": stats.keepalives,
            "end": ended,
        }));
        if ended == "aborted" {
            record.abort = Some("dispatch_error".to_owned());
        }
    }
    record.bytes_out = down.bytes_out();
    record.emit(ctx.started, down.committed_at());
    None
}

/// One step call; reports its outcome to the session.
fn step(session: &mut DispatchSession, call: &HttpCall, started: Instant) {
    let req = match call_request(call) {
        Ok(r) => r,
        Err(e) => return session.step_failed(now_ms(started), StepFailure::Connect(e)),
    };
    match send_with_deadline(req, BACKEND, call.timeout_ms) {
        Ok(mut resp) => {
            let status = resp.get_status().as_u16();
            let mut body = resp.take_body();
            match read_capped(&mut body, call.max_response_bytes) {
                Ok(bytes) => session.step_response(now_ms(started), status, &bytes),
                Err(e) => session.step_failed(now_ms(started), StepFailure::Read(e.to_string())),
            }
        }
        Err(CallError::Timeout { .. }) => {
            session.step_failed(now_ms(started), StepFailure::Timeout)
        }
        Err(e @ CallError::Connect { .. }) => {
            log::warn!("dispatch step failed, the session decides on a retry: {e}");
            session.step_failed(now_ms(started), StepFailure::Connect(e.to_string()));
        }
    }
}

/// The best-effort close call: its outcome changes nothing.
fn close(call: &HttpCall) {
    let req = match call_request(call) {
        Ok(r) => r,
        Err(e) => return log::warn!("dispatch close call not sent: {e}"),
    };
    match send_with_deadline(req, BACKEND, call.timeout_ms) {
        Ok(mut resp) => {
            let mut body = resp.take_body();
            let _ = read_capped(&mut body, call.max_response_bytes);
        }
        Err(e) => log::warn!("dispatch close call failed: {e}"),
    }
}

/// The step or close request. The session validated the path (origin-
/// relative, printable ASCII); the host is the backend's own.
fn call_request(call: &HttpCall) -> Result<Request, String> {
    let host = fastly::backend::Backend::from_name(BACKEND)
        .map(|b| b.get_host())
        .map_err(|e| format!("backend `{BACKEND}`: {e}"))?;
    let url = fastly::http::Url::parse(&format!("http://{host}{}", call.path))
        .map_err(|e| format!("step path: {e}"))?;
    Ok(Request::new(Method::POST, url)
        .with_header(header::CONTENT_TYPE, "application/json")
        .with_body(call.body.clone()))
}
