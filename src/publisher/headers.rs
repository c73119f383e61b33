//! Response header policy, decided before the first body byte.

use fastly::http::header;
use fastly::Response;
use sluice_core::encoding::ContentEncoding;
use sluice_core::http::{cookies, synthetic_id};
use sluice_core::rewrite::RewriteRules;

use crate::upstream::strip_hop_by_hop;

/// Headers whose values are URLs (or contain them) and so must point at
/// the edge, not the origin.
const URL_HEADERS: &[&str] = &["location", "content-location", "link", "refresh"];

/// Removes connection-scoped headers from an origin response.
pub fn strip_hop_by_hop_response(resp: &mut Response) {
    let connection: Vec<String> = resp
        .get_header_all_str(header::CONNECTION)
        .into_iter()
        .map(str::to_owned)
        .collect();
    strip_hop_by_hop(connection.iter().map(String::as_str), |name| {
        resp.remove_header(name);
    });
}

/// Rewrites origin URLs in `Location`, `Content-Location`, `Link` and
/// `Refresh`, and drops `Set-Cookie` domains that name a rewrite host.
pub fn rewrite_origin_references(resp: &mut Response, rules: &RewriteRules, hosts: &[String]) {
    if !rules.is_empty() {
        for name in URL_HEADERS {
            let values: Vec<String> = resp
                .get_header_all_str(*name)
                .into_iter()
                .map(str::to_owned)
                .collect();
            if values.is_empty() {
                continue;
            }
            let rewritten: Vec<String> = values
                .iter()
                .map(|v| rules.rewrite_str(v).into_owned())
                .collect();
            if rewritten != values {
                resp.remove_header(*name);
                for v in rewritten {
                    resp.append_header(*name, v);
                }
            }
        }
    }
    let cookies: Vec<String> = resp
        .get_header_all_str(header::SET_COOKIE)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let fixed: Vec<String> = cookies
        .iter()
        .map(|c| cookies::strip_origin_domain(c, hosts).unwrap_or_else(|| c.clone()))
        .collect();
    if fixed != cookies {
        resp.remove_header(header::SET_COOKIE);
        for c in fixed {
            resp.append_header(header::SET_COOKIE, c);
        }
    }
}

/// Header changes for a body the edge rewrites: its length and byte
/// identity change, and its encoding may.
pub fn for_rewritten_body(resp: &mut Response, output: ContentEncoding, compress_hint: bool) {
    resp.remove_header(header::CONTENT_LENGTH);
    // Ranges of the origin's bytes mean nothing for the rewritten body.
    resp.remove_header(header::ACCEPT_RANGES);
    if let Some(etag) = resp.get_header_str(header::ETAG).map(str::to_owned) {
        if !etag.starts_with("W/") {
            resp.set_header(header::ETAG, format!("W/{etag}"));
        }
    }
    match output.header_value() {
        Some(v) => resp.set_header(header::CONTENT_ENCODING, v),
        None => {
            resp.remove_header(header::CONTENT_ENCODING);
        }
    }
    if compress_hint {
        resp.set_header("x-compress-hint", "on");
    }
    add_vary_accept_encoding(resp);
}

/// Adds `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`).
pub fn add_vary_accept_encoding(resp: &mut Response) {
    let present = resp.get_header_all_str(header::VARY).iter().any(|v| {
        v.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.eq_ignore_ascii_case("accept-encoding"))
    });
    if !present {
        resp.append_header(header::VARY, "Accept-Encoding");
    }
}

/// Sets the synthetic ID cookie and makes the response private, so no
/// shared cache stores one visitor's ID for another.
pub fn set_synthetic_cookie(resp: &mut Response, value: &str, max_age: u64) {
    resp.append_header(
        header::SET_COOKIE,
        synthetic_id::set_cookie_value(value, max_age),
    );
    let kept: Vec<String> = resp
        .get_header_str(header::CACHE_CONTROL)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|d| {
            let name = d
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !d.is_empty() && !matches!(name.as_str(), "public" | "private" | "s-maxage")
        })
        .map(str::to_owned)
        .collect();
    let mut value = String::from("private");
    for d in kept {
        value.push_str(", ");
        value.push_str(&d);
    }
    resp.set_header(header::CACHE_CONTROL, value);
}

/// `Server-Timing: edge;dur=<ms>, mode;desc=<mode>` so a browser's devtools
/// show what the edge did and how long it took before the first byte.
pub fn server_timing(resp: &mut Response, started: std::time::Instant, mode: &str) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    resp.append_header(
        "server-timing",
        format!("edge;dur={ms:.1}, mode;desc={mode}"),
    );
}
