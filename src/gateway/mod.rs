//! The AI streaming gateway: OpenAI-compatible routes relayed to the `llm`
//! backend (and `llm_fallback` before the first byte).
//!
//! Phases: match the route → authenticate the client key (SHA-256 digests
//! in the Secret Store) → read and validate the body (capped) → attempt
//! upstream with the provider key → relay SSE event by event (flush per
//! event) → usage in the access line. All protocol logic is in
//! `sluice_core::ai`; this module only does I/O.

mod attempt;

use error_stack::Report;
use fastly::http::header;
use fastly::Request;
use sluice_core::ai::auth::{ClientKeys, ProviderKey};
use sluice_core::ai::request::{prepare, BodyCollector, RequestLimits};
use sluice_core::ai::routes::{RouteMatch, Routes};
use sluice_core::ai::ApiError;
use sluice_core::settings::Settings;

use crate::lifecycle::message;
use crate::lifecycle::{Cx, EdgeError, Outcome, Style};
use crate::stores;

/// Secret Store key with the accepted client key digests.
pub const CLIENT_KEYS: &str = "client_key_sha256";
/// Secret Store key with the provider key.
pub const PROVIDER_KEY: &str = "llm_api_key";
/// Path prefix of the unparsed relay (the load benchmark's floor).
#[cfg(feature = "bench-routes")]
const RELAY_FLOOR: &str = "/__relay";

/// A request the gateway owns: the route it matched (or the error it is
/// answered with), and whether it is the relay floor (benchmark builds
/// only).
pub struct Claim {
    matched: RouteMatch,
    floor: bool,
}

/// Decides whether the gateway owns this request.
pub fn claims(req: &Request, settings: &Settings) -> Option<Claim> {
    let routes = Routes::new().with_prefix(&settings.ai_prefix).ok()?;
    let (method, path) = (req.get_method_str(), req.get_path());
    #[cfg(feature = "bench-routes")]
    if let Some(rest) = path.strip_prefix(RELAY_FLOOR) {
        let matched = routes.match_request(method, rest);
        if settings.ai_relay_floor && matched != RouteMatch::NotGateway {
            let floor = true;
            return Some(Claim { matched, floor });
        }
    }
    let matched = routes.match_request(method, path);
    let floor = false;
    (matched != RouteMatch::NotGateway).then_some(Claim { matched, floor })
}

/// An OpenAI-style failure.
fn api(err: ApiError) -> Report<EdgeError> {
    Report::new(EdgeError::Api(err))
}

/// Handles one gateway request.
pub fn handle(
    mut req: Request,
    claim: Claim,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>> {
    cx.style = Style::OpenAi;
    cx.record.mode = "ai";
    let route = match claim.matched {
        RouteMatch::Matched(route) => route,
        other => return Err(api(other.error().unwrap_or_else(ApiError::not_found))),
    };

    // Client authentication: never an open proxy. A missing or malformed
    // digest list rejects everyone (and says so in the log).
    let keys = stores::parsed_secret(CLIENT_KEYS, ClientKeys::parse);
    let presented = message::header(&req, header::AUTHORIZATION);
    if keys.is_none_or(|k| k.authorize(presented).is_err()) {
        return Err(api(ApiError::invalid_api_key()));
    }
    let provider = stores::parsed_secret(PROVIDER_KEY, ProviderKey::parse).ok_or_else(|| {
        api(ApiError::bad_gateway())
            .attach(format!("secret {PROVIDER_KEY} is missing or malformed"))
    })?;

    let limits = RequestLimits::default().with_max_body_bytes(cx.settings.ai_max_body_bytes);
    let declared =
        message::header(&req, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    let collector = BodyCollector::new(&limits, declared).map_err(|e| api(e.api_error()))?;
    let body = collector.read_all(&mut req.take_body()).map_err(api)?;
    let prepared = prepare(&body, route, &limits).map_err(|e| api(e.api_error()))?;
    attempt::run(&req, route, &prepared, &provider, claim.floor, cx)
}
