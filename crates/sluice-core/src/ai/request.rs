//! Client request bodies: the size cap, JSON validation and the
//! `stream_options.include_usage` injection.
//!
//! WHY validate at the edge: a body that is not a JSON object is answered
//! with a 400 here and never reaches the provider, so a broken client costs
//! no upstream request and no provider quota.
//!
//! WHY inject `include_usage`: the provider reports token usage of a
//! streamed completion only when asked, in one extra chunk before
//! `[DONE]`. The edge always asks (so the access log always has the
//! counts) and remembers whether the client asked itself; if not, the relay
//! removes that chunk again ([`crate::ai::relay`]).
//!
//! The body is forwarded byte for byte unless it must change. When it does,
//! the common case (no `stream_options` yet) is a splice that inserts
//! `"stream_options":{"include_usage":true}` before the final `}`, keeping
//! every other byte (key order, number spelling, whitespace). Only a body
//! that already has a `stream_options` without `include_usage: true` is
//! re-serialised, which normalises its key order and whitespace.

use super::errors::ApiError;
use super::routes::Route;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use thiserror::Error;

/// Default cap on a client request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

/// Initial capacity [`BodyCollector`] reserves at most, whatever
/// `Content-Length` claims, so a client announcing 4 MiB and sending
/// nothing does not pin 4 MiB.
const MAX_PREALLOCATION: usize = 64 << 10;

/// Caps of request handling, built with `RequestLimits::default().with_*()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    max_body_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl RequestLimits {
    /// Caps the client request body; bigger bodies get a 413.
    ///
    /// ### Default
    /// 4 MiB ([`DEFAULT_MAX_BODY_BYTES`]).
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The body cap in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Rejects a request whose declared `Content-Length` is already over the
    /// cap, before a single body byte is read. `None` (chunked or absent)
    /// passes; the [`BodyCollector`] enforces the cap while reading.
    pub fn check_content_length(&self, declared: Option<u64>) -> Result<(), RequestError> {
        match declared {
            Some(len) if len > self.max_body_bytes as u64 => Err(RequestError::TooLarge {
                limit: self.max_body_bytes,
            }),
            _ => Ok(()),
        }
    }
}

/// Why a client request is refused. Every variant is the client's fault and
/// maps to a 4xx through [`RequestError::api_error`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is larger than the cap (413).
    #[error("the request body is over the {limit}-byte limit")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not valid JSON, or repeats a key the edge reads (400).
    /// `detail` is serde_json's position-only description, for the log.
    #[error("the request body is not valid JSON: {detail}")]
    InvalidJson {
        /// Where parsing failed; never contains body text.
        detail: String,
    },
    /// The body is JSON but not an object (400).
    #[error("the request body is not a JSON object")]
    NotAnObject,
    /// A field the edge acts on has the wrong type (400).
    #[error("field `{field}` has the wrong type")]
    InvalidField {
        /// The field's name, e.g. `stream`.
        field: &'static str,
    },
}

impl RequestError {
    /// The OpenAI-style response for this error.
    pub fn api_error(&self) -> ApiError {
        match self {
            Self::TooLarge { limit } => ApiError::payload_too_large(*limit),
            Self::InvalidJson { .. } => ApiError::invalid_json(),
            Self::NotAnObject => ApiError::body_not_object(),
            Self::InvalidField { field } => ApiError::invalid_field(field, field_message(field)),
        }
    }
}

fn field_message(field: &str) -> &'static str {
    match field {
        "model" => "`model` must be a string.",
        "stream" => "`stream` must be a boolean.",
        "stream_options" => "`stream_options` must be an object.",
        "stream_options.include_usage" => "`stream_options.include_usage` must be a boolean.",
        _ => "A request field has the wrong type.",
    }
}

/// Reads a client body chunk by chunk and stops as soon as it is over the
/// cap, so an oversized upload costs at most `cap + one chunk` of reading
/// and `cap` bytes of memory.
///
/// ```
/// use sluice_core::ai::request::{BodyCollector, RequestError, RequestLimits};
/// let limits = RequestLimits::default().with_max_body_bytes(8);
/// let mut body = BodyCollector::new(&limits, None).unwrap();
/// body.push(b"{\"a\":").unwrap();
/// assert_eq!(body.push(b"1234}"), Err(RequestError::TooLarge { limit: 8 }));
/// ```
#[derive(Debug)]
pub struct BodyCollector {
    buf: Vec<u8>,
    limit: usize,
}

