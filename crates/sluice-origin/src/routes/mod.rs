//! Request routing: one module per endpoint family, documented in the
//! crate README.

mod bytes;
mod cond;
mod dispatch;
mod echo;
mod events;
mod generated;
mod index;
mod llm;
mod misc;
mod ndjson;
mod pages;
mod plan;
mod security;
mod sse;
mod status;
mod upload;

use crate::body::{self, BodyOpts, ConnControl, ResBody};
use crate::error::RouteError;
use crate::events::EventKind;
use crate::query::Query;
use crate::state::AppState;
use ::bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;

/// Adds each `h=Name:Value` of the query as a response header (repeatable,
/// any name): how tests give a page the caching headers they need.
pub fn extra_headers(
    mut b: http::response::Builder,
    query: &Query,
) -> Result<http::response::Builder, RouteError> {
    for h in query.all("h") {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| RouteError::bad(format!("h={h:?} must be Name:Value")))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| RouteError::bad(format!("{name:?} is not a header name")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| RouteError::bad(format!("{value:?} is not a valid header value")))?;
        b = b.header(name, value);
    }
    Ok(b)
}

/// The delivery options for this request, with its `once` / `later`
/// token applied (see `body::gate`).
pub fn body_opts(ctx: &Ctx) -> Result<BodyOpts, RouteError> {
    BodyOpts::for_request(&ctx.query, &ctx.state.faults)
}

/// The injected failure `?fail_status=CODE` asks for, if it fires: that
/// status and a one-line body, without the resource's headers (an origin
/// failing does not send the page's caching headers).
pub fn injected_failure(opts: &BodyOpts) -> Option<Response<ResBody>> {
    opts.fail_status
        .map(|status| text(status, format!("injected failure: {status}\n")))
}

/// The service error that makes hyper drop the connection without a
/// response (used only for deliberate fault injection).
#[derive(Debug, thiserror::Error)]
#[error("connection killed on purpose")]
pub struct ConnKilled;

/// Everything a route needs besides the request itself.
pub struct Ctx {
    /// Shared server state.
    pub state: Arc<AppState>,
    /// This connection's reset switch.
    pub ctl: ConnControl,
    /// The decoded query string.
    pub query: Query,
    /// The request path, without the query.
    pub path: String,
}

/// Serves one request. Never panics: route errors become plain-text error
/// responses; only a deliberate kill closes the connection without one.
pub async fn handle(
    state: Arc<AppState>,
    ctl: ConnControl,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ConnKilled> {
    let name = state.name.clone();
    let path = req.uri().path().to_owned();
    if path != "/__events" && path != "/healthz" {
        let detail = serde_json::json!({
            "method": req.method().as_str(),
            "query": req.uri().query(),
        });
        state.events.record(EventKind::Request, &path, 0, detail);
    }
    let ctx = Ctx {
        query: Query::parse(req.uri().query()),
        path,
        state,
        ctl,
    };
    let mut resp = match dispatch(&ctx, req).await {
        Ok(r) => r,
        Err(RouteError::ConnectionKilled) => {
            ctx.ctl.arm_reset();
            return Err(ConnKilled);
        }
        Err(e) => error_response(&e),
    };
    resp.headers_mut().insert("x-mock-backend", name);
    Ok(resp)
}

async fn dispatch(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    let path = ctx.path.clone();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [""] => index::serve(ctx, req.method()),
        ["healthz"] => Ok(text(StatusCode::OK, "ok\n")),
        ["pages", name] => slow_head(ctx, pages::serve(ctx, &req, name).await).await,
        ["bytes", n] => slow_head(ctx, bytes::serve(ctx, &req, n, false)).await,
        ["bytes", n, "sha256"] => bytes::sha256(ctx, req.method(), n).await,
        ["drip", n] => slow_head(ctx, bytes::serve(ctx, &req, n, true)).await,
        ["gen", kind, n] => slow_head(ctx, generated::serve(ctx, &req, kind, n)).await,
        ["status", code] => status::serve(ctx, req.method(), code),
        ["redirect"] => misc::redirect(ctx),
        ["cookie"] => misc::cookie(ctx),
        ["headers"] => misc::headers(ctx),
        ["slow-headers"] => misc::slow_headers(ctx).await,
        ["echo", ..] => echo::serve(req).await,
        ["upload", ..] => upload::serve(ctx, req).await,
        ["sse"] => sse::serve(ctx, &req),
        ["api", endpoint @ ("chat" | "generate")] => ndjson::serve(ctx, req, endpoint).await,
        ["v1", ..] => llm::serve(ctx, req).await,
        ["dispatch", "counter"] => dispatch::open(ctx, req.method()),
        ["dispatch", "counter", "step"] => dispatch::step(ctx, req).await,
        ["dispatch", "counter", "close"] => dispatch::close(ctx, req).await,
        ["plan", "upstream"] => plan::upstream(ctx, req.method()),
        ["security", rest @ ..] => security::serve(ctx, req.method(), rest),
        ["__events"] => events::serve(ctx, req.method()),
        _ => Err(RouteError::NotFound(path.clone())),
    }
}

