//! Upstream attempts: send to `llm` (then `llm_fallback` before the first
//! byte), relay the SSE stream event by event, and end it cleanly.

use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fastly::http::header;
use fastly::{Backend as FastlyBackend, Request, Response};
use sluice_core::ai::auth::ProviderKey;
use sluice_core::ai::fallback::{Backend, Failure, RetryDecision, RetryPolicy};
use sluice_core::ai::relay::{FeedError, RelayConfig, SseRelay, StreamEnd};
use sluice_core::ai::request::Prepared;
use sluice_core::ai::routes::Route;
use sluice_core::ai::usage::UsageRecord;
use sluice_core::ai::ApiError;
use sluice_core::http::hop_by_hop;

use super::error_response;
use crate::access_log::AccessRecord;
use crate::config::Settings;
use crate::sink::{ClientSink, SinkStats};

/// Backend names in `fastly.toml`.
const PRIMARY: &str = "llm";
const FALLBACK: &str = "llm_fallback";

/// How one attempt ended.
// One short-lived value per attempt: boxing the response buys nothing.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    /// The response is done (sent, or returned for `main` to send).
    Done(Option<Response>),
    /// Failed before anything reached the client: may fall back.
    Failed(Failure),
}

/// Runs the attempts for one request.
#[allow(clippy::too_many_arguments)]
pub fn run(
    client: &Request,
    route: Route,
    prepared: &Prepared<'_>,
    provider: &ProviderKey,
    settings: &Settings,
    floor: bool,
    started: Instant,
    mut record: AccessRecord,
) -> Option<Response> {
    let policy = RetryPolicy::default()
        .with_max_attempts(settings.ai_max_attempts)
        .with_initial_backoff(Duration::from_millis(settings.ai_backoff_ms));
    let fallback_configured = FastlyBackend::from_name(FALLBACK).is_ok_and(|b| b.exists());
    let mut attempt = 1u32;
    let mut backend = Backend::Primary;
    loop {
        let name = match backend {
            Backend::Primary => PRIMARY,
            Backend::Fallback => FALLBACK,
        };
        record.backend = Some(name);
        record.attempts = attempt;
        let upstream = upstream_request(client, route, prepared, provider);
        let outcome = match upstream.send(name) {
            Err(e) => Outcome::Failed(send_failure(&e)),
            Ok(resp) => respond(resp, prepared, floor, started, &mut record),
        };
        let failure = match outcome {
            Outcome::Done(resp) => return resp,
            Outcome::Failed(f) => f,
        };
        log::warn!("llm attempt {attempt} on `{name}` failed before the first byte: {failure:?}");
        match policy.decide(attempt, failure, false, fallback_configured) {
            RetryDecision::Retry {
                attempt: next,
                backend: b,
                backoff,
            } => {
                std::thread::sleep(backoff);
                attempt = next;
                backend = b;
            }
            RetryDecision::GiveUp(why) => {
                log::warn!("giving up after {attempt} attempt(s): {why:?}");
                let err = failure.api_error();
                record.status = err.status();
                record.error_class = Some(err.kind());
                record.emit(started, None);
                return Some(error_response(&err));
            }
        }
    }
}

/// The request the provider sees: the client's headers minus its key,
/// cookies and connection-scoped or spoofable headers, plus the provider
/// key. Identity encoding, so the edge can read the event stream.
fn upstream_request(
    client: &Request,
    route: Route,
    prepared: &Prepared<'_>,
    provider: &ProviderKey,
) -> Request {
    let mut req = Request::new(
        client.get_method().clone(),
        format!("http://llm{}", route.upstream_path()),
    );
    for (name, value) in client.get_headers() {
        let n = name.as_str();
        if hop_by_hop::is_reserved(n)
            || n.eq_ignore_ascii_case("authorization")
            || n.eq_ignore_ascii_case("cookie")
            || n.eq_ignore_ascii_case("accept-encoding")
        {
            continue;
        }
        req.append_header(name.clone(), value.clone());
    }
    req.set_header(header::AUTHORIZATION, provider.authorization_value());
    req.set_header(header::ACCEPT_ENCODING, "identity");
    if route.has_json_body() {
        req.set_header(header::CONTENT_TYPE, "application/json");
        req.set_body(prepared.body.to_vec());
    }
    req
}

fn send_failure(e: &fastly::http::request::SendError) -> Failure {
    use fastly::http::request::SendErrorCause as Cause;
    match e.root_cause() {
        Cause::HttpResponseTimeout | Cause::ConnectionTimeout | Cause::DnsTimeout => {
            Failure::Timeout
        }
        Cause::HttpIncompleteResponse | Cause::ConnectionTerminated => Failure::Read,
        _ => Failure::Connect,
    }
}

