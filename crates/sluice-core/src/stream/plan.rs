//! The upstream plan (`application/vnd.sluice.upstream-plan+json`): the
//! origin names a backend and a request, the edge opens the stream itself,
//! decodes it, maps each record and writes SSE or text downstream.
//!
//! Parsing and validation happen once, before anything is sent; a plan that
//! fails them never reaches a backend (the adapter answers 502 with
//! [`PlanError::class`]).

use super::error::{FrameError, PlanError};
use super::headers::{self, Direction};
use super::mapper::{DoneCondition, Mapper};
use super::outcome::{build_head, OutputKind, ResponseHead};
use super::upstream::UpstreamSession;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Content type that marks an origin response as an upstream plan. Only
/// honoured on responses from the configured `origin` backend.
pub const UPSTREAM_PLAN_CONTENT_TYPE: &str = "application/vnd.sluice.upstream-plan+json";
/// The only contract version this edge speaks.
pub const CONTRACT_VERSION: u32 = 1;

/// Default and cap of the plan body the adapter reads: 64 KiB.
pub const DEFAULT_MAX_PLAN_BYTES: usize = 64 * 1024;
/// Default and cap of one upstream record: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// Default and cap of the wait for the upstream's first byte: 60 s.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 60_000;
/// Default and cap of a quiet gap between upstream bytes: 60 s.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u64 = 60_000;

/// The plan message exactly as the origin sends it (see
/// `docs/schemas/upstream-plan.schema.json`). Unknown fields are rejected so
/// a typo never silently changes behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPlan {
    /// Contract version; must be 1 when present.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Name of a configured backend (never a URL).
    pub backend: String,
    /// Request method: `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Origin-relative request target (`/api/chat?x=1`).
    pub path: String,
    /// Request headers; forbidden names are rejected.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<PlanBody>,
    /// How to split the upstream body into records.
    pub codec: Codec,
    /// How a record becomes a token.
    pub mapper: Mapper,
    /// When the upstream stream is complete. Without one, end of body is
    /// completion; with one, end of body before it is `upstream_truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<DoneCondition>,
    /// Downstream body kind.
    pub output: OutputKind,
    /// Downstream content type; defaults per output kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// SSE event names (only with `output: "sse"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseNames>,
    /// Extra downstream response headers; forbidden names are rejected.
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
    /// Tighter limits than the edge's defaults.
    #[serde(default)]
    pub limits: PlanLimits,
}

fn default_version() -> u32 {
    CONTRACT_VERSION
}

/// The upstream request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PlanBody {
    /// Sent as compact JSON; `content-type: application/json` is added when
    /// the plan's headers have none.
    Json(Value),
    /// Sent as these exact UTF-8 bytes.
    Text(String),
}

/// Upstream record framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// One JSON value per line (Ollama).
    Ndjson,
    /// Server-Sent Events; a record is one event's data (OpenAI).
    Sse,
    /// Plain text lines; only `passthrough` and `sentinel` make sense.
    Lines,
}

/// SSE naming of the downstream events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SseNames {
    /// `event:` name of token events; absent means the default `message`
    /// type (for `passthrough` from SSE: the upstream event's own name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_event: Option<String>,
    /// The event written once when the stream completes; absent means none.
    #[serde(default, rename = "final", skip_serializing_if = "Option::is_none")]
    pub final_event: Option<FinalEvent>,
}

/// The completion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalEvent {
    /// Its `event:` name; absent means `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Its data, e.g. `[DONE]` for OpenAI-style clients.
    pub data: String,
}

/// Per-plan limits; each may only tighten the edge's [`PlanPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Longest upstream record in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_bytes: Option<u64>,
    /// Wait for the upstream's response and first body byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout_ms: Option<u64>,
    /// Longest quiet gap between upstream body bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between_bytes_timeout_ms: Option<u64>,
}

/// The edge's side of plan validation: which backends a plan may name and
/// the caps its limits may not exceed (each cap is also the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPolicy {
    allowed_backends: Vec<String>,
    max_plan_bytes: usize,
    max_record_bytes: usize,
    first_byte_timeout_ms: u64,
    between_bytes_timeout_ms: u64,
}

