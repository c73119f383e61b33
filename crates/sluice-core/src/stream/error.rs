//! Typed errors of the stream layer, one enum per source.
//!
//! * [`DecodeError`]: the *upstream bytes* are malformed (an origin SSE
//!   stream, an Ollama NDJSON body, a line stream).
//! * [`PlanError`]: a *message from the origin* (an upstream plan, a dispatch
//!   open or step response) breaks the contract.
//! * [`FrameError`]: the *edge itself* was asked to frame something SSE cannot
//!   carry (an event name with a newline). Plans are validated up front, so on
//!   a request path this only fires for values that skipped validation.
//!
//! Every error knows the stable [`ErrorClass`] the adapter puts in
//! `x-sluice-error-class` and in SSE `error` events.

use thiserror::Error;

/// Stable, machine-readable failure classes.
///
/// WHY: clients and dashboards key on these strings (`x-sluice-error-class`
/// header before the first byte, `class` in the SSE `error` event after it),
/// so they are part of the public contract documented in
/// `docs/STREAM_PROTOCOLS.md` and must never change spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The origin's plan or dispatch message is not valid JSON or breaks the contract.
    PlanInvalid,
    /// A plan named a backend that is not on the edge's allow-list.
    BackendNotAllowed,
    /// The upstream (or the origin's step endpoint) could not be reached.
    UpstreamConnect,
    /// The upstream did not answer (or went silent) within its timeout.
    UpstreamTimeout,
    /// The upstream answered with a non-2xx status.
    UpstreamStatus,
    /// The upstream body could not be read to its end (reset mid-stream).
    UpstreamRead,
    /// The upstream bytes are malformed: bad framing, invalid UTF-8, a record
    /// that is not JSON, a line over the limit.
    UpstreamProtocol,
    /// The upstream ended before the plan's done condition was met.
    UpstreamTruncated,
    /// A dispatch step response broke the contract (bad JSON, wrong chunk kind).
    StepProtocol,
    /// Step calls kept failing (connection refused, 5xx) past the retry budget.
    StepUnavailable,
    /// A dispatch step did not answer within the per-step timeout.
    LimitStepTimeout,
    /// The dispatch stream made more step calls than allowed.
    LimitSteps,
    /// The stream ran longer than its total duration limit.
    LimitDuration,
    /// The dispatch `state` serialized to more bytes than allowed.
    LimitStateSize,
    /// A dispatch step response body was larger than allowed.
    LimitResponseSize,
    /// The edge's own driving code misused a session (a bug in the adapter).
    Internal,
}

impl ErrorClass {
    /// The wire spelling, e.g. `"upstream_protocol"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlanInvalid => "plan_invalid",
            Self::BackendNotAllowed => "backend_not_allowed",
            Self::UpstreamConnect => "upstream_connect",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamStatus => "upstream_status",
            Self::UpstreamRead => "upstream_read",
            Self::UpstreamProtocol => "upstream_protocol",
            Self::UpstreamTruncated => "upstream_truncated",
            Self::StepProtocol => "step_protocol",
            Self::StepUnavailable => "step_unavailable",
            Self::LimitStepTimeout => "limit_step_timeout",
            Self::LimitSteps => "limit_steps",
            Self::LimitDuration => "limit_duration",
            Self::LimitStateSize => "limit_state_size",
            Self::LimitResponseSize => "limit_response_size",
            Self::Internal => "internal",
        }
    }

    /// Every class, for documentation tests.
    pub const ALL: [ErrorClass; 16] = [
        Self::PlanInvalid,
        Self::BackendNotAllowed,
        Self::UpstreamConnect,
        Self::UpstreamTimeout,
        Self::UpstreamStatus,
        Self::UpstreamRead,
        Self::UpstreamProtocol,
        Self::UpstreamTruncated,
        Self::StepProtocol,
        Self::StepUnavailable,
        Self::LimitStepTimeout,
        Self::LimitSteps,
        Self::LimitDuration,
        Self::LimitStateSize,
        Self::LimitResponseSize,
        Self::Internal,
    ];
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Malformed upstream bytes, from any of the stream decoders.
///
/// `line` is the zero-based index of the offending line in the whole stream
/// (blank lines and comments count). For NDJSON and `lines` each line is one
/// record, so it is also the record index.
///
/// After returning one of these a decoder is poisoned: further input yields
/// [`DecodeError::Poisoned`], so a caller cannot silently resume mid-record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line (without its terminator) is longer than the configured limit.
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Zero-based line index.
        line: u64,
        /// The configured maximum in bytes.
        limit: usize,
    },
    /// An SSE event's joined `data` is larger than the configured limit.
    #[error("the SSE event ending at line {line} has more than {limit} bytes of data")]
    EventTooLarge {
        /// Zero-based index of the line that pushed the event over the limit.
        line: u64,
        /// The configured maximum in bytes.
        limit: usize,
    },
    /// A line is not valid UTF-8.
    #[error("line {line} is not valid UTF-8")]
    InvalidUtf8 {
        /// Zero-based line index.
        line: u64,
    },
    /// An NDJSON record is not one JSON value.
    #[error("NDJSON record {line} is not JSON: {message}")]
    InvalidJson {
        /// Zero-based line (= record) index.
        line: u64,
        /// serde_json's description of the problem.
        message: String,
    },
    /// The decoder already failed; it refuses further input.
    #[error("the decoder already failed and accepts no more input")]
    Poisoned,
}

