//! Turns the client request into the origin request.
//!
//! The request is modified in place so its body handle goes upstream
//! untouched (zero guest copies for uploads). Connection-scoped and
//! spoofable headers are removed and the edge writes its own forwarding
//! headers from what it saw.

use fastly::http::header;
use fastly::Request;
use sluice_core::http::{accept_encoding, hop_by_hop, synthetic_id};

use crate::request_view::RequestView;

/// The header carrying the verified synthetic ID to the origin.
pub const SYNTHETIC_ID_HEADER: &str = "x-sluice-id";

/// Strips hop-by-hop headers (including those named by `Connection`) from
/// any message's header list, via the supplied remover.
pub fn strip_hop_by_hop<'a>(
    connection: impl IntoIterator<Item = &'a str>,
    mut remove: impl FnMut(&str),
) {
    for name in hop_by_hop::names_to_strip(connection) {
        remove(&name);
    }
}

/// Rewrites `req` into the request the origin receives.
pub fn prepare(req: &mut Request, view: &RequestView, synthetic_id: &str) {
    let connection: Vec<String> = req
        .get_header_all_str(header::CONNECTION)
        .into_iter()
        .map(str::to_owned)
        .collect();
    strip_hop_by_hop(connection.iter().map(String::as_str), |name| {
        req.remove_header(name);
    });
    for name in hop_by_hop::UNTRUSTED_FORWARDING {
        req.remove_header(*name);
    }
    req.remove_header(SYNTHETIC_ID_HEADER);

    if let Some(ip) = hop_by_hop::forwarded_for(view.client_ip) {
        req.set_header("x-forwarded-for", ip);
    }
    if !view.authority.is_empty() {
        req.set_header("x-forwarded-host", view.authority.as_str());
    }
    req.set_header("x-forwarded-proto", view.scheme);

    let ae = accept_encoding::for_origin(req.get_header_str(header::ACCEPT_ENCODING));
    req.set_header(header::ACCEPT_ENCODING, ae);

    strip_synthetic_cookie(req);
    req.set_header(SYNTHETIC_ID_HEADER, synthetic_id);
}

/// Removes `sluice_id` from the forwarded `Cookie` header: the origin gets
/// the verified ID in [`SYNTHETIC_ID_HEADER`], never the raw client value.
fn strip_synthetic_cookie(req: &mut Request) {
    let Some(cookie) = req.get_header_str(header::COOKIE).map(str::to_owned) else {
        return;
    };
    let kept: Vec<&str> = cookie
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            pair.split_once('=')
                .is_none_or(|(name, _)| name.trim() != synthetic_id::COOKIE_NAME)
        })
        .filter(|pair| !pair.is_empty())
        .collect();
    if kept.is_empty() {
        req.remove_header(header::COOKIE);
    } else {
        req.set_header(header::COOKIE, kept.join("; "));
    }
}
