//! `ANY /status/{code}`: that status with a branded HTML error page full of
//! links to the origin host (so the edge's rewrite of error pages shows).

use super::{link_host, Ctx};
use crate::body::{self, ResBody};
use crate::error::RouteError;
use http::{header, Method, Response, StatusCode};

pub fn serve(ctx: &Ctx, method: &Method, code: &str) -> Result<Response<ResBody>, RouteError> {
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| RouteError::bad(format!("status {code:?} must be 200..=599")))?;
    let host = link_host(&ctx.query)?;
    let mut b = Response::builder().status(status);
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        b = b.header(header::LOCATION, format!("https://{host}/"));
    }
    let bodyless = matches!(status.as_u16(), 204 | 205 | 304);
    if bodyless {
        return Ok(b.body(body::empty())?);
    }
    let reason = status.canonical_reason().unwrap_or("Status");
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title>\
         <link rel=\"stylesheet\" href=\"https://{host}/assets/site.css\"></head>\n\
         <body><h1>{code} {reason}</h1>\n<p>Try the <a href=\"https://{host}/\">home page</a> \
         or <a href=\"//{host}/search?q=help\">search</a>.</p>\n\
         <img src=\"https://{host}/assets/logo.png\" alt=\"origin.example logo\">\n</body></html>\n",
        code = status.as_u16()
    );
    b = b
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_LENGTH, page.len());
    if method == Method::HEAD {
        return Ok(b.body(body::empty())?);
    }
    Ok(b.body(body::full(page))?)
}
