//! Synthetic ID: verify the visitor's signed `sluice_id` cookie or issue a
//! new one. The HMAC key lives in the Secret Store; `publisher.synthetic_id`
//! says whether it must (`on`), may (`auto`) or must not (`off`) be used.
//! The cookie is a per-visitor part of the response: it is added at
//! delivery, after any cache lookup, and never stored.

use error_stack::Report;
use fastly::http::{header, HeaderValue};
use fastly::{Request, Response};
use sluice_core::http::origin_response::private_cache_control;
use sluice_core::http::synthetic_id;
use sluice_core::settings::SYNTHETIC_ID_KEY;

use crate::lifecycle::{message, Cx, EdgeError};
use crate::stores;

/// The visitor's ID for this request.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The full signed cookie value.
    pub cookie_value: String,
    /// The 32-hex-digit ID the origin sees; `None` when synthetic IDs
    /// are off for this request.
    pub id: Option<String>,
    /// A `Set-Cookie` is needed (no cookie, or a forged one).
    pub issued: bool,
}

impl Visitor {
    /// A visitor without an ID (synthetic IDs off): nothing is issued,
    /// read or sent to the origin.
    fn anonymous() -> Self {
        Self {
            cookie_value: String::new(),
            id: None,
            issued: false,
        }
    }

    /// Adds the visitor's part to a response about to go out: a newly
    /// issued ID's `Set-Cookie`, and `private` so no shared cache keeps it.
    pub fn decorate(&self, resp: &mut Response, max_age: u64) {
        if !self.issued {
            return;
        }
        let cookie = synthetic_id::set_cookie_value(&self.cookie_value, max_age);
        let existing: Vec<&str> = resp
            .get_header_all(header::CACHE_CONTROL)
            .filter_map(|v| v.to_str().ok())
            .collect();
        let private = private_cache_control(existing);
        if let (Ok(cookie), Ok(private)) = (
            HeaderValue::from_str(&cookie),
            HeaderValue::from_str(&private),
        ) {
            resp.append_header(header::SET_COOKIE, cookie);
            resp.set_header(header::CACHE_CONTROL, private);
        }
    }
}

/// Verifies or issues the visitor's ID, as `publisher.synthetic_id` says;
/// the access line records whether IDs were on.
pub fn identify(req: &Request, cx: &mut Cx<'_>) -> Result<Visitor, Report<EdgeError>> {
    let mode = cx.settings.synthetic_id;
    let key = mode
        .needs_key()
        .then(|| stores::secret(SYNTHETIC_ID_KEY))
        .flatten();
    let signer = mode
        .resolve(key.as_deref())
        .map_err(|e| Report::new(EdgeError::Config(e.to_string())))?;
    cx.record.synthetic_id = Some(if signer.is_some() { "on" } else { "off" });
    let Some(signer) = signer else {
        return Ok(Visitor::anonymous());
    };
    let presented = message::header_all(req, header::COOKIE.as_str())
        .into_iter()
        .find_map(synthetic_id::find_in_cookie_header);
    if let Some(value) = presented {
        if let Some(id) = signer.verify(value) {
            return Ok(Visitor {
                cookie_value: value.to_owned(),
                id: Some(id.to_owned()),
                issued: false,
            });
        }
        log::info!("replacing a sluice_id cookie that failed verification");
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| Report::new(EdgeError::Internal).attach(format!("getrandom: {e}")))?;
    let cookie_value = signer.issue(random);
    let id = cookie_value.split('.').next().map(str::to_owned);
    Ok(Visitor {
        cookie_value,
        id,
        issued: true,
    })
}
