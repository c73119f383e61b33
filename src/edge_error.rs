//! The adapter's error type and how it reaches the client.
//!
//! Failures carry an `error-stack` report with context for the log. Before
//! the response is committed the report's [`EdgeError`] becomes a status
//! with a short, fixed body: no internal detail, backend address or secret
//! ever reaches the client. After commit, the stream is aborted instead
//! (see `sink`).

use error_stack::Report;
use fastly::http::StatusCode;
use fastly::Response;

/// What went wrong, at the granularity a client may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The origin could not be reached or reset before the response head.
    #[error("origin unreachable")]
    OriginUnreachable,
    /// The origin did not send a response head in time.
    #[error("origin timed out")]
    OriginTimeout,
    /// The origin's response could not be used (bad framing, bad plan).
    #[error("invalid origin response")]
    OriginInvalid,
    /// The service's own configuration is invalid.
    #[error("configuration error")]
    Config,
    /// The request body is over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request itself is malformed.
    #[error("bad request")]
    BadRequest,
    /// An edge-side failure that is nobody's input.
    #[error("internal error")]
    Internal,
}

impl EdgeError {
    /// The status the client sees.
    pub fn status(self) -> StatusCode {
        match self {
            EdgeError::OriginUnreachable | EdgeError::OriginInvalid => StatusCode::BAD_GATEWAY,
            EdgeError::OriginTimeout => StatusCode::GATEWAY_TIMEOUT,
            EdgeError::Config | EdgeError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            EdgeError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable token for logs and the `x-sluice-error-class` header.
    pub fn class(self) -> &'static str {
        match self {
            EdgeError::OriginUnreachable => "origin_unreachable",
            EdgeError::OriginTimeout => "origin_timeout",
            EdgeError::OriginInvalid => "origin_invalid",
            EdgeError::Config => "config",
            EdgeError::PayloadTooLarge => "payload_too_large",
            EdgeError::BadRequest => "bad_request",
            EdgeError::Internal => "internal",
        }
    }
}

/// Logs the full report and builds the short client response.
///
/// `public_detail` may add one safe sentence (e.g. the config key name);
/// it must never contain values, addresses or secrets.
pub fn respond(report: &Report<EdgeError>, public_detail: Option<&str>) -> Response {
    let err = *report.current_context();
    log::error!("{}: {report:?}", err.class());
    let mut body = format!("sluice: {err}");
    if let Some(detail) = public_detail {
        body.push_str(": ");
        body.push_str(detail);
    }
    body.push('\n');
    Response::from_status(err.status())
        .with_header("x-sluice-error-class", err.class())
        .with_header("cache-control", "no-store")
        .with_body_text_plain(&body)
}
