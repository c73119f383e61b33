//! One error model for the adapter: every failure is an `error-stack`
//! report whose typed [`EdgeError`] context decides, here and nowhere else,
//! the status, the error class and the short body the client sees.
//!
//! Before the response is committed the report becomes that status; after
//! commit the lifecycle only records the class as the access line's
//! `abort` (the body was already broken off, or ended with an in-band
//! error event). Bodies are fixed sentences plus, for configuration errors,
//! the key's name: never a value, a backend address or a secret. The full
//! report goes to the log.

use std::borrow::Cow;

use error_stack::Report;
use fastly::http::{header, HeaderValue, StatusCode};
use fastly::Response;
use sluice_core::ai::errors::JSON_CONTENT_TYPE;
use sluice_core::ai::ApiError;

/// The header naming the error class on an edge-made error response.
pub const ERROR_CLASS_HEADER: &str = sluice_core::stream::ERROR_CLASS_HEADER;

/// What went wrong, at the granularity a client or operator may see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The client's request is malformed.
    #[error("bad request")]
    BadRequest,
    /// The request body is over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The service's configuration is invalid; the text names the key or
    /// secret, never its value.
    #[error("configuration error: {0}")]
    Config(String),
    /// An edge-side failure that is nobody's input.
    #[error("internal error")]
    Internal,
    /// A backend could not be reached, or reset before its response head.
    #[error("origin unreachable")]
    OriginUnreachable,
    /// A backend sent no response head in time.
    #[error("origin timed out")]
    OriginTimeout,
    /// A backend's response head could not be used.
    #[error("invalid origin response")]
    OriginInvalid,
    /// A backend's body broke off (reset, between-bytes timeout).
    #[error("the origin's body broke off")]
    OriginRead,
    /// A write to the client failed: it went away.
    #[error("the client went away")]
    ClientGone,
    /// The rewrite pipeline refused the body (class from the pipeline).
    #[error("the origin's response could not be processed ({0})")]
    Pipeline(&'static str),
    /// A planned stream failed (class from its session, or the origin's
    /// own sanitised class).
    #[error("the origin's planned stream failed ({0})")]
    Plan(String),
    /// The AI gateway's answer, in OpenAI's error shape.
    #[error("{}", .0.message())]
    Api(ApiError),
}

/// How an error body is written: plain text, or OpenAI's JSON for the
/// gateway's clients (their SDKs read `error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `sluice: <sentence>` with `x-sluice-error-class`.
    Text,
    /// `{"error":{...}}`.
    OpenAi,
}

impl EdgeError {
    /// The status the client sees before commit.
    pub fn status(&self) -> StatusCode {
        let code = match self {
            EdgeError::BadRequest => 400,
            EdgeError::PayloadTooLarge => 413,
            EdgeError::Config(_) | EdgeError::Internal => 500,
            EdgeError::OriginTimeout => 504,
            // Nobody reads it; 499 marks a client that left, as nginx does.
            EdgeError::ClientGone => 499,
            EdgeError::Api(e) => e.status(),
            EdgeError::OriginUnreachable
            | EdgeError::OriginInvalid
            | EdgeError::OriginRead
            | EdgeError::Pipeline(_)
            | EdgeError::Plan(_) => 502,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// The stable class token for logs, `x-sluice-error-class` and the
    /// access line (docs/ARCHITECTURE.md lists them all).
    pub fn class(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            EdgeError::BadRequest => "bad_request",
            EdgeError::PayloadTooLarge => "payload_too_large",
            EdgeError::Config(_) => "config",
            EdgeError::Internal => "internal",
            EdgeError::OriginUnreachable => "origin_unreachable",
            EdgeError::OriginTimeout => "origin_timeout",
            EdgeError::OriginInvalid => "origin_invalid",
            EdgeError::OriginRead => "origin_read",
            EdgeError::ClientGone => "client_disconnect",
            EdgeError::Pipeline(class) => class,
            EdgeError::Plan(class) => return Cow::Owned(class.clone()),
            EdgeError::Api(e) => e.code().unwrap_or(e.kind()),
        })
    }

    /// The gateway's rendering of an error it did not build itself.
    fn as_api(&self) -> ApiError {
        match self {
            EdgeError::Api(e) => e.clone(),
            EdgeError::OriginTimeout => ApiError::gateway_timeout(),
            _ => ApiError::bad_gateway(),
        }
    }
}

/// Logs the report and builds the client's error response: the one place
/// a failure becomes a status.
pub fn respond(report: &Report<EdgeError>, style: Style) -> Response {
    let err = report.current_context();
    log::error!("{}: {report:?}", err.class());
    let resp = match style {
        Style::Text => {
            // Plan classes may come from the origin: sanitised there, and
            // never a panic here if one still is not a header value.
            let class = HeaderValue::from_str(&err.class())
                .unwrap_or_else(|_| HeaderValue::from_static("internal"));
            Response::from_status(err.status())
                .with_header(ERROR_CLASS_HEADER, class)
                .with_body_text_plain(&format!("sluice: {err}\n"))
        }
        Style::OpenAi => {
            let api = err.as_api();
            let status = StatusCode::from_u16(api.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut resp = Response::from_status(status)
                .with_header(header::CONTENT_TYPE, JSON_CONTENT_TYPE)
                .with_body(api.to_json());
            if let Some((name, value)) = api.header() {
                resp.set_header(name, value);
            }
            resp
        }
    };
    resp.with_header(header::CACHE_CONTROL, "no-store")
}
