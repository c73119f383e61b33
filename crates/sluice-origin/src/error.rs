//! The one error type of the request path: every route failure becomes a
//! status and a short plain-text body, never a panic.

use std::fmt;

/// Why a route could not produce its normal response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The request is malformed: bad path segment, query or body (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Nothing lives at that path (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The path exists but not for this method (405); carries the `Allow`.
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// A request body exceeded the route's cap (413).
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(u64),
    /// The origin itself failed (500): I/O, a blocking task, encoding.
    #[error("internal error: {0}")]
    Internal(String),
    /// The route deliberately kills the connection without any response
    /// (fault injection); the server drops it with a TCP reset.
    #[error("connection killed on purpose")]
    ConnectionKilled,
}

impl RouteError {
    /// A 400 with a formatted reason.
    pub fn bad(msg: impl fmt::Display) -> Self {
        Self::BadRequest(msg.to_string())
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::BadRequest(_) => S::BAD_REQUEST,
            Self::NotFound(_) => S::NOT_FOUND,
            Self::MethodNotAllowed(_) => S::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => S::PAYLOAD_TOO_LARGE,
            Self::Internal(_) | Self::ConnectionKilled => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<std::io::Error> for RouteError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<http::Error> for RouteError {
    fn from(e: http::Error) -> Self {
        Self::BadRequest(format!("invalid response header: {e}"))
    }
}