impl BodyCollector {
    /// Starts collecting. Fails at once when `content_length` is over the
    /// cap (see [`RequestLimits::check_content_length`]).
    pub fn new(limits: &RequestLimits, content_length: Option<u64>) -> Result<Self, RequestError> {
        limits.check_content_length(content_length)?;
        let hint = content_length
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0)
            .min(MAX_PREALLOCATION);
        Ok(Self {
            buf: Vec::with_capacity(hint),
            limit: limits.max_body_bytes,
        })
    }

    /// Appends one chunk; over the cap returns [`RequestError::TooLarge`]
    /// and keeps nothing of the chunk, so the adapter stops reading.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), RequestError> {
        if chunk.len() > self.limit - self.buf.len() {
            return Err(RequestError::TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The collected body, to pass to [`prepare`].
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Reads `body` to its end through [`BodyCollector::push`]. A body
    /// that breaks off is not JSON; one over the cap stops being read.
    pub fn read_all<R: std::io::Read>(mut self, body: &mut R) -> Result<Vec<u8>, ApiError> {
        use crate::pump::{pump, Flow, Pumped};
        match pump(body, |chunk| self.push(chunk).map(|()| Flow::More)) {
            Ok(()) => Ok(self.buf),
            Err(Pumped::Read(_)) => Err(ApiError::invalid_json()),
            Err(Pumped::Handler(e)) => Err(e.api_error()),
        }
    }
}

/// A validated request, ready to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared<'a> {
    /// The exact upstream body: borrowed (identical to the client's) unless
    /// the edge had to add `include_usage`. Empty for `GET /models`.
    pub body: Cow<'a, [u8]>,
    /// The `model` field, for the access log.
    pub model: Option<String>,
    /// `"stream": true` on a streamable route: relay the answer as SSE.
    pub stream: bool,
    /// The client itself set `stream_options.include_usage: true`, so it
    /// must receive the usage chunk.
    pub client_wants_usage: bool,
    /// The edge changed the body to request usage.
    pub usage_injected: bool,
}

impl Prepared<'_> {
    /// Whether the relay must remove the usage-only chunk: the edge asked
    /// for usage on the client's behalf.
    pub fn strip_usage(&self) -> bool {
        self.stream && !self.client_wants_usage
    }
}

/// The fields the edge acts on. Unknown fields are skipped without being
/// materialised, so a 4 MiB body does not become a 4 MiB tree of values.
/// serde rejects a duplicate of any of these keys, so an edge and a
/// provider can never disagree about, say, which `stream` wins.
///
/// A present key is `Some` even when its value is `null` (plain
/// `Option<Value>` would turn `null` into `None`), so `"stream_options":
/// null` is never mistaken for an absent key and spliced into a duplicate.
#[derive(Deserialize)]
struct Head {
    #[serde(default, deserialize_with = "present")]
    model: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    stream: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    stream_options: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Validates `body` for `route` and returns what to forward.
///
/// * over [`RequestLimits::max_body_bytes`] → [`RequestError::TooLarge`];
/// * `GET /models` → nothing is forwarded and the body is not read;
/// * not JSON → [`RequestError::InvalidJson`]; not an object →
///   [`RequestError::NotAnObject`]; `model` not a string, `stream` not a
///   boolean, `stream_options` not an object or `include_usage` not a
///   boolean → [`RequestError::InvalidField`] (`null` counts as absent);
/// * streamed chat/completions without `include_usage: true` → the body
///   gains `stream_options.include_usage = true` (other options kept).
///
/// ```
/// use sluice_core::ai::{request::{prepare, RequestLimits}, routes::Route};
/// let body = br#"{"model":"m","stream":true,"messages":[]}"#;
/// let p = prepare(body, Route::ChatCompletions, &RequestLimits::default()).unwrap();
/// assert_eq!(&*p.body, br#"{"model":"m","stream":true,"messages":[],"stream_options":{"include_usage":true}}"#);
/// assert!(p.strip_usage());
/// ```
pub fn prepare<'a>(
    body: &'a [u8],
    route: Route,
    limits: &RequestLimits,
) -> Result<Prepared<'a>, RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::TooLarge {
            limit: limits.max_body_bytes,
        });
    }
    if !route.has_json_body() {
        return Ok(Prepared {
            body: Cow::Borrowed(&[]),
            model: None,
            stream: false,
            client_wants_usage: false,
            usage_injected: false,
        });
    }
    let start = body.iter().position(|b| !is_json_space(*b));
    if start.is_some_and(|i| body[i] != b'{') {
        // Valid JSON of another kind, or garbage: tell them apart for the
        // client's sake.
        return Err(match serde_json::from_slice::<IgnoredAny>(body) {
            Ok(_) => RequestError::NotAnObject,
            Err(e) => invalid_json(&e),
        });
    }
    let head: Head = serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    let model = match head.model {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => return Err(RequestError::InvalidField { field: "model" }),
    };
    let stream = match head.stream {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(RequestError::InvalidField { field: "stream" }),
    };
    let options = match head.stream_options {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Object(map)) => Some(Some(map)),
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "stream_options",
            })
        }
    };
    let client_wants_usage = match options
        .as_ref()
        .and_then(|o| o.as_ref()?.get("include_usage"))
    {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "stream_options.include_usage",
            })
        }
    };
    let stream = stream && route.is_streamable();
    let mut prepared = Prepared {
        body: Cow::Borrowed(body),
        model,
        stream,
        client_wants_usage,
        usage_injected: false,
    };
    if !stream || client_wants_usage {
        return Ok(prepared);
    }
    prepared.body = Cow::Owned(match options {
        None => splice_stream_options(body),
        Some(_) => reserialise_with_usage(body)?,
    });
    prepared.usage_injected = true;
    Ok(prepared)
}

