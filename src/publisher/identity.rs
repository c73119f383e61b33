//! Synthetic ID: verify the visitor's signed `sluice_id` cookie or issue a
//! new one. The HMAC key lives in the Secret Store.

use error_stack::Report;
use fastly::http::header;
use fastly::Request;
use sluice_core::http::synthetic_id::{self, Signer};

use crate::lifecycle::{message, EdgeError};
use crate::stores;

/// Secret Store key holding the HMAC key.
pub const KEY_NAME: &str = "synthetic_id_key";

/// The visitor's ID for this request.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The full signed cookie value.
    pub cookie_value: String,
    /// The 32-hex-digit ID the origin sees.
    pub id: String,
    /// A `Set-Cookie` is needed (no cookie, or a forged one).
    pub issued: bool,
}

/// Verifies or issues the visitor's ID.
pub fn identify(req: &Request) -> Result<Visitor, Report<EdgeError>> {
    let key = stores::secret(KEY_NAME)
        .ok_or_else(|| Report::new(EdgeError::Config(format!("secret `{KEY_NAME}` is missing"))))?;
    let signer = Signer::new(&key)
        .map_err(|e| Report::new(EdgeError::Config(format!("secret `{KEY_NAME}`: {e}"))))?;
    let presented = message::header_all(req, header::COOKIE.as_str())
        .into_iter()
        .find_map(synthetic_id::find_in_cookie_header);
    if let Some(value) = presented {
        if let Some(id) = signer.verify(value) {
            return Ok(Visitor {
                cookie_value: value.to_owned(),
                id: id.to_owned(),
                issued: false,
            });
        }
        log::info!("replacing a sluice_id cookie that failed verification");
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| Report::new(EdgeError::Internal).attach(format!("getrandom: {e}")))?;
    let cookie_value = signer.issue(random);
    let id = cookie_value
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(Visitor {
        cookie_value,
        id,
        issued: true,
    })
}