/// `?head_delay_ms=MS` (the body routes): holds a finished response for MS
/// before its head is sent, so everything a client decides on the head
/// (a cache's store-or-pass decision) waits for it. Errors are not held.
async fn slow_head(
    ctx: &Ctx,
    resp: Result<Response<ResBody>, RouteError>,
) -> Result<Response<ResBody>, RouteError> {
    let resp = resp?;
    let ms = ctx.query.u64_in("head_delay_ms", 0, body::MAX_SLEEP_MS)?;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    Ok(resp)
}

/// 405 unless `method` is one of `allowed` (`allow_header` lists them).
pub fn allow(
    method: &Method,
    allowed: &[Method],
    allow_header: &'static str,
) -> Result<(), RouteError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(RouteError::MethodNotAllowed(allow_header))
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResBody> {
    with_type(status, "text/plain; charset=utf-8", body)
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResBody> {
    with_type(status, "application/json", value.to_string())
}

/// A response with the given Content-Type and an in-memory body.
pub fn with_type(
    status: StatusCode,
    ct: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResBody> {
    let mut r = Response::new(body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn error_response(e: &RouteError) -> Response<ResBody> {
    let mut r = text(e.status(), format!("{e}\n"));
    if let RouteError::MethodNotAllowed(allow) = e {
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    r
}

/// Content-Type from `?ct=` / `?charset=`, else `default` (which may carry
/// its own charset). `?charset=none` drops the parameter.
pub fn content_type(q: &Query, default: &str) -> Result<HeaderValue, RouteError> {
    let base = q.get("ct").unwrap_or(default);
    let value = match q.get("charset") {
        None => base.to_owned(),
        Some(cs) => {
            let mime = base.split(';').next().unwrap_or(base).trim();
            if cs == "none" || cs.is_empty() {
                mime.to_owned()
            } else {
                format!("{mime}; charset={cs}")
            }
        }
    };
    HeaderValue::from_str(&value)
        .map_err(|_| RouteError::bad(format!("invalid content type {value:?}")))
}

/// A host for generated links: letters, digits, `.`, `-` and `:port`.
pub fn link_host(q: &Query) -> Result<String, RouteError> {
    let host = q.get("host").unwrap_or("origin.example");
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(host.to_owned())
    } else {
        Err(RouteError::bad(format!(
            "host={host:?} is not a plain host name"
        )))
    }
}

/// Reads a whole request body of at most `cap` bytes (413 past it, 400 if
/// the body breaks). For the small JSON bodies of the stream endpoints.
pub async fn read_capped(body: Incoming, cap: usize) -> Result<Bytes, RouteError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    match Limited::new(body, cap).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(RouteError::PayloadTooLarge(cap as u64)),
        Err(e) => Err(RouteError::bad(format!("request body: {e}"))),
    }
}
