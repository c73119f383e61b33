//! Synthetic ID: the visitor's signed `sluice_id` cookie, verified or
//! issued by `sluice_core::http::synthetic_id::Visitor`. The HMAC key lives
//! in the Secret Store; `publisher.synthetic_id` says whether it must
//! (`on`), may (`auto`) or must not (`off`) be used. The cookie is a
//! per-visitor part of the response: it is added at delivery, after any
//! cache lookup, and never stored.

use error_stack::Report;
use fastly::http::{header, HeaderValue};
use fastly::Response;
use http::HeaderMap;
use sluice_core::http::headers::values;
pub use sluice_core::http::synthetic_id::Visitor;
use sluice_core::settings::SYNTHETIC_ID_KEY;

use crate::lifecycle::{Cx, EdgeError};
use crate::stores;

/// Verifies or issues the visitor's ID, as `publisher.synthetic_id` says;
/// the access line records whether IDs were on.
pub fn identify(headers: &HeaderMap, cx: &mut Cx<'_>) -> Result<Visitor, Report<EdgeError>> {
    let mode = cx.settings.synthetic_id;
    let key = mode
        .needs_key()
        .then(|| stores::secret(SYNTHETIC_ID_KEY))
        .flatten();
    let signer = mode
        .resolve(key.as_deref())
        .map_err(|e| Report::new(EdgeError::Config(e.to_string())))?;
    cx.record.synthetic_id = Some(if signer.is_some() { "on" } else { "off" });
    let cookies = values(headers, header::COOKIE.as_str());
    Visitor::identify(signer.as_ref(), cookies, random)
        .ok_or_else(|| Report::new(EdgeError::Internal).attach("getrandom failed"))
}

/// 16 random bytes (an ID, a fill key), or `None` when the host has none.
pub fn random() -> Option<[u8; 16]> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).ok().map(|()| random)
}

/// Adds the visitor's part to a response about to go out.
pub fn decorate(visitor: &Visitor, resp: &mut Response, max_age: u64) {
    let existing: Vec<&str> = resp
        .get_header_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .collect();
    for (name, value) in visitor.response_headers(max_age, existing) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            match name {
                "set-cookie" => resp.append_header(name, v),
                _ => resp.set_header(name, v),
            }
        }
    }
}
