//! The adapter's one error model, minus the platform: what went wrong (an
//! [`EdgeError`], the typed context of the adapter's `error-stack`
//! reports) decides, here and nowhere else, the status, the error class
//! and the short body the client sees.
//!
//! Before the response is committed an error becomes that status; after
//! commit only its class is recorded, as the access line's `abort` (the
//! body was already broken off, or ended with an in-band error event).
//! Bodies are fixed sentences plus, for configuration errors, the key's
//! name: never a value, a backend address or a secret.

use std::borrow::Cow;

use crate::ai::errors::JSON_CONTENT_TYPE;
use crate::ai::ApiError;
use crate::stream::ERROR_CLASS_HEADER;

/// What went wrong, at the granularity a client or operator may see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The client's request is malformed.
    #[error("bad request")]
    BadRequest,
    /// The client's request is malformed, and the edge says how (a fixed
    /// sentence naming the problem, never echoing the request).
    #[error("bad request: {0}")]
    Invalid(String),
    /// The request lacks valid credentials for an edge-owned route.
    #[error("unauthorized")]
    Unauthorized,
    /// An edge-owned route does not take this method; the value is the
    /// `Allow` header.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
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
    /// own validated class).
    #[error("the origin's planned stream failed ({0})")]
    Plan(String),
    /// The AI gateway's answer, in OpenAI's error shape.
    #[error("{}", .0.message())]
    Api(ApiError),
}

/// A failure and its detail for the log: what the core's stream drivers
/// return. The adapter turns it into an `error-stack` report whose context
/// is [`EdgeFault::error`], so the one status mapping still decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeFault {
    /// What went wrong (boxed: a fault is rare, and the `Ok` path should
    /// not carry its size).
    pub error: Box<EdgeError>,
    /// For the log only (never sent to the client).
    pub detail: String,
}

impl EdgeFault {
    /// A failure with its detail.
    pub fn new(error: EdgeError, detail: impl std::fmt::Display) -> Self {
        Self {
            error: Box::new(error),
            detail: detail.to_string(),
        }
    }

    /// A write to the client failed.
    pub fn client_gone(e: impl std::fmt::Display) -> Self {
        Self::new(EdgeError::ClientGone, e)
    }

    /// A planned stream failed with `class`.
    pub fn plan(class: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(EdgeError::Plan(class.to_owned()), detail)
    }
}

impl From<crate::http::upload::UploadError> for EdgeFault {
    fn from(e: crate::http::upload::UploadError) -> Self {
        use crate::http::upload::UploadError;
        let error = match e {
            UploadError::TooLarge { .. } => EdgeError::PayloadTooLarge,
            UploadError::BadLength => EdgeError::BadRequest,
        };
        Self::new(error, e)
    }
}

impl From<crate::cache::purge::PurgeError> for EdgeFault {
    /// The purge route names what is wrong with the body (fixed
    /// sentences; nothing of the body is echoed).
    fn from(e: crate::cache::purge::PurgeError) -> Self {
        use crate::cache::purge::PurgeError;
        match e {
            PurgeError::TooLarge => Self::new(EdgeError::PayloadTooLarge, e),
            other => Self::new(EdgeError::Invalid(other.to_string()), "purge body"),
        }
    }
}

impl From<crate::pump::CopyStop> for EdgeFault {
    /// A client upload copied upstream: over its cap it is the client's
    /// `413`, a failed read the client's `400`, a failed write the
    /// backend's.
    fn from(stop: crate::pump::CopyStop) -> Self {
        use crate::pump::CopyStop;
        match stop {
            CopyStop::TooLarge(limit) => Self::new(
                EdgeError::PayloadTooLarge,
                format!("upload passed {limit} bytes"),
            ),
            CopyStop::Read(e) => {
                Self::new(EdgeError::BadRequest, format!("reading the upload: {e}"))
            }
            CopyStop::Write(e) => Self::new(
                EdgeError::OriginUnreachable,
                format!("streaming the upload: {e}"),
            ),
        }
    }
}

/// How an error body is written for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `sluice: <sentence>` as text, with `x-sluice-error-class`.
    Text,
    /// OpenAI's `{"error":{...}}` JSON: the gateway's clients are OpenAI
    /// SDKs, which read `error.code`.
    OpenAi,
}

/// An error response, ready for the platform to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The status.
    pub status: u16,
    /// Headers to set, in order. Values may come from the origin (a plan's
    /// class): the platform drops one it cannot represent.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A failed backend call as the loops that decide on it see it: an AI
