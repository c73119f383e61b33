//! Upstream attempts: send to `llm` (then `llm_fallback` before the first
//! byte), relay the SSE stream event by event, and end it cleanly or with
//! an in-band error event.

use std::io::Write;
use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::http::HeaderValue;
use fastly::{Backend as FastlyBackend, Request};
use sluice_core::ai::auth::ProviderKey;
use sluice_core::ai::fallback::{Backend, Failure, RetryDecision, RetryPolicy};
use sluice_core::ai::provider_headers;
use sluice_core::ai::relay::{FeedError, RelayConfig, SseRelay, StreamEnd};
use sluice_core::ai::request::Prepared;
use sluice_core::ai::routes::Route;
use sluice_core::ai::usage::UsageRecord;
use sluice_core::ai::ApiError;

use super::api;
use crate::lifecycle::message::{self, Parts};
use crate::lifecycle::{backend, Cx, EdgeError, Outcome};
use sluice_core::pump::{pump, Flow, Pumped};

/// Backend names in `fastly.toml`.
const PRIMARY: &str = "llm";
const FALLBACK: &str = "llm_fallback";

/// How one attempt ended.
// One short-lived value per attempt: boxing the response buys nothing.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    /// The request is answered (sent, or a response for `main`).
    Done(Outcome),
    /// Failed before anything reached the client: may fall back.
    Failed(Failure),
}

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
    let fallback_configured = FastlyBackend::from_name(FALLBACK).is_ok_and(|b| b.exists());
    let mut authorization = HeaderValue::from_str(provider.authorization_value())
        .map_err(|_| api(ApiError::bad_gateway()).attach("provider key is not a header value"))?;
    authorization.set_sensitive(true);
    let headers = provider_headers::provider_request(
        &message::request_headers(client),
        &authorization,
        route.has_json_body(),
    );
    let (mut attempt, mut backend) = (1u32, Backend::Primary);
    loop {
        let name = match backend {
            Backend::Primary => PRIMARY,
            Backend::Fallback => FALLBACK,
        };
        cx.record.backend = Some(name);
        cx.record.attempts = attempt;
        let mut req = Request::new(
            client.get_method().clone(),
            format!("http://llm{}", route.upstream_path()),
        );
        message::set_request_headers(&mut req, &headers);
        if route.has_json_body() {
            req.set_body(prepared.body.to_vec());
        }
        let failure = match backend::send(req, name, None) {
            Err(report) => match report.current_context() {
                EdgeError::OriginTimeout => Failure::Timeout,
                EdgeError::OriginInvalid => Failure::Read,
                _ => Failure::Connect,
            },
            Ok(resp) => match respond(Parts::of(resp), prepared, floor, cx)? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Failed(f) => f,
            },
        };
        log::warn!("llm attempt {attempt} on `{name}` failed before the first byte: {failure:?}");
        match policy.decide(attempt, failure, false, fallback_configured) {
            RetryDecision::Retry {
                attempt: next,
                backend: b,
                backoff,
            } => {
                std::thread::sleep(backoff);
                (attempt, backend) = (next, b);
            }
            RetryDecision::GiveUp(why) => {
                return Err(api(failure.api_error()).attach(format!("giving up: {why:?}")));
            }
        }
    }
}

/// Handles one upstream response head.
fn respond(
    mut resp: Parts,
    prepared: &Prepared<'_>,
    floor: bool,
    cx: &mut Cx<'_>,
) -> Result<Attempt, Report<EdgeError>> {
    provider_headers::client_response(&mut resp.head.headers);
    let status = resp.status();
    if let Some(failure) = Failure::from_status(status) {
        if failure.is_retryable() {
            return Ok(Attempt::Failed(failure));
        }
        // Authentication failures are the edge's to own: the provider
        // refused the provider key, not the client's.
        if status == 401 || status == 403 {
            return Err(api(ApiError::bad_gateway())
                .attach(format!("the provider rejected the provider key ({status})")));
        }
        // The request's own fault: the provider's error goes through.
        return Ok(Attempt::Done(Outcome::Respond(resp.into_response())));
    }
    if !prepared.stream && !floor {
        return Ok(Attempt::Done(Outcome::Respond(resp.into_response())));
    }
    provider_headers::event_stream(&mut resp.head.headers);
    let (head, mut upstream) = resp.into_head_and_body();
    let mut sink = cx.sink(head);
    if floor {
        // The benchmark floor: the same body, unparsed, one flush per read.
        pump(&mut upstream, |chunk| {
            sink.write_all(chunk)
                .and_then(|()| sink.flush())
                .map(|()| Flow::More)
        })
        .map_err(|_| Report::new(EdgeError::ClientGone))?;
        sink.finish()
            .map_err(|_| Report::new(EdgeError::ClientGone))?;
        return Ok(Attempt::Done(Outcome::Sent));
    }
    let mut relay = SseRelay::new(RelayConfig::for_request(prepared));
    let (started, mut ttft) = (cx.started, None);
    let pumped = pump(&mut upstream, |chunk| {
        let progress = relay.feed_each(chunk, |event| {
            sink.write_all(event)?;
            sink.flush()
        })?;
        if progress.first_token && ttft.is_none() {
            ttft = Some(started.elapsed());
        }
        Ok::<_, FeedError<std::io::Error>>(if progress.done {
            Flow::Stop
        } else {
            Flow::More
        })
    });
    let failure = match pumped {
        Ok(()) => match relay.finish() {
            StreamEnd::Complete => None,
            StreamEnd::Failed | StreamEnd::Truncated { .. } => Some(ApiError::stream_interrupted()),
        },
        Err(_) if !relay.has_written() => return Ok(Attempt::Failed(Failure::Read)),
        Err(Pumped::Read(e)) => {
            log::warn!("llm stream broke off mid-stream: {e}");
            Some(ApiError::stream_interrupted())
        }
        Err(Pumped::Handler(FeedError::Upstream(e))) => {
            log::warn!("malformed llm stream: {e}");
            Some(e.api_error())
        }
        Err(Pumped::Handler(FeedError::Downstream(e))) => {
            // Dropping the upstream body closes the provider connection,
            // which cancels the completion.
            drop(upstream);
            record_usage(cx, &relay, ttft, started);
            return Err(Report::new(EdgeError::ClientGone).attach(e.to_string()));
        }
    };
    record_usage(cx, &relay, ttft, started);
    let Some(err) = failure else {
        sink.finish()
            .map_err(|e| Report::new(EdgeError::ClientGone).attach(e.to_string()))?;
        return Ok(Attempt::Done(Outcome::Sent));
    };
    // After the first byte a failure is an in-band error event, then a
    // clean end of the HTTP response.
    let mut tail = Vec::new();
    relay.fail(&err, &mut tail);
    let gone = |e: std::io::Error| Report::new(EdgeError::ClientGone).attach(e.to_string());
    sink.write_all(&tail).map_err(gone)?;
    sink.finish().map_err(gone)?;
    Err(api(err))
}

fn record_usage(cx: &mut Cx<'_>, relay: &SseRelay, ttft: Option<Duration>, started: Instant) {
    let usage = UsageRecord::new(relay.usage(), ttft, started.elapsed());
    cx.record.llm = serde_json::from_str(&usage.to_json()).ok();
}
