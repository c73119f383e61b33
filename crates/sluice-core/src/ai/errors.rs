//! OpenAI-style error bodies and the HTTP status each one maps to.
//!
//! WHY: clients of the gateway are OpenAI SDKs. They decide what to raise
//! from the status code and read `error.message` / `error.code` from a body
//! shaped `{"error":{"message","type","param","code"}}`. Answering in that
//! shape (even for errors the edge produces itself) keeps the official
//! clients' exceptions meaningful.
//!
//! Messages are short, fixed sentences: they never echo a key, a header, a
//! backend name or an upstream body, so nothing secret can leak through them.

use serde::Serialize;
use std::borrow::Cow;

/// `Content-Type` of every error body built here.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// One error the edge answers with, before or (as an SSE event) after the
/// first byte.
///
/// Build it with the named constructors; each fixes the status, the `type`
/// and the `code` so the adapter cannot pair them inconsistently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: u16,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<&'static str>,
    message: Cow<'static, str>,
    header: Option<(&'static str, &'static str)>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

const INVALID_REQUEST: &str = "invalid_request_error";
const SERVER_ERROR: &str = "server_error";

impl ApiError {
    fn new(
        status: u16,
        kind: &'static str,
        code: Option<&'static str>,
        message: &'static str,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            param: None,
            message: Cow::Borrowed(message),
            header: None,
        }
    }

    /// 400 `invalid_request_error`: the body is not valid JSON. The request
    /// is never forwarded.
    pub fn invalid_json() -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            None,
            "We could not parse the JSON body of your request.",
        )
    }

    /// 400 `invalid_request_error`: the body is JSON but not an object.
    pub fn body_not_object() -> Self {
        Self::new(
            400,
            INVALID_REQUEST,
            None,
            "The request body must be a JSON object.",
        )
    }

    /// 400 `invalid_request_error` about one named request field (for
    /// example `stream` that is not a boolean). `param` names the field, as
    /// OpenAI does; `message` must be a fixed sentence, never client input.
    pub fn invalid_field(param: &'static str, message: &'static str) -> Self {
        Self {
            param: Some(param),
            ..Self::new(400, INVALID_REQUEST, None, message)
        }
    }

    /// 401 with code `invalid_api_key`, for a missing, malformed or unknown
    /// client key. One message for every case so a prober learns nothing
    /// about which check failed. Carries `WWW-Authenticate: Bearer`
    /// (RFC 6750 §3) in [`ApiError::header`].
    pub fn invalid_api_key() -> Self {
        Self {
            header: Some(("www-authenticate", "Bearer")),
            ..Self::new(
                401,
                INVALID_REQUEST,
                Some("invalid_api_key"),
                "Invalid or missing API key. Send it as `Authorization: Bearer <key>`.",
            )
        }
    }

    /// 404 with code `unknown_url`: a path under the gateway prefix that is
    /// not one of its routes. The path itself is not echoed.
    pub fn not_found() -> Self {
        Self::new(
            404,
            INVALID_REQUEST,
            Some("unknown_url"),
            "Unknown API route.",
        )
    }

    /// 405 with code `method_not_allowed`; `allow` is the `Allow` header
    /// value the adapter must send (RFC 9110 §15.5.6), exposed through
    /// [`ApiError::header`].
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            header: Some(("allow", allow)),
            ..Self::new(
                405,
                INVALID_REQUEST,
                Some("method_not_allowed"),
                "This method is not allowed on this route.",
            )
        }
    }

    /// 413 with code `request_too_large`: the body is over the configured
    /// cap (the cap is stated so a client can fix its request).
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self {
            message: Cow::Owned(format!(
                "The request body is larger than the {limit_bytes}-byte limit."
            )),
            ..Self::new(413, INVALID_REQUEST, Some("request_too_large"), "")
        }
    }

    /// 429 with code `rate_limit_exceeded`: every backend tried answered 429.
    pub fn rate_limited() -> Self {
        Self::new(
            429,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            "The upstream model provider is rate limiting requests. Retry later.",
        )
    }

    /// 502 `server_error` with code `upstream_error`: the provider failed
    /// (connect error, 5xx, reset, malformed stream).
    pub fn bad_gateway() -> Self {
        Self::new(
            502,
            SERVER_ERROR,
            Some("upstream_error"),
            "The upstream model provider failed.",
        )
    }

    /// 503 `server_error` with code `upstream_unavailable`: the provider
    /// said it is unavailable (503).
    pub fn service_unavailable() -> Self {
        Self::new(
            503,
            SERVER_ERROR,
            Some("upstream_unavailable"),
            "The upstream model provider is unavailable.",
        )
    }

    /// 504 `server_error` with code `upstream_timeout`: the provider did not
    /// answer in time.
    pub fn gateway_timeout() -> Self {
        Self::new(
            504,
            SERVER_ERROR,
            Some("upstream_timeout"),
            "The upstream model provider timed out.",
        )
    }

    /// The in-stream failure after the first byte: the status is already
    /// sent, so this only travels as an SSE event (see
    /// [`crate::ai::relay::error_tail`]). Nominal status 502.
    pub fn stream_interrupted() -> Self {
        Self::new(
            502,
            SERVER_ERROR,
            Some("upstream_stream_error"),
            "The upstream stream failed before it completed.",
        )
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The OpenAI `type` field, e.g. `invalid_request_error`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The OpenAI `code` field, e.g. `invalid_api_key`.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The OpenAI `param` field: the request field at fault, if any.
    pub fn param(&self) -> Option<&'static str> {
        self.param
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// One extra response header this status requires (`WWW-Authenticate`
    /// for 401, `Allow` for 405), as `(lower-case name, value)`.
    pub fn header(&self) -> Option<(&'static str, &'static str)> {
        self.header
    }

    /// Appends the compact JSON body
    /// `{"error":{"message":…,"type":…,"param":…,"code":…}}` to `out`.
    ///
    /// ```
    /// use sluice_core::ai::errors::ApiError;
    /// let mut out = Vec::new();
    /// ApiError::not_found().write_json(&mut out);
    /// assert_eq!(
    ///     out,
    ///     br#"{"error":{"message":"Unknown API route.","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#
    /// );
    /// ```
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        // Serialising plain strings and options into a Vec cannot fail; the
        // fallback keeps this path free of panics all the same.
        if serde_json::to_writer(&mut *out, &envelope).is_err() {
            out.extend_from_slice(
                br#"{"error":{"message":"error","type":"server_error","param":null,"code":null}}"#,
            );
        }
    }

    /// The JSON body as a fresh vector (see [`ApiError::write_json`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        self.write_json(&mut out);
        out
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&e.to_json()).unwrap()
    }

    #[test]
    fn every_builder_maps_to_its_status_type_and_code() {
        let cases = [
            (ApiError::invalid_json(), 400, INVALID_REQUEST, None),
            (ApiError::body_not_object(), 400, INVALID_REQUEST, None),
            (
                ApiError::invalid_api_key(),
                401,
                INVALID_REQUEST,
                Some("invalid_api_key"),
            ),
            (
                ApiError::not_found(),
                404,
                INVALID_REQUEST,
                Some("unknown_url"),
            ),
            (
                ApiError::method_not_allowed("POST"),
                405,
                INVALID_REQUEST,
                Some("method_not_allowed"),
            ),
            (
                ApiError::payload_too_large(10),
                413,
                INVALID_REQUEST,
                Some("request_too_large"),
            ),
            (
                ApiError::rate_limited(),
                429,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            ),
            (
                ApiError::bad_gateway(),
                502,
                SERVER_ERROR,
                Some("upstream_error"),
            ),
            (
                ApiError::service_unavailable(),
                503,
                SERVER_ERROR,
                Some("upstream_unavailable"),
            ),
            (
                ApiError::gateway_timeout(),
                504,
                SERVER_ERROR,
                Some("upstream_timeout"),
            ),
        ];
        for (error, status, kind, code) in cases {
            assert_eq!(error.status(), status, "{error}");
            let v = json(&error);
            let obj = v["error"].as_object().unwrap();
            assert_eq!(obj.len(), 4, "{v}");
            assert_eq!(v["error"]["type"], kind);
            assert_eq!(v["error"]["param"], serde_json::Value::Null);
            assert_eq!(v["error"]["code"], serde_json::json!(code));
            assert_eq!(v["error"]["message"], error.message());
            assert!(!error.message().is_empty());
        }
    }

    #[test]
    fn exact_bytes_of_the_401_body_and_its_header() {
        let e = ApiError::invalid_api_key();
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"error":{"message":"Invalid or missing API key. Send it as `Authorization: Bearer <key>`.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#
        );
        assert_eq!(e.header(), Some(("www-authenticate", "Bearer")));
    }

    #[test]
    fn field_errors_name_the_param_and_405_carries_allow() {
        let e = ApiError::invalid_field("stream", "`stream` must be a boolean.");
        assert_eq!(json(&e)["error"]["param"], "stream");
        assert_eq!(
            ApiError::method_not_allowed("GET").header(),
            Some(("allow", "GET"))
        );
    }

    #[test]
    fn too_large_states_the_limit() {
        assert_eq!(
            ApiError::payload_too_large(4194304).message(),
            "The request body is larger than the 4194304-byte limit."
        );
    }
}
