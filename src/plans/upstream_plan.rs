//! Upstream plans: call the allow-listed backend the plan names; its body
//! feeds an `UpstreamSession` (`sluice_core::stream::drive::feed_upstream`)
//! whose output goes to the client.
//!
//! The plan is validated in full (allow-list, method, path, headers, codec
//! and mapper, limits) before anything is sent, and the request is built
//! from the validated parts only: the plan names a backend, never a URL,
//! so it cannot reach a host the service was not configured for.

use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::backend::Backend;
use fastly::http::{HeaderName, HeaderValue, Method};
use fastly::Request;
use sluice_core::pump;
use sluice_core::stream::drive::{fail_upstream, feed_upstream, ms_since, upstream_detail};
use sluice_core::stream::plan::ValidatedPlan;
use sluice_core::stream::PlanError;

use super::{downstream, failed};
use crate::lifecycle::backend::send;
use crate::lifecycle::error::report;
use crate::lifecycle::message::Parts;
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Runs an upstream plan from the origin's plan body.
pub fn run(mut origin: Parts, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "upstream_plan";
    let policy = &cx.settings.plan_policy;
    let bytes = pump::read_capped(&mut origin.body, policy.max_plan_bytes())
        .map_err(|e| failed(cx, "upstream_read", e))?;
    drop(origin);
    let plan = ValidatedPlan::parse(&bytes, &cx.settings.plan_policy).map_err(|e| {
        if let PlanError::BackendNotAllowed(name) = &e {
            log::warn!("upstream plan named backend {name:?}, which is not on plans.upstream_backends; refused");
        }
        failed(cx, e.class().as_str(), e)
    })?;
    let request = plan.request();
    let req = match Backend::from_name(&request.backend) {
        Ok(b) if b.exists() => {
            build_request(&plan, &b).map_err(|e| failed(cx, "plan_invalid", e))?
        }
        _ => {
            let why = format!(
                "allow-listed backend {:?} is not configured",
                request.backend
            );
            return Err(failed(cx, "upstream_connect", why));
        }
    };

    let mut session = plan.session();
    let mut down = downstream(cx);
    let started = Instant::now();
    let deadline = Duration::from_millis(plan.limits().first_byte_timeout_ms);
    let ended = match send(req, &request.backend, Some(deadline)) {
        Err(report) => {
            let failure = report
                .current_context()
                .upstream_failure(report.to_string());
            fail_upstream(&mut session, failure, &mut down)
        }
        Ok(mut resp) => {
            let status = resp.get_status().as_u16();
            cx.record.origin_status = Some(status);
            let mut upstream = resp.take_body();
            let ended = feed_upstream(
                &mut session,
                status,
                &mut upstream,
                &mut down,
                &mut cx.record,
            );
            // Dropping the upstream body closes the backend connection at
            // once, also when the client went away mid-stream.
            drop(upstream);
            ended
        }
    };
    let upstream_ms = ms_since(started);
    let detail = upstream_detail(&request.backend, &session, upstream_ms, &ended);
    cx.record.plan = Some(detail);
    ended.map(|()| Outcome::Sent).map_err(report)
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