fn invalid_json(e: &serde_json::Error) -> RequestError {
    // serde_json's Display is "<what> at line L column C": positions only.
    RequestError::InvalidJson {
        detail: e.to_string(),
    }
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

const USAGE_MEMBER: &[u8] = br#""stream_options":{"include_usage":true}"#;

/// Inserts the usage member before the closing brace of a body already
/// parsed as an object without `stream_options`.
fn splice_stream_options(body: &[u8]) -> Vec<u8> {
    let end = body.iter().rposition(|b| !is_json_space(*b)).unwrap_or(0);
    let open = body.iter().position(|b| !is_json_space(*b)).unwrap_or(0);
    let empty = body[open + 1..end].iter().all(|b| is_json_space(*b));
    let mut out = Vec::with_capacity(body.len() + USAGE_MEMBER.len() + 1);
    out.extend_from_slice(&body[..end]);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(USAGE_MEMBER);
    out.extend_from_slice(&body[end..]);
    out
}

/// Sets `stream_options.include_usage = true` keeping the other options;
/// the one path that re-serialises the whole body.
fn reserialise_with_usage(body: &[u8]) -> Result<Vec<u8>, RequestError> {
    let mut root: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    let options = root
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    if let Value::Object(map) = options {
        map.insert("include_usage".to_owned(), Value::Bool(true));
    }
    serde_json::to_vec(&root).map_err(|e| invalid_json(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(body: &str) -> Result<Prepared<'_>, RequestError> {
        prepare(
            body.as_bytes(),
            Route::ChatCompletions,
            &RequestLimits::default(),
        )
    }

    #[test]
    fn read_all_collects_to_the_cap_and_says_why_it_stopped() {
        let limits = RequestLimits::default().with_max_body_bytes(8);
        let collect = |body: &[u8]| {
            BodyCollector::new(&limits, None)
                .unwrap()
                .read_all(&mut &body[..])
        };
        assert_eq!(collect(b"{\"a\":1}"), Ok(b"{\"a\":1}".to_vec()));
        assert_eq!(
            collect(b"{\"a\":12345}"),
            Err(ApiError::payload_too_large(8))
        );
        struct Broken;
        impl std::io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::ConnectionReset.into())
            }
        }
        let broken = BodyCollector::new(&limits, None)
            .unwrap()
            .read_all(&mut Broken);
        assert_eq!(broken, Err(ApiError::invalid_json()));
    }

    #[test]
    fn splice_handles_empty_objects_and_whitespace() {
        assert_eq!(
            splice_stream_options(b" { } \n"),
            b" { \"stream_options\":{\"include_usage\":true}} \n".to_vec()
        );
        assert_eq!(
            splice_stream_options(b"{\"a\":1}"),
            b"{\"a\":1,\"stream_options\":{\"include_usage\":true}}".to_vec()
        );
    }

    #[test]
    fn duplicate_stream_keys_are_refused() {
        assert!(matches!(
            prep(r#"{"stream":false,"stream":true}"#),
            Err(RequestError::InvalidJson { .. })
        ));
    }

    #[test]
    fn wrong_field_types_are_400_with_param() {
        for (body, field) in [
            (r#"{"model":3}"#, "model"),
            (r#"{"stream":"yes"}"#, "stream"),
            (r#"{"stream":true,"stream_options":[]}"#, "stream_options"),
            (
                r#"{"stream":true,"stream_options":{"include_usage":1}}"#,
                "stream_options.include_usage",
            ),
        ] {
            let err = prep(body).unwrap_err();
            assert_eq!(err, RequestError::InvalidField { field });
            let api = err.api_error();
            assert_eq!(api.status(), 400);
            assert_eq!(api.param(), Some(field));
        }
    }

    #[test]
    fn null_stream_options_is_replaced() {
        let p = prep(r#"{"stream":true,"stream_options":null}"#).unwrap();
        assert_eq!(
            &*p.body,
            br#"{"stream":true,"stream_options":{"include_usage":true}}"#
        );
        assert!(p.usage_injected);
    }
}
