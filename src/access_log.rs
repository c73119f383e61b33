//! One structured access line per request (JSON through `log-fastly`'s
//! `access` endpoint), so operators can see mode, sizes, timings, CPU and
//! heap for every request without sampling.

use std::time::Instant;

use serde::Serialize;

/// The log target (and `log-fastly` endpoint) for access lines.
pub const TARGET: &str = "access";

/// Everything one access line records.
#[derive(Debug, Default, Serialize)]
pub struct AccessRecord {
    /// `stream`, `buffered`, `passthrough` or `error`.
    pub mode: &'static str,
    /// Why a response was passed through, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_reason: Option<&'static str>,
    /// Request method.
    pub method: String,
    /// Request path (no query: queries can carry tokens).
    pub path: String,
    /// Status sent to the client.
    pub status: u16,
    /// Status the origin answered with, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_status: Option<u16>,
    /// Encoded bytes read from the origin (rewritten modes).
    pub bytes_in: u64,
    /// Bytes sent to the client (rewritten modes; for pass-through, the
    /// origin's `Content-Length` when known).
    pub bytes_out: u64,
    /// Milliseconds from request start to the first body byte committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<f64>,
    /// Milliseconds from request start to the end of the response.
    pub total_ms: f64,
    /// `fastly::compute_runtime::elapsed_vcpu_ms()` at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpu_ms: Option<u64>,
    /// `heap_memory_snapshot_mib()` at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap_mib: Option<u32>,
    /// Why a committed stream was aborted, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<String>,
    /// Error class for failures answered with a status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<&'static str>,
    /// AI gateway: the backend of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    /// AI gateway: attempts made.
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// AI gateway: token usage and time to first token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<serde_json::Value>,
    /// Origin-planned streams (hosted, dispatch, upstream plan): outcome,
    /// error class, close reason, steps, records and tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AccessRecord {
    /// Fills the timing and runtime fields and writes the line.
    pub fn emit(mut self, started: Instant, first_byte: Option<Instant>) {
        self.total_ms = ms_since(started, Instant::now());
        self.ttfb_ms = first_byte.map(|t| ms_since(started, t));
        self.vcpu_ms = fastly::compute_runtime::elapsed_vcpu_ms().ok();
        self.heap_mib = fastly::compute_runtime::heap_memory_snapshot_mib().ok();
        match serde_json::to_string(&self) {
            Ok(line) => log::info!(target: TARGET, "{line}"),
            Err(e) => log::error!("access log serialisation failed: {e}"),
        }
    }
}

fn ms_since(start: Instant, end: Instant) -> f64 {
    (end.saturating_duration_since(start).as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}