impl PlanPolicy {
    /// A policy allowing exactly `backends` (matched case-sensitively, as
    /// Fastly backend names are), with default caps.
    pub fn new<I, S>(backends: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            allowed_backends: backends.into_iter().map(Into::into).collect(),
            max_plan_bytes: DEFAULT_MAX_PLAN_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            first_byte_timeout_ms: DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            between_bytes_timeout_ms: DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
        }
    }

    /// Largest plan body accepted; the adapter reads at most this + 1 bytes.
    ///
    /// ### Default
    /// 64 KiB ([`DEFAULT_MAX_PLAN_BYTES`]).
    pub fn with_max_plan_bytes(mut self, bytes: usize) -> Self {
        self.max_plan_bytes = bytes;
        self
    }

    /// Cap (and default) of one upstream record.
    ///
    /// ### Default
    /// 1 MiB ([`DEFAULT_MAX_RECORD_BYTES`]).
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Cap (and default) of the first-byte timeout.
    ///
    /// ### Default
    /// 60 s ([`DEFAULT_FIRST_BYTE_TIMEOUT_MS`]).
    pub fn with_first_byte_timeout_ms(mut self, ms: u64) -> Self {
        self.first_byte_timeout_ms = ms;
        self
    }

    /// Cap (and default) of the between-bytes timeout.
    ///
    /// ### Default
    /// 60 s ([`DEFAULT_BETWEEN_BYTES_TIMEOUT_MS`]), which fits streams with
    /// quiet gaps of up to a minute.
    pub fn with_between_bytes_timeout_ms(mut self, ms: u64) -> Self {
        self.between_bytes_timeout_ms = ms;
        self
    }

    /// The plan body cap, for the adapter's bounded read.
    pub fn max_plan_bytes(&self) -> usize {
        self.max_plan_bytes
    }

    /// True when `backend` is on the allow-list.
    pub fn allows(&self, backend: &str) -> bool {
        self.allowed_backends.iter().any(|b| b == backend)
    }
}

/// The request the adapter sends to the planned backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// Allow-listed backend name.
    pub backend: String,
    /// Validated method.
    pub method: String,
    /// Validated origin-relative path.
    pub path: String,
    /// Sanitised lower-case headers, plus `accept-encoding: identity` and,
    /// for JSON bodies without one, `content-type: application/json`.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty when the plan has none).
    pub body: Vec<u8>,
}

/// Limits in force for one plan after applying the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveLimits {
    /// Longest upstream record.
    pub max_record_bytes: usize,
    /// The adapter's first-byte timeout for the upstream request.
    pub first_byte_timeout_ms: u64,
    /// The adapter's between-bytes timeout for the upstream body.
    pub between_bytes_timeout_ms: u64,
}

/// A plan that passed validation: the only way to get an
/// [`UpstreamSession`].
#[derive(Debug, Clone)]
pub struct ValidatedPlan {
    pub(crate) request: UpstreamRequest,
    pub(crate) head: ResponseHead,
    pub(crate) codec: Codec,
    pub(crate) mapper: Mapper,
    pub(crate) done: Option<DoneCondition>,
    pub(crate) output: OutputKind,
    pub(crate) sse: SseNames,
    pub(crate) limits: EffectiveLimits,
}

impl ValidatedPlan {
    /// Parses and validates a plan body. `bytes` may be longer than the
    /// policy's cap (then this fails with [`PlanError::TooLarge`]), so the
    /// adapter can read `max_plan_bytes() + 1` and pass what it got.
    pub fn parse(bytes: &[u8], policy: &PlanPolicy) -> Result<Self, PlanError> {
        if bytes.len() > policy.max_plan_bytes {
            return Err(PlanError::TooLarge {
                size: bytes.len(),
                limit: policy.max_plan_bytes,
            });
        }
        let plan: UpstreamPlan =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Malformed(e.to_string()))?;
        plan.validate(policy)
    }

    /// The request to send.
    pub fn request(&self) -> &UpstreamRequest {
        &self.request
    }

    /// The downstream head to send once the first output exists.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Limits in force (the adapter applies the timeouts).
    pub fn limits(&self) -> &EffectiveLimits {
        &self.limits
    }

    /// Downstream body kind.
    pub fn output(&self) -> OutputKind {
        self.output
    }

    /// A fresh session to drive with the upstream body.
    pub fn session(&self) -> UpstreamSession {
        UpstreamSession::new(self)
    }
}

