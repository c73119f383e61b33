//! Conversions between Fastly's messages and the plain `http` types the
//! core's policies work on.

use fastly::http::{HeaderName, HeaderValue, StatusCode};
use fastly::{Body, Request, Response};
use http::HeaderMap;
use sluice_core::page::Platform;

/// A response's head as plain `http` parts, and its body handle.
pub struct Parts {
    /// Status and headers for the core's policies.
    pub head: http::response::Parts,
    /// The body handle (never read by converting).
    pub body: Body,
}

impl Parts {
    /// Splits a Fastly response.
    pub fn of(resp: Response) -> Self {
        let (head, body) = http::Response::from(resp).into_parts();
        Self { head, body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        sluice_core::http::headers::first(&self.head.headers, name)
    }

    /// Rebuilds the Fastly response with this body.
    pub fn into_response(self) -> Response {
        Response::from(http::Response::from_parts(self.head, self.body))
    }

    /// Splits off the body: the head becomes a response with an empty body.
    pub fn into_head_and_body(self) -> (Response, Body) {
        let Parts { head, body } = self;
        (
            Response::from(http::Response::from_parts(head, Body::new())),
            body,
        )
    }
}

/// A response from plain parts: a status and its headers in order. The
/// parts come from the core (an entry's bytes, a session's head, an error
/// answer); anything the HTTP types still refuse is dropped and logged,
/// never a panic.
pub fn response<'a>(
    status: u16,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = Response::from_status(status);
    for (name, value) in headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            (Ok(n), Ok(v)) => resp.append_header(n, v),
            _ => log::warn!("dropping an unrepresentable {name:?} header"),
        }
    }
    resp
}

/// A request's headers as a plain map.
pub fn request_headers(req: &Request) -> HeaderMap {
    req.get_headers()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Replaces every header of `req` with `headers`, in order.
pub fn set_request_headers(req: &mut Request, headers: &HeaderMap) {
    let names: Vec<HeaderName> = req.get_header_names().cloned().collect();
    for name in names {
        req.remove_header(name);
    }
    for (name, value) in headers {
        req.append_header(name, value);
    }
}

/// A request header's first value as text; `None` when absent or not
/// text. (Fastly's `get_header_str` panics on a non-UTF-8 value, which a
/// client can send.)
pub fn header(req: &Request, name: HeaderName) -> Option<&str> {
    req.get_header(name).and_then(|v| v.to_str().ok())
}

/// Fastly's response head, for the core's rewrite driver.
pub struct FastlyHead;

impl Platform for FastlyHead {
    type Head = Response;

    /// Owned, so the head can be edited while they are used.
    fn values(head: &Response, name: &str) -> Vec<String> {
        (head.get_header_all(name))
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// A value the HTTP types refuse is dropped and logged, never a panic.
    fn set_all(head: &mut Response, name: &str, values: &[String]) {
        head.remove_header(name);
        for value in values {
            match HeaderValue::from_str(value) {
                Ok(v) => head.append_header(name, v),
                Err(_) => log::warn!("dropping an unrepresentable {name} value"),
            }
        }
    }

    /// An unreadable clock reads as no time spent (the budget then never
    /// stops, as before it existed).
    fn vcpu_ms() -> u64 {
        fastly::compute_runtime::elapsed_vcpu_ms().unwrap_or(0)
    }
}