/// attempt (retry or fall back), a dispatch step (its session retries) and
/// an upstream plan's call (ends the stream with its class). `detail` is
/// for logs and the plan's access-line detail, never the client.
impl EdgeError {
    /// An AI attempt's failure: an invalid answer counts as a broken read.
    pub fn attempt_failure(&self) -> crate::ai::fallback::Failure {
        use crate::ai::fallback::Failure;
        match self {
            EdgeError::OriginTimeout => Failure::Timeout,
            EdgeError::OriginInvalid => Failure::Read,
            _ => Failure::Connect,
        }
    }

    /// A dispatch step's failure.
    pub fn step_failure(&self, detail: String) -> crate::stream::dispatch::StepFailure {
        use crate::stream::dispatch::StepFailure;
        match self {
            EdgeError::OriginTimeout => StepFailure::Timeout,
            EdgeError::OriginRead => StepFailure::Read(detail),
            _ => StepFailure::Connect(detail),
        }
    }

    /// An upstream plan call's failure before its head.
    pub fn upstream_failure(&self, detail: String) -> crate::stream::UpstreamFailure {
        use crate::stream::UpstreamFailure;
        match self {
            EdgeError::OriginTimeout => UpstreamFailure::Timeout,
            _ => UpstreamFailure::Connect(detail),
        }
    }
}

