//! The dispatch JSON contract (`application/vnd.sluice.dispatch+json`):
//! serde types for the four messages, exactly as documented in
//! `docs/STREAM_PROTOCOLS.md` and `docs/schemas/dispatch-*.schema.json`.
//! Unknown fields are rejected so a typo in an origin never silently changes
//! behaviour.

use crate::stream::error::{FrameError, PlanError};
use crate::stream::outcome::OutputKind;
use crate::stream::plan::CONTRACT_VERSION;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Content type that marks an origin response as a dispatch open message.
/// Only honoured on responses from the configured `origin` backend.
pub const DISPATCH_CONTENT_TYPE: &str = "application/vnd.sluice.dispatch+json";

fn default_version() -> u32 {
    CONTRACT_VERSION
}

fn default_status() -> u16 {
    200
}

/// Deserializes a present field, `null` included, as `Some`, so "absent"
/// (keep the previous state) differs from "null" (the new state is null).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The origin's answer that starts a dispatch stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchOpen {
    /// Contract version; must be 1 when present.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Downstream status, honoured as given (200 by default). Statuses that
    /// cannot carry a body (1xx, 204, 205, 304) are rejected.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Extra downstream headers, sanitised like a plan's response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `sse` or `text`.
    pub output: OutputKind,
    /// Downstream content type; defaults per output kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Origin-relative path of the step endpoint on the `origin` backend.
    pub step_path: String,
    /// Origin-relative path of the close endpoint; absent means no close call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_path: Option<String>,
    /// Opaque state handed to the first step.
    #[serde(default)]
    pub state: Value,
    /// Chunks to write before the first step.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// True when the stream is already complete (no step is called).
    #[serde(default)]
    pub done: bool,
    /// Delay before the first step call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_ms: Option<u64>,
}

/// One piece of downstream output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Chunk {
    /// Text output: written as is. SSE output: a data-only event.
    Text(String),
    /// SSE output only: one event.
    Event(ChunkEvent),
}

/// An SSE event in a dispatch message. At least one field must be present.
/// Without `data` the block only updates the client's last event id or
/// reconnection time; it dispatches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChunkEvent {
    /// Event name; no line breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Event id; no line breaks or NUL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Data; line breaks become several `data:` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Reconnection time hint in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
}

/// What the edge POSTs (as `application/json`) to the step endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// The state from the open message or the last step response.
    pub state: Value,
    /// Zero-based index of this step; retries of a failed call keep it.
    pub step: u64,
    /// Zero-based retry count of this step (0 on the first try).
    pub attempt: u32,
    /// Milliseconds since the stream opened, by the edge's clock.
    pub elapsed_ms: u64,
}

/// The step endpoint's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StepResponse {
    /// Chunks to write now, in order. Empty means an idle step (the edge
    /// backs off exponentially unless `next_after_ms` is given).
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// The new state; absent keeps the previous one (`null` sets null).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<Value>,
    /// True when the stream is complete after these chunks.
    #[serde(default)]
    pub done: bool,
    /// Delay before the next step; overrides the idle backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_ms: Option<u64>,
    /// Ends the stream with this error after writing `chunks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// A failure as carried in step responses, close requests and SSE `error`
/// events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Machine-readable class, `[A-Za-z0-9_.-]{1,64}`.
    pub class: String,
    /// Human-readable message.
    pub message: String,
}

/// Why a dispatch stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// A step said `done`.
    Completed,
    /// Writing to the client failed.
    ClientDisconnect,
    /// A step failed or returned an `error`.
    Error,
    /// A limit was exceeded.
    Limit,
}

/// What the edge POSTs to the close endpoint when the stream ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Why it ended.
    pub reason: CloseReason,
    /// The last accepted state.
    pub state: Value,
    /// Step calls answered successfully.
    pub steps: u64,
    /// Chunks written downstream.
    pub chunks_sent: u64,
    /// Body bytes written downstream.
    pub bytes_sent: u64,
    /// Milliseconds since the stream opened.
    pub elapsed_ms: u64,
    /// The failure, for `error` and `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Checks every chunk can be written for `output`.
pub(crate) fn validate_chunks(chunks: &[Chunk], output: OutputKind) -> Result<(), PlanError> {
    for (index, chunk) in chunks.iter().enumerate() {
        match (chunk, output) {
            (Chunk::Text(_), _) => {}
            (Chunk::Event(_), OutputKind::Text) => {
                return Err(PlanError::ChunkKind {
                    index,
                    output: "text",
                })
            }
            (Chunk::Event(e), OutputKind::Sse) => {
                if e.event.is_none() && e.id.is_none() && e.data.is_none() && e.retry.is_none() {
                    return Err(PlanError::Malformed(format!("chunk {index} is empty")));
                }
                if e.event.as_deref().is_some_and(|n| n.contains(['\r', '\n'])) {
                    return Err(FrameError::EventNameHasNewline.into());
                }
                if e.id
                    .as_deref()
                    .is_some_and(|i| i.contains(['\r', '\n', '\0']))
                {
                    return Err(FrameError::InvalidId.into());
                }
            }
        }
    }
    Ok(())
}

/// Origin error classes travel in a header, so they must be short tokens.
pub(crate) fn validate_error_class(class: &str) -> Result<(), PlanError> {
    let ok = !class.is_empty()
        && class.len() <= 64
        && class
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PlanError::InvalidErrorClass(class.to_owned()))
    }
}
