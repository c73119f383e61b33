//! Upstream attempts: send to `llm` (then `llm_fallback` before the first
//! byte) as `sluice_core::ai::drive::run_attempts` decides, and relay the
//! SSE stream event by event (`relay_events`).

use std::io::Write;
use std::time::Duration;

use error_stack::Report;
use fastly::http::HeaderValue;
use fastly::{Backend as FastlyBackend, Request};
use sluice_core::ai::auth::ProviderKey;
use sluice_core::ai::drive::{on_head, relay_events, run_attempts, Attempted, OnHead, Relayed};
use sluice_core::ai::fallback::{Backend, Failure, RetryPolicy};
use sluice_core::ai::provider_headers;
use sluice_core::ai::relay::{RelayConfig, SseRelay};
use sluice_core::ai::request::Prepared;
use sluice_core::ai::routes::Route;
use sluice_core::ai::ApiError;
use sluice_core::pump::{pump, Flow};

use super::api;
use crate::lifecycle::error::report;
use crate::lifecycle::message::{self, Parts};
use crate::lifecycle::{backend, Cx, EdgeError, Outcome};

/// Runs the attempts for one request.
pub fn run(
    client: &Request,
    route: Route,
    prepared: &Prepared<'_>,
    provider: &ProviderKey,
    floor: bool,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>> {
    let policy = RetryPolicy::default()
        .with_max_attempts(cx.settings.ai_max_attempts)
        .with_initial_backoff(Duration::from_millis(cx.settings.ai_backoff_ms));
    let fallback = FastlyBackend::from_name(Backend::Fallback.name()).is_ok_and(|b| b.exists());
    let mut authorization = HeaderValue::from_str(provider.authorization_value())
        .map_err(|_| api(ApiError::bad_gateway()).attach("provider key is not a header value"))?;
    authorization.set_sensitive(true);
    let headers = provider_headers::provider_request(
        &message::request_headers(client),
        &authorization,
        route.has_json_body(),
    );
    let answered = run_attempts(&policy, fallback, std::thread::sleep, |n, to| {
        let name = to.name();
        (cx.record.backend, cx.record.attempts) = (Some(name), n);
        let mut req = Request::new(
            client.get_method().clone(),
            format!("http://llm{}", route.upstream_path()),
        );
        message::set_request_headers(&mut req, &headers);
        if route.has_json_body() {
            req.set_body(prepared.body.to_vec());
        }
        match backend::send(req, name, None) {
            Ok(resp) => respond(Parts::of(resp), prepared, floor, cx),
            Err(report) => Ok(Attempted::Failed(
                report.current_context().attempt_failure(),
            )),
        }
    })?;
    answered.map_err(|gave_up| {
        let why = format!("giving up: {:?}", gave_up.why);
        api(gave_up.failure.api_error()).attach(why)
    })?
}

/// Handles one upstream response head.
fn respond(
    mut resp: Parts,
    prepared: &Prepared<'_>,
    floor: bool,
    cx: &mut Cx<'_>,
) -> Result<Attempted<Result<Outcome, Report<EdgeError>>>, Report<EdgeError>> {
    provider_headers::client_response(&mut resp.head.headers);
    match on_head(resp.status(), prepared.stream || floor) {
        OnHead::Retry(failure) => return Ok(Attempted::Failed(failure)),
        OnHead::KeyRefused => {
            let why = format!("the provider rejected the provider key ({})", resp.status());
            return Err(api(ApiError::bad_gateway()).attach(why));
        }
        OnHead::Pass => return Ok(Attempted::Done(Ok(Outcome::Respond(resp.into_response())))),
        OnHead::Stream => {}
    }
    provider_headers::event_stream(&mut resp.head.headers);
    let (head, mut upstream) = resp.into_head_and_body();
    let mut sink = crate::lifecycle::sink(cx, head);
    if floor {
        // The benchmark floor: the same body, unparsed, one flush per read.
        let copied = pump(&mut upstream, |c| {
            (sink.write_all(c).and_then(|()| sink.flush())).map(|()| Flow::More)
        });
        copied.map_err(|_| Report::new(EdgeError::ClientGone))?;
        sink.finish()
            .map_err(|_| Report::new(EdgeError::ClientGone))?;
        return Ok(Attempted::Done(Ok(Outcome::Sent)));
    }
    let mut relay = SseRelay::new(RelayConfig::for_request(prepared));
    match relay_events(upstream, sink, &mut relay, cx.started) {
        Relayed::Retry => Ok(Attempted::Failed(Failure::Read)),
        Relayed::Ended(ended, usage) => {
            cx.record.llm = serde_json::from_str(&usage.to_json()).ok();
            Ok(Attempted::Done(
                ended.map(|()| Outcome::Sent).map_err(report),
            ))
        }
    }
}
