//! `GET /security/...`: pages that carry their own Content-Security-Policy
//! and Subresource Integrity, and the resources they load (see
//! `content::security`).

use super::{allow, link_host, Ctx};
use crate::body::{self, ResBody};
use crate::content::security::{self, SecurityPage};
use crate::error::RouteError;
use http::{header, Method, Response, StatusCode};

/// Default filler of the hash page: about 8 KiB, so a test can set the
/// edge's buffering cap below the page.
const DEFAULT_PAD: usize = 8 << 10;
/// Largest filler a request may ask for.
const MAX_PAD: u64 = 16 << 20;

pub fn serve(ctx: &Ctx, method: &Method, rest: &[&str]) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
    let host = link_host(&ctx.query)?;
    let (ct, bytes): (&'static str, String) = match rest {
        ["csp-hosts"] => return page(method, security::csp_hosts(&host)),
        ["csp-hashes"] => {
            let pad = ctx.query.u64_in("pad", DEFAULT_PAD as u64, MAX_PAD)?;
            let pad = usize::try_from(pad).map_err(RouteError::bad)?;
            return page(method, security::csp_hashes(&host, pad));
        }
        ["csp-nonce"] => return page(method, security::csp_nonce(&host)),
        ["sri"] => return page(method, security::sri_page(&host, &ctx.state.sri)),
        ["sri", "app.js"] => ("application/javascript", ctx.state.sri.js.clone()),
        ["sri", "site.css"] => ("text/css", ctx.state.sri.css.clone()),
        ["js", name] => (
            "application/javascript",
            security::script(name, &host).ok_or_else(|| not_found(ctx))?,
        ),
        ["img", name] => (
            "image/svg+xml",
            security::image(name).ok_or_else(|| not_found(ctx))?,
        ),
        ["data.json"] => ("application/json", "{\"ok\":true}".to_owned()),
        _ => return Err(not_found(ctx)),
    };
    respond(method, ct, bytes, None)
}

fn not_found(ctx: &Ctx) -> RouteError {
    RouteError::NotFound(ctx.path.clone())
}

fn page(method: &Method, p: SecurityPage) -> Result<Response<ResBody>, RouteError> {
    respond(method, "text/html; charset=utf-8", p.html, p.csp)
}

fn respond(
    method: &Method,
    ct: &'static str,
    bytes: String,
    csp: Option<String>,
) -> Result<Response<ResBody>, RouteError> {
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, ct)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(policy) = csp {
        b = b.header(header::CONTENT_SECURITY_POLICY, policy);
    }
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full(bytes)
    };
    Ok(b.body(body)?)
}
