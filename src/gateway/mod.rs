//! The AI streaming gateway: OpenAI-compatible routes relayed to the `llm`
//! backend (and `llm_fallback` before the first byte).
//!
//! Phases: match route → authenticate the client key (SHA-256 digests in
//! the Secret Store) → read and validate the body (capped) → attempt
//! upstream with the provider key → relay SSE event by event (flush per
//! event) → log usage. All protocol logic is in `sluice_core::ai`; this
//! module only does I/O.

mod attempt;

use std::io::Read;
use std::time::Instant;

use fastly::http::header;
use fastly::{Request, Response};
use sluice_core::ai::auth::{ClientKeys, ProviderKey};
use sluice_core::ai::request::{prepare, BodyCollector, RequestLimits};
use sluice_core::ai::routes::{RouteMatch, Routes};
use sluice_core::ai::ApiError;

use crate::access_log::AccessRecord;
use crate::config::Settings;
use crate::stores;

/// Secret Store key with the accepted client key digests.
pub const CLIENT_KEYS: &str = "client_key_sha256";
/// Secret Store key with the provider key.
pub const PROVIDER_KEY: &str = "llm_api_key";

/// Where a gateway request goes.
pub enum Claim {
    /// The OpenAI-compatible routes.
    Gateway(Routes),
    /// The unparsed relay floor for benchmarks.
    RelayFloor(Routes),
}

/// Decides whether the gateway owns this request.
pub fn claims(req: &Request, settings: &Settings) -> Option<Claim> {
    let routes = Routes::new().with_prefix(&settings.ai_prefix).ok()?;
    let path = req.get_path();
    if settings.ai_relay_floor {
        if let Some(rest) = path.strip_prefix("/__relay") {
            if !matches!(
                routes.match_request(req.get_method_str(), rest),
                RouteMatch::NotGateway
            ) {
                return Some(Claim::RelayFloor(routes));
            }
        }
    }
    match routes.match_request(req.get_method_str(), path) {
        RouteMatch::NotGateway => None,
        _ => Some(Claim::Gateway(routes)),
    }
}

/// An OpenAI-style error response.
pub fn error_response(err: &ApiError) -> Response {
    let mut resp = Response::from_status(err.status())
        .with_header(
            header::CONTENT_TYPE,
            sluice_core::ai::errors::JSON_CONTENT_TYPE,
        )
        .with_header(header::CACHE_CONTROL, "no-store")
        .with_body(err.to_json());
    if let Some((name, value)) = err.header() {
        resp.set_header(name, value);
    }
    resp
}

/// Handles one gateway request; `None` when the response was streamed.
pub fn handle(
    mut req: Request,
    claim: Claim,
    settings: &Settings,
    started: Instant,
    mut record: AccessRecord,
) -> Option<Response> {
    record.mode = "ai";
    let (routes, floor) = match claim {
        Claim::Gateway(r) => (r, false),
        Claim::RelayFloor(r) => (r, true),
    };
    let path = if floor {
        req.get_path().trim_start_matches("/__relay").to_owned()
    } else {
        req.get_path().to_owned()
    };
    let route = match routes.match_request(req.get_method_str(), &path) {
        RouteMatch::Matched(route) => route,
        other => {
            let err = other.error().unwrap_or_else(ApiError::not_found);
            return Some(finish_error(record, started, &err));
        }
    };

    // Client authentication: never an open proxy. A missing or malformed
    // digest list rejects everyone (and says so in the log).
    let keys = stores::secret(CLIENT_KEYS)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| match ClientKeys::parse(&s) {
            Ok(k) => Some(k),
            Err(e) => {
                log::error!("secret {CLIENT_KEYS} is malformed: {e}");
                None
            }
        });
    let authorized = keys.is_some_and(|k| {
        k.authorize(req.get_header_str(header::AUTHORIZATION))
            .is_ok()
    });
    if !authorized {
        return Some(finish_error(record, started, &ApiError::invalid_api_key()));
    }
    let Some(provider) = stores::secret(PROVIDER_KEY)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| ProviderKey::parse(&s).ok())
    else {
        log::error!("secret {PROVIDER_KEY} is missing or malformed");
        return Some(finish_error(record, started, &ApiError::bad_gateway()));
    };

    let limits = RequestLimits::default().with_max_body_bytes(settings.ai_max_body_bytes);
    let declared = req
        .get_header_str(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    let body = match read_body(&mut req, &limits, declared) {
        Ok(b) => b,
        Err(err) => return Some(finish_error(record, started, &err)),
    };
    let prepared = match prepare(&body, route, &limits) {
        Ok(p) => p,
        Err(e) => return Some(finish_error(record, started, &e.api_error())),
    };
    attempt::run(
        &req, route, &prepared, &provider, settings, floor, started, record,
    )
}

fn read_body(
    req: &mut Request,
    limits: &RequestLimits,
    declared: Option<u64>,
) -> Result<Vec<u8>, ApiError> {
    let mut collector = BodyCollector::new(limits, declared).map_err(|e| e.api_error())?;
    let mut body = req.take_body();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = body.read(&mut buf).map_err(|_| ApiError::invalid_json())?;
        if n == 0 {
            break;
        }
        collector.push(&buf[..n]).map_err(|e| e.api_error())?;
    }
    Ok(collector.into_bytes())
}

fn finish_error(mut record: AccessRecord, started: Instant, err: &ApiError) -> Response {
    record.status = err.status();
    record.error_class = Some(err.kind());
    record.emit(started, None);
    error_response(err)
}
