//! Upstream plans: call the allow-listed backend the plan names, feed its
//! body to an `UpstreamSession`, write what comes out.
//!
//! The plan is validated in full (allow-list, method, path, headers, codec
//! and mapper, limits) before anything is sent, and the request is built
//! from the validated parts only: the plan names a backend, never a URL,
//! so it cannot reach a host the service was not configured for.

use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::backend::Backend;
use fastly::http::{HeaderName, HeaderValue, Method};
use fastly::{Body, Request};
use serde_json::json;
use sluice_core::stream::plan::ValidatedPlan;
use sluice_core::stream::{DownstreamStep, Output, PlanError, UpstreamFailure, UpstreamSession};

use super::{downstream, failed, plan_error, Down};
use crate::lifecycle::backend::{read_capped, send};
use crate::lifecycle::client::ToClient;
use crate::lifecycle::message::{planned_head, Parts};
use crate::lifecycle::pump::{pump, Flow, Pumped};
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// How the request ends once a session output is terminal.
type Ended = Result<Outcome, Report<EdgeError>>;

/// Runs an upstream plan from the origin's plan body.
pub fn run(mut origin: Parts, cx: &mut Cx<'_>) -> Ended {
    cx.record.mode = "upstream_plan";
    let policy = &cx.settings.plan_policy;
    let bytes = read_capped(&mut origin.body, policy.max_plan_bytes())
        .map_err(|r| failed(cx, "upstream_read", r))?;
    drop(origin);
    let plan = ValidatedPlan::parse(&bytes, &cx.settings.plan_policy).map_err(|e| {
        if let PlanError::BackendNotAllowed(name) = &e {
            log::warn!("upstream plan named backend {name:?}, which is not on plans.upstream_backends; refused");
        }
        let class = e.class().as_str();
        failed(cx, class, plan_error(class, e))
    })?;
    let request = plan.request();
    let req = match Backend::from_name(&request.backend) {
        Ok(b) if b.exists() => build_request(&plan, &b)
            .map_err(|e| failed(cx, "plan_invalid", plan_error("plan_invalid", e)))?,
        _ => {
            let why = format!(
                "allow-listed backend {:?} is not configured",
                request.backend
            );
            return Err(failed(
                cx,
                "upstream_connect",
                plan_error("upstream_connect", why),
            ));
        }
    };

    let mut session = plan.session();
    let mut down = downstream(cx);
    let started = Instant::now();
    let deadline = Duration::from_millis(plan.limits().first_byte_timeout_ms);
    let ended = match send(req, &request.backend, Some(deadline)) {
        Err(report) => {
            let failure = match report.current_context() {
                EdgeError::OriginTimeout => UpstreamFailure::Timeout,
                _ => UpstreamFailure::Connect(report.to_string()),
            };
            obey(session.fail(failure), &mut down).unwrap_or_else(|| finish(&mut down))
        }
        Ok(mut resp) => {
            let status = resp.get_status().as_u16();
            cx.record.origin_status = Some(status);
            let mut upstream = resp.take_body();
            let ended = feed(&mut session, &mut upstream, status, &mut down, cx);
            // Dropping the upstream body closes the backend connection at
            // once, also when the client went away mid-stream.
            drop(upstream);
            ended
        }
    };
    let stats = session.stats();
    let mut detail = json!({
        "backend": request.backend,
        "records": stats.records,
        "tokens": stats.tokens,
        "upstream_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    if let Err(report) = &ended {
        if let EdgeError::Plan(class) = report.current_context() {
            detail["class"] = json!(class);
        }
    }
    cx.record.plan = Some(detail);
    ended
}

/// Feeds the upstream status and body to the session until it ends.
fn feed(
    session: &mut UpstreamSession,
    upstream: &mut Body,
    status: u16,
    down: &mut Down,
    cx: &mut Cx<'_>,
) -> Ended {
    if let Some(ended) = obey(session.response_status(status), down) {
        return ended;
    }
    let (mut bytes_in, mut ended) = (0u64, None);
    let pumped = pump(upstream, |chunk| {
        bytes_in += chunk.len() as u64;
        ended = obey(session.feed(chunk), down);
        Ok::<_, ()>(if ended.is_some() {
            Flow::Stop
        } else {
            Flow::More
        })
    });
    cx.record.bytes_in = bytes_in;
    if let Some(ended) = ended {
        return ended;
    }
    let out = match pumped {
        Err(Pumped::Read(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            session.fail(UpstreamFailure::Timeout)
        }
        Err(Pumped::Read(e)) => session.fail(UpstreamFailure::Read(e.to_string())),
        Ok(()) | Err(Pumped::Handler(())) => session.finish(),
    };
    obey(out, down).unwrap_or_else(|| finish(down))
}

/// Ends the stream cleanly (a session that never said how to end).
fn finish(down: &mut Down) -> Ended {
    down.finish()
        .map(|()| Outcome::Sent)
        .map_err(|e| Report::new(EdgeError::ClientGone).attach(e.to_string()))
}

/// Performs one session output: head, bytes (flushed), then what `next`
/// says: `None` to go on, or how the request ends. A failed write means
/// the client left: the stream stops at once.
fn obey(out: Output, down: &mut Down) -> Option<Ended> {
    if let Some(head) = &out.head {
        down.prepare(ToClient, planned_head(head));
    }
    if let Err(e) = down.write(&out.bytes) {
        down.abort();
        return Some(Err(Report::new(EdgeError::ClientGone).attach(e.to_string())));
    }
    match out.next {
        DownstreamStep::Continue => None,
        DownstreamStep::Finish => Some(finish(down)),
        DownstreamStep::Abort => {
            down.abort();
            Some(Err(plan_error(
                "upstream_error",
                "the upstream failed after the first byte",
            )))
        }
        DownstreamStep::Reject(r) => Some(Err(plan_error(&r.class, r.message))),
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
