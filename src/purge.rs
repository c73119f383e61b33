//! `POST /_sluice/purge`: purges the edge cache by surrogate key (the
//! origin's `Surrogate-Key`s, and one key per path). Authenticated with a
//! bearer token whose SHA-256 is in the Secret Store (`purge_token_sha256`,
//! fail closed). Parsing and the token check are
//! `sluice_core::cache::purge`'s; this file only binds them.

use error_stack::Report;
use fastly::http::purge::{purge_surrogate_key, soft_purge_surrogate_key};
use fastly::http::{header, Method};
use fastly::{Request, Response};
use sluice_core::cache::purge::{self, PurgeTokens, MAX_BODY_BYTES, TOKEN_SECRET};
use sluice_core::pump::read_capped;

use crate::lifecycle::error::report;
use crate::lifecycle::{message, Cx, EdgeError, Outcome};
use crate::stores;

/// Handles a purge request.
pub fn handle(mut req: Request, cx: &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>> {
    cx.record.mode = "purge";
    if req.get_method() != Method::POST {
        return Err(Report::new(EdgeError::MethodNotAllowed("POST")));
    }
    let tokens = stores::parsed_secret(TOKEN_SECRET, PurgeTokens::parse);
    let presented = message::header(&req, header::AUTHORIZATION);
    if tokens.is_none_or(|t| t.authorize(presented).is_err()) {
        return Err(Report::new(EdgeError::Unauthorized));
    }
    let body = read_capped(&mut req.take_body(), MAX_BODY_BYTES)
        .map_err(|e| Report::new(EdgeError::BadRequest).attach(e.to_string()))?;
    let request = purge::parse(&body).map_err(|e| report(e.into()))?;
    for key in &request.keys {
        let purged = match request.soft {
            true => soft_purge_surrogate_key(key),
            false => purge_surrogate_key(key),
        };
        purged
            .map_err(|e| Report::new(EdgeError::Internal).attach(format!("purge {key}: {e:?}")))?;
    }
    log::info!(
        "purged {} surrogate key(s), soft: {}",
        request.keys.len(),
        request.soft
    );
    Ok(Outcome::Respond(
        Response::from_status(200)
            .with_header(header::CONTENT_TYPE, "application/json")
            .with_header(header::CACHE_CONTROL, "no-store")
            .with_body(purge::response_body(&request)),
    ))
}