impl EdgeError {
    /// The status the client sees before commit.
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::BadRequest | EdgeError::Invalid(_) => 400,
            EdgeError::Unauthorized => 401,
            EdgeError::MethodNotAllowed(_) => 405,
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
        }
    }

    /// The stable class token for logs, `x-sluice-error-class` and the
    /// access line (docs/ARCHITECTURE.md lists them).
    pub fn class(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            EdgeError::BadRequest | EdgeError::Invalid(_) => "bad_request",
            EdgeError::Unauthorized => "unauthorized",
            EdgeError::MethodNotAllowed(_) => "method_not_allowed",
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

    /// The response a client gets for this error in `style`.
    pub fn response(&self, style: Style) -> ErrorResponse {
        let mut headers = vec![("cache-control", "no-store".to_owned())];
        match style {
            Style::Text => {
                headers.push((ERROR_CLASS_HEADER, self.class().into_owned()));
                match self {
                    EdgeError::Unauthorized => headers.push(("www-authenticate", "Bearer".into())),
                    EdgeError::MethodNotAllowed(allow) => headers.push(("allow", (*allow).into())),
                    _ => {}
                }
                headers.push(("content-type", "text/plain; charset=utf-8".to_owned()));
                ErrorResponse {
                    status: self.status(),
                    headers,
                    body: format!("sluice: {self}\n").into_bytes(),
                }
            }
            Style::OpenAi => {
                let api = match self {
                    EdgeError::Api(e) => e.clone(),
                    EdgeError::OriginTimeout => ApiError::gateway_timeout(),
                    _ => ApiError::bad_gateway(),
                };
                headers.push(("content-type", JSON_CONTENT_TYPE.to_owned()));
                if let Some((name, value)) = api.header() {
                    headers.push((name, value.to_owned()));
                }
                ErrorResponse {
                    status: api.status(),
                    headers,
                    body: api.to_json(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_is_a_timeout_a_read_or_a_connect_failure_per_loop() {
        use crate::ai::fallback::Failure;
        use crate::stream::dispatch::StepFailure;
        use crate::stream::UpstreamFailure;
        let d = || "why".to_owned();
        let timeout = EdgeError::OriginTimeout;
        assert_eq!(timeout.attempt_failure(), Failure::Timeout);
        assert_eq!(timeout.step_failure(d()), StepFailure::Timeout);
        assert_eq!(timeout.upstream_failure(d()), UpstreamFailure::Timeout);
        assert_eq!(EdgeError::OriginInvalid.attempt_failure(), Failure::Read);
        let read = EdgeError::OriginRead;
        assert_eq!(read.step_failure(d()), StepFailure::Read(d()));
        assert_eq!(read.attempt_failure(), Failure::Connect);
        let unreachable = EdgeError::OriginUnreachable;
        assert_eq!(unreachable.step_failure(d()), StepFailure::Connect(d()));
        assert_eq!(
            unreachable.upstream_failure(d()),
            UpstreamFailure::Connect(d())
        );
    }

    #[test]
    fn input_faults_become_the_status_their_side_owns() {
        use crate::cache::purge::PurgeError;
        use crate::http::upload::UploadError;
        use crate::pump::CopyStop;
        let status = |f: EdgeFault| f.error.response(Style::Text).status;
        let declared = UploadError::TooLarge {
            declared: 9,
            limit: 8,
        };
        assert_eq!(status(declared.into()), 413);
        assert_eq!(status(UploadError::BadLength.into()), 400);
        assert_eq!(status(PurgeError::TooLarge.into()), 413);
        let malformed = EdgeFault::from(PurgeError::Malformed);
        assert_eq!(status(malformed), 400);
        assert_eq!(status(CopyStop::TooLarge(8).into()), 413);
        assert_eq!(
            status(CopyStop::Read(std::io::ErrorKind::ConnectionReset.into()).into()),
            400
        );
        assert_eq!(
            status(CopyStop::Write(std::io::ErrorKind::BrokenPipe.into()).into()),
            502
        );
    }

    fn header<'a>(r: &'a ErrorResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn statuses_and_classes() {
        let cases: [(EdgeError, u16, &str); 15] = [
            (EdgeError::BadRequest, 400, "bad_request"),
            (EdgeError::Invalid("x".into()), 400, "bad_request"),
            (EdgeError::Unauthorized, 401, "unauthorized"),
            (
                EdgeError::MethodNotAllowed("POST"),
                405,
                "method_not_allowed",
            ),
            (EdgeError::PayloadTooLarge, 413, "payload_too_large"),
            (EdgeError::Config("k".into()), 500, "config"),
            (EdgeError::Internal, 500, "internal"),
            (EdgeError::OriginUnreachable, 502, "origin_unreachable"),
            (EdgeError::OriginTimeout, 504, "origin_timeout"),
            (EdgeError::OriginInvalid, 502, "origin_invalid"),
            (EdgeError::OriginRead, 502, "origin_read"),
            (EdgeError::ClientGone, 499, "client_disconnect"),
            (EdgeError::Pipeline("corrupt_input"), 502, "corrupt_input"),
            (
                EdgeError::Plan("counter.failed".into()),
                502,
                "counter.failed",
            ),
            (
                EdgeError::Api(ApiError::invalid_api_key()),
                401,
                "invalid_api_key",
            ),
        ];
        for (err, status, class) in cases {
            assert_eq!(
                (err.status(), err.class().as_ref()),
                (status, class),
                "{err:?}"
            );
        }
    }

    #[test]
    fn text_bodies_are_short_and_name_the_key_never_a_value() {
        let r = EdgeError::Config("config key `publisher.gzip_level` must be 0..=9".into())
            .response(Style::Text);
        assert_eq!(r.status, 500);
        assert_eq!(
            r.body,
            b"sluice: configuration error: config key `publisher.gzip_level` must be 0..=9\n"
        );
        assert_eq!(header(&r, ERROR_CLASS_HEADER), Some("config"));
        assert_eq!(header(&r, "cache-control"), Some("no-store"));
    }

    #[test]
    fn edge_owned_routes_say_how_to_retry() {
        let r = EdgeError::Unauthorized.response(Style::Text);
        assert_eq!(
            (r.status, header(&r, "www-authenticate")),
            (401, Some("Bearer"))
        );
        let r = EdgeError::MethodNotAllowed("POST").response(Style::Text);
        assert_eq!((r.status, header(&r, "allow")), (405, Some("POST")));
        let r = EdgeError::Invalid("paths[0] is not a path".into()).response(Style::Text);
        assert_eq!(r.body, b"sluice: bad request: paths[0] is not a path\n");
    }

    #[test]
    fn the_gateway_answers_in_openai_json_whatever_failed() {
        let r = EdgeError::Api(ApiError::invalid_api_key()).response(Style::OpenAi);
        assert_eq!(r.status, 401);
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
        assert_eq!(header(&r, "content-type"), Some(JSON_CONTENT_TYPE));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        let t = EdgeError::OriginTimeout.response(Style::OpenAi);
        assert_eq!(t.status, 504);
        let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(v["error"]["code"], "upstream_timeout");
        let c = EdgeError::Config("x".into()).response(Style::OpenAi);
        assert_eq!(
            c.status, 502,
            "a provider-facing failure, in the SDK's terms"
        );
        assert!(header(&c, ERROR_CLASS_HEADER).is_none());
    }
}