impl DecodeError {
    /// Every decode error means malformed upstream bytes.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::UpstreamProtocol
    }
}

/// A value the SSE encoder cannot frame without changing its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Event names may not contain CR or LF: they would end the field line.
    #[error("SSE event name contains a line break")]
    EventNameHasNewline,
    /// Ids may not contain CR, LF (would end the line) or NUL (EventSource ignores it).
    #[error("SSE id contains a line break or NUL")]
    InvalidId,
}

/// An origin message (upstream plan, dispatch open or step response) that
/// breaks the contract. The adapter answers 502 with [`PlanError::class`]
/// before the first byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The message is larger than the edge reads.
    #[error("the message is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Bytes received (at least limit + 1).
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The body is not JSON or does not match the message's shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message declares a contract version this edge does not speak.
    #[error("unsupported contract version {0}")]
    UnsupportedVersion(u32),
    /// The plan names a backend that is not on the edge's allow-list.
    #[error("backend {0:?} is not allowed")]
    BackendNotAllowed(String),
    /// Only a fixed set of methods may be planned.
    #[error("method {0:?} is not allowed")]
    MethodNotAllowed(String),
    /// Paths must be origin-relative (`/...`), with no scheme, authority,
    /// fragment, backslash, whitespace or control characters.
    #[error("path {0:?} is not an origin-relative path")]
    InvalidPath(String),
    /// A header name is not an HTTP token.
    #[error("header name {0:?} is not a valid token")]
    InvalidHeaderName(String),
    /// A header value contains CR, LF, NUL or other control characters.
    #[error("header {0:?} has an invalid value")]
    InvalidHeaderValue(String),
    /// A plan may not set hop-by-hop, framing, routing, forwarding or
    /// edge-internal headers.
    #[error("header {0:?} may not be set by a plan")]
    ForbiddenHeader(String),
    /// A JSON Pointer does not start with `/` (and is not empty).
    #[error("{0:?} is not a JSON Pointer")]
    InvalidPointer(String),
    /// A mapper needs at least one pointer.
    #[error("the mapper lists no pointers")]
    NoPointers,
    /// The codec and mapper/done condition cannot work together.
    #[error("{0}")]
    Incompatible(&'static str),
    /// An SSE event name or id in the plan cannot be framed.
    #[error("invalid SSE field: {0}")]
    Frame(#[from] FrameError),
    /// The downstream status cannot carry a streamed body.
    #[error("status {0} is not allowed for a streamed response")]
    InvalidStatus(u16),
    /// A content type contains forbidden characters.
    #[error("content type {0:?} is invalid")]
    InvalidContentType(String),
    /// A numeric limit is zero or above the edge's cap.
    #[error("limit {name} = {value} is outside 1..={cap}")]
    LimitOutOfRange {
        /// The limit's field name.
        name: &'static str,
        /// The value the plan asked for.
        value: u64,
        /// The edge's cap.
        cap: u64,
    },
    /// The `state` serializes to more bytes than allowed.
    #[error("state is over the {limit}-byte limit")]
    StateTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// An error class supplied by the origin is not `[A-Za-z0-9_.-]{1,64}`.
    #[error("error class {0:?} is not a short token")]
    InvalidErrorClass(String),
    /// A text stream chunk was an SSE event object, or the reverse.
    #[error("chunk {index} is not valid for {output} output")]
    ChunkKind {
        /// Zero-based chunk index within the message.
        index: usize,
        /// `"sse"` or `"text"`.
        output: &'static str,
    },
}

impl PlanError {
    /// The class for `x-sluice-error-class`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::BackendNotAllowed(_) => ErrorClass::BackendNotAllowed,
            Self::StateTooLarge { .. } => ErrorClass::LimitStateSize,
            _ => ErrorClass::PlanInvalid,
        }
    }
}