impl UpstreamPlan {
    /// Checks every rule of the contract against `policy`. The rules are
    /// listed in `docs/STREAM_PROTOCOLS.md`; each failure has its own
    /// [`PlanError`] variant.
    pub fn validate(self, policy: &PlanPolicy) -> Result<ValidatedPlan, PlanError> {
        if self.version != CONTRACT_VERSION {
            return Err(PlanError::UnsupportedVersion(self.version));
        }
        if !policy.allows(&self.backend) {
            return Err(PlanError::BackendNotAllowed(self.backend));
        }
        headers::validate_method(&self.method)?;
        headers::validate_path(&self.path)?;
        let mut request_headers = headers::sanitize(&self.headers, Direction::UpstreamRequest)?;
        self.mapper.validate()?;
        if let Some(done) = &self.done {
            done.validate()?;
        }
        if self.codec == Codec::Lines {
            if self.mapper.needs_json() {
                return Err(PlanError::Incompatible(
                    "the lines codec carries text: use the passthrough mapper",
                ));
            }
            if matches!(self.done, Some(DoneCondition::PointerEquals { .. })) {
                return Err(PlanError::Incompatible(
                    "the lines codec carries text: use a sentinel done condition",
                ));
            }
        }
        let sse = match (self.output, self.sse) {
            (OutputKind::Text, Some(_)) => {
                return Err(PlanError::Incompatible(
                    "sse event names need output \"sse\"",
                ))
            }
            (_, sse) => sse.unwrap_or_default(),
        };
        check_event_name(sse.token_event.as_deref())?;
        check_event_name(sse.final_event.as_ref().and_then(|f| f.event.as_deref()))?;
        if let Some(ct) = &self.content_type {
            headers::validate_content_type(ct)?;
        }
        let response_headers =
            headers::sanitize(&self.response_headers, Direction::DownstreamResponse)?;
        let limits = EffectiveLimits {
            max_record_bytes: limit(
                "max_record_bytes",
                self.limits.max_record_bytes,
                policy.max_record_bytes as u64,
            )? as usize,
            first_byte_timeout_ms: limit(
                "first_byte_timeout_ms",
                self.limits.first_byte_timeout_ms,
                policy.first_byte_timeout_ms,
            )?,
            between_bytes_timeout_ms: limit(
                "between_bytes_timeout_ms",
                self.limits.between_bytes_timeout_ms,
                policy.between_bytes_timeout_ms,
            )?,
        };
        let body = match &self.body {
            None => Vec::new(),
            Some(PlanBody::Text(text)) => text.as_bytes().to_vec(),
            Some(PlanBody::Json(value)) => {
                if !request_headers.iter().any(|(n, _)| n == "content-type") {
                    request_headers.push(("content-type".into(), "application/json".into()));
                }
                value.to_string().into_bytes()
            }
        };
        request_headers.push(("accept-encoding".into(), "identity".into()));
        Ok(ValidatedPlan {
            request: UpstreamRequest {
                backend: self.backend,
                method: self.method,
                path: self.path,
                headers: request_headers,
                body,
            },
            head: build_head(
                200,
                self.output,
                self.content_type.as_deref(),
                response_headers,
            ),
            codec: self.codec,
            mapper: self.mapper,
            done: self.done,
            output: self.output,
            sse,
            limits,
        })
    }
}

/// Event names become `event:` lines, so they may not contain line breaks.
pub(crate) fn check_event_name(name: Option<&str>) -> Result<(), PlanError> {
    match name {
        Some(n) if n.contains(['\r', '\n']) => Err(FrameError::EventNameHasNewline.into()),
        _ => Ok(()),
    }
}

fn limit(name: &'static str, asked: Option<u64>, cap: u64) -> Result<u64, PlanError> {
    match asked {
        None => Ok(cap),
        Some(value) if value == 0 || value > cap => {
            Err(PlanError::LimitOutOfRange { name, value, cap })
        }
        Some(value) => Ok(value),
    }
}