/// Handles one upstream response head.
fn respond(
    mut resp: Response,
    prepared: &Prepared<'_>,
    floor: bool,
    started: Instant,
    record: &mut AccessRecord,
) -> Outcome {
    let status = resp.get_status().as_u16();
    strip_response_headers(&mut resp);
    if let Some(failure) = Failure::from_status(status) {
        if failure.is_retryable() {
            return Outcome::Failed(failure);
        }
        // The request's own fault: pass the provider's error through,
        // except authentication failures, which are the edge's to own.
        record.status = status;
        std::mem::take(record).emit(started, None);
        if status == 401 || status == 403 {
            log::error!("the provider rejected the provider key (status {status})");
            return Outcome::Done(Some(error_response(&ApiError::bad_gateway())));
        }
        return Outcome::Done(Some(resp));
    }
    record.status = status;
    if floor {
        return Outcome::Done(relay_floor(resp, started, record));
    }
    if !prepared.stream {
        std::mem::take(record).emit(started, None);
        return Outcome::Done(Some(resp));
    }
    relay_sse(resp, prepared, started, record)
}

fn strip_response_headers(resp: &mut Response) {
    let connection: Vec<String> = resp
        .get_header_all_str(header::CONNECTION)
        .into_iter()
        .map(str::to_owned)
        .collect();
    for name in hop_by_hop::names_to_strip(connection.iter().map(String::as_str)) {
        resp.remove_header(name.as_str());
    }
    resp.remove_header(header::SET_COOKIE);
}

/// Relays an SSE completion event by event, with a flush after each.
fn relay_sse(
    mut resp: Response,
    prepared: &Prepared<'_>,
    started: Instant,
    record: &mut AccessRecord,
) -> Outcome {
    let mut upstream = resp.take_body();
    resp.remove_header(header::CONTENT_LENGTH);
    resp.set_header(header::CACHE_CONTROL, "no-cache");
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(resp, Rc::clone(&stats));
    let mut relay = SseRelay::new(RelayConfig::for_request(prepared));
    let mut buf = vec![0u8; 16 * 1024];
    let mut ttft = None;
    let failure: Option<ApiError> = loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if !relay.has_written() {
                    return Outcome::Failed(Failure::Read);
                }
                log::warn!("llm stream broke off mid-stream: {e}");
                break Some(ApiError::stream_interrupted());
            }
        };
        let fed = relay.feed_each(&buf[..n], |event| {
            sink.write_all(event)?;
            sink.flush()
        });
        match fed {
            Ok(progress) => {
                if progress.first_token && ttft.is_none() {
                    ttft = Some(started.elapsed());
                }
                if progress.done {
                    break None;
                }
            }
            Err(FeedError::Downstream(e)) => {
                // The client went away: dropping the upstream body closes
                // the provider connection, which cancels the completion.
                log::info!("client disconnected mid-stream: {e}");
                drop(upstream);
                record.abort = Some("client_disconnect".to_owned());
                finish_record(record, &relay, ttft, started, &stats);
                return Outcome::Done(None);
            }
            Err(FeedError::Upstream(e)) => {
                if !relay.has_written() {
                    return Outcome::Failed(e.failure());
                }
                log::warn!("malformed llm stream: {e}");
                break Some(e.api_error());
            }
        }
    };
    let failure = failure.or_else(|| match relay.finish() {
        StreamEnd::Complete => None,
        StreamEnd::Failed | StreamEnd::Truncated { .. } => Some(ApiError::stream_interrupted()),
    });
    if let Some(err) = failure {
        if !relay.has_written() {
            return Outcome::Failed(Failure::Read);
        }
        let mut tail = Vec::new();
        relay.fail(&err, &mut tail);
        record.abort = Some(err.kind().to_owned());
        if sink.write_all(&tail).and_then(|()| sink.flush()).is_err() {
            finish_record(record, &relay, ttft, started, &stats);
            return Outcome::Done(None);
        }
    }
    if let Err(e) = sink.finish() {
        log::info!("client stream did not finish: {e}");
    }
    finish_record(record, &relay, ttft, started, &stats);
    Outcome::Done(None)
}

fn finish_record(
    record: &mut AccessRecord,
    relay: &SseRelay,
    ttft: Option<Duration>,
    started: Instant,
    stats: &SinkStats,
) {
    let usage = UsageRecord::new(relay.usage(), ttft, started.elapsed());
    record.llm = serde_json::from_str(&usage.to_json()).ok();
    record.bytes_out = stats.bytes_out.get();
    std::mem::take(record).emit(started, stats.committed_at.get());
}

/// The benchmark floor: the same upstream body copied to the client with
/// no parsing, one flush per upstream chunk.
fn relay_floor(
    mut resp: Response,
    started: Instant,
    record: &mut AccessRecord,
) -> Option<Response> {
    let mut upstream = resp.take_body();
    resp.remove_header(header::CONTENT_LENGTH);
    let mut out = resp.stream_to_client();
    let first = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                record.bytes_out += n as u64;
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    record.abort = Some("client_disconnect".to_owned());
                    std::mem::take(record).emit(started, Some(first));
                    return None;
                }
            }
            Err(_) => {
                record.abort = Some("upstream_read".to_owned());
                std::mem::take(record).emit(started, Some(first));
                return None;
            }
        }
    }
    let _ = out.finish();
    std::mem::take(record).emit(started, Some(first));
    None
}
