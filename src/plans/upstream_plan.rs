//! Upstream plans: call the allow-listed backend the plan names, feed its
//! body to an [`UpstreamSession`], write what comes out.
//!
//! The plan is validated in full (allow-list, method, path, headers, codec
//! and mapper, limits) before anything is sent, and the request is built
//! from the validated parts only: the plan names a backend, never a URL,
//! so it cannot reach a host the service was not configured for.

use std::io::Read;
use std::time::Instant;

use fastly::backend::Backend;
use fastly::http::{HeaderName, HeaderValue, Method};
use fastly::{Request, Response};
use serde_json::json;
use sluice_core::stream::plan::ValidatedPlan;
use sluice_core::stream::{DownstreamStep, Output, PlanError, UpstreamFailure, UpstreamSession};

use super::io::{self, head_response, read_capped, send_with_deadline, CallError, READ_CHUNK};
use crate::access_log::AccessRecord;
use crate::publisher::Ctx;

/// What the downstream loop should do after obeying an [`Output`].
enum Step {
    Continue,
    Done,
    Rejected(Box<Response>),
}

/// Runs an upstream plan from the origin's plan body.
pub fn run(mut response: Response, ctx: &Ctx<'_>, mut record: AccessRecord) -> Option<Response> {
    let policy = &ctx.settings.plan_policy;
    let mut body = response.take_body();
    let bytes = match read_capped(&mut body, policy.max_plan_bytes()) {
        Ok(b) => b,
        Err(e) => {
            return Some(fail_early(
                &mut record,
                ctx,
                "upstream_read",
                &e.to_string(),
            ))
        }
    };
    drop(body);
    let plan = match ValidatedPlan::parse(&bytes, policy) {
        Ok(p) => p,
        Err(e) => {
            if let PlanError::BackendNotAllowed(name) = &e {
                log::warn!(
                    "upstream plan named backend {name:?}, which is not on plans.upstream_backends; refused"
                );
            }
            let class = e.class().as_str();
            return Some(fail_early(&mut record, ctx, class, &e.to_string()));
        }
    };
    let request = plan.request();
    let backend = match Backend::from_name(&request.backend) {
        Ok(b) if b.exists() => b,
        _ => {
            let message = format!(
                "allow-listed backend {:?} is not configured on the service",
                request.backend
            );
            return Some(fail_early(&mut record, ctx, "upstream_connect", &message));
        }
    };
    let req = match build_request(&plan, &backend) {
        Ok(r) => r,
        Err(message) => return Some(fail_early(&mut record, ctx, "plan_invalid", &message)),
    };

    let mut session = plan.session();
    let mut down = io::Downstream::new();
    let started = Instant::now();
    let first = match send_with_deadline(req, &request.backend, plan.limits().first_byte_timeout_ms)
    {
        Ok(resp) => Ok(resp),
        Err(CallError::Timeout { .. }) => Err(session.fail(UpstreamFailure::Timeout)),
        Err(e @ CallError::Connect { .. }) => {
            Err(session.fail(UpstreamFailure::Connect(e.to_string())))
        }
    };
    let outcome = match first {
        Err(out) => obey(out, &mut down, &mut record),
        Ok(mut resp) => {
            let status = resp.get_status().as_u16();
            record.origin_status = Some(status);
            let mut upstream = resp.take_body();
            let result = pump(&mut session, &mut upstream, status, &mut down, &mut record);
            // Dropping the upstream body closes the backend connection at
            // once, also when the client went away mid-stream.
            drop(upstream);
            result
        }
    };
    let stats = session.stats();
    let mut detail = json!({
        "backend": request.backend,
        "records": stats.records,
        "tokens": stats.tokens,
        "upstream_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    record.bytes_out = down.bytes_out();
    match outcome {
        Step::Rejected(resp) => {
            if let Some(class) = resp.get_header_str(sluice_core::stream::ERROR_CLASS_HEADER) {
                detail["class"] = json!(class);
            }
            record.plan = Some(detail);
            record.emit(ctx.started, None);
            Some(*resp)
        }
        Step::Continue | Step::Done => {
            record.plan = Some(detail);
            record.emit(ctx.started, down.committed_at());
            None
        }
    }
}

/// Reads the upstream body into the session until it says stop.
fn pump(
    session: &mut UpstreamSession,
    upstream: &mut fastly::Body,
    status: u16,
    down: &mut io::Downstream,
    record: &mut AccessRecord,
) -> Step {
    let out = session.response_status(status);
    match obey(out, down, record) {
        Step::Continue => {}
        other => return other,
    }
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let out = match upstream.read(&mut buf) {
            Ok(0) => session.finish(),
            Ok(n) => {
                record.bytes_in += n as u64;
                session.feed(&buf[..n])
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                session.fail(UpstreamFailure::Timeout)
            }
            Err(e) => session.fail(UpstreamFailure::Read(e.to_string())),
        };
        match obey(out, down, record) {
            Step::Continue => {}
            other => return other,
        }
    }
}

/// Performs one session output: head, bytes (flushed), then what `next`
/// says. A failed write means the client left: the stream stops at once.
fn obey(out: Output, down: &mut io::Downstream, record: &mut AccessRecord) -> Step {
    if let Some(head) = &out.head {
        record.status = head.status;
        down.prepare(head_response(head));
    }
    if let Err(e) = down.write(&out.bytes) {
        log::info!("upstream plan: client went away: {e}");
        record.abort = Some("client_write".to_owned());
        down.abort();
        return Step::Done;
    }
    match out.next {
        DownstreamStep::Continue => Step::Continue,
        DownstreamStep::Finish => {
            if let Err(e) = down.finish() {
                log::info!("upstream plan: client went away at the end: {e}");
                record.abort = Some("client_write".to_owned());
            }
            Step::Done
        }
        DownstreamStep::Abort => {
            log::error!("upstream plan: aborting the text stream after an upstream failure");
            record.abort = Some("upstream_error".to_owned());
            down.abort();
            Step::Done
        }
        DownstreamStep::Reject(r) => {
            Step::Rejected(Box::new(io::reject(&r.class, &r.message, record)))
        }
    }
}

/// The backend request, from the validated plan only.
fn build_request(plan: &ValidatedPlan, backend: &Backend) -> Result<Request, String> {
    let r = plan.request();
    let method = Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
    let url = fastly::http::Url::parse(&format!("http://{}{}", backend.get_host(), r.path))
        .map_err(|e| format!("planned path: {e}"))?;
    let mut req = Request::new(method, url);
    for (name, value) in &r.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        req.append_header(name, value);
    }
    if !r.body.is_empty() {
        req.set_body(r.body.clone());
    }
    Ok(req)
}

fn fail_early(record: &mut AccessRecord, ctx: &Ctx<'_>, class: &str, message: &str) -> Response {
    let resp = io::reject(class, message, record);
    record.plan = Some(json!({"class": class}));
    let done = std::mem::take(record);
    done.emit(ctx.started, None);
    resp
}
