//! Small header-centric routes: `/redirect`, `/cookie`, `/headers`,
//! `/slow-headers`.

use super::Ctx;
use crate::body::{self, ResBody};
use crate::error::RouteError;
use http::{header, HeaderValue, Response, StatusCode};
use std::time::Duration;

fn small_html(title: &str, host: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><title>{title}</title></head><body><p>{title}: \
         <a href=\"https://{host}/\">home</a></p></body></html>\n"
    )
}

fn hv(v: &str) -> Result<HeaderValue, RouteError> {
    HeaderValue::from_str(v)
        .map_err(|_| RouteError::bad(format!("{v:?} is not a valid header value")))
}

/// `GET /redirect?to=URL&code=302`.
pub fn redirect(ctx: &Ctx) -> Result<Response<ResBody>, RouteError> {
    let q = &ctx.query;
    let to = q.get("to").unwrap_or("https://origin.example/");
    let code = q.u64_in("code", 302, 399)?;
    if code < 300 {
        return Err(RouteError::bad("code must be 300..=399"));
    }
    let status = StatusCode::from_u16(code as u16).map_err(RouteError::bad)?;
    let page = small_html("Moved", "origin.example");
    Ok(Response::builder()
        .status(status)
        .header(header::LOCATION, hv(to)?)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body::full(page))?)
}

/// `GET /cookie?domain=D`: one cookie with `Domain=D`, one without.
pub fn cookie(ctx: &Ctx) -> Result<Response<ResBody>, RouteError> {
    let domain = ctx.query.get("domain").unwrap_or("origin.example");
    Ok(Response::builder()
        .header(
            header::SET_COOKIE,
            hv(&format!("a=1; Domain={domain}; Path=/"))?,
        )
        .header(header::SET_COOKIE, "b=2; Path=/; HttpOnly")
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body::full(small_html("Cookies", "origin.example")))?)
}

/// `GET /headers?h=Name:Value&...&link=URL&refresh=URL&status=CODE`.
pub fn headers(ctx: &Ctx) -> Result<Response<ResBody>, RouteError> {
    let q = &ctx.query;
    let code = q.u64_in("status", 200, 599)?;
    let status = StatusCode::from_u16(code as u16).map_err(RouteError::bad)?;
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8");
    b = super::extra_headers(b, q)?;
    if let Some(link) = q.get("link") {
        b = b.header(
            header::LINK,
            hv(&format!("<{link}>; rel=preload; as=style"))?,
        );
    }
    if let Some(url) = q.get("refresh") {
        b = b.header(header::REFRESH, hv(&format!("0; url={url}"))?);
    }
    Ok(b.body(body::full(small_html("Headers", "origin.example")))?)
}

/// `GET /slow-headers?delay_ms=MS`: sleeps before the response headers.
pub async fn slow_headers(ctx: &Ctx) -> Result<Response<ResBody>, RouteError> {
    let ms = ctx.query.u64_in("delay_ms", 5000, body::MAX_SLEEP_MS)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body::full(format!("headers after {ms} ms\n")))?)
}
