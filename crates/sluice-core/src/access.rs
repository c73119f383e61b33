//! The access line: one JSON record per request, so operators see mode,
//! sizes, timings, CPU and heap for every request without sampling.
//!
//! The adapter fills one [`AccessRecord`] as the request goes and writes it
//! once, at the end of the request lifecycle. Its `abort` and
//! `error_class` fields use one vocabulary (docs/ARCHITECTURE.md, "Error
//! and abort classes").

use serde::Serialize;

/// Everything one access line records.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AccessRecord {
    /// `stream`, `buffered`, `passthrough`, `ai`, `hosted`, `dispatch`,
    /// `upstream_plan`, `purge` or `error`.
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
    /// Encoded bytes read from the upstream body (rewritten and relayed
    /// modes).
    pub bytes_in: u64,
    /// Bytes sent to the client (for pass-through, the origin's
    /// `Content-Length` when known; after a CPU-budget splice, only the
    /// bytes the guest wrote before the host appended the rest).
    pub bytes_out: u64,
    /// Milliseconds from request start to the first body byte committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<f64>,
    /// Milliseconds from request start to the end of the response.
    pub total_ms: f64,
    /// Guest vCPU milliseconds used by the request, at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpu_ms: Option<u64>,
    /// Guest heap (MiB) at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap_mib: Option<u32>,
    /// Why a committed response ended early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<String>,
    /// Class of a failure answered with a status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// The page's own CSP hash sources: `complete` when the rewritten
    /// inline scripts' hashes were added, `incomplete` when they could not
    /// be (over the buffer cap, or a streamed `<meta>` hash policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csp: Option<&'static str>,
    /// Edge cache: `HIT`, `STALE`, `MISS` or `PASS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'static str>,
    /// Edge cache: why a request passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_pass: Option<&'static str>,
    /// AI gateway: the backend of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    /// AI gateway: attempts made.
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// AI gateway: token usage and time to first token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<serde_json::Value>,
    /// Origin-planned streams: outcome, class, close reason, steps,
    /// records and tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// Publisher: `on` when the visitor had a signed synthetic ID, `off`
    /// when `publisher.synthetic_id` (or, in `auto`, a missing key) left
    /// it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic_id: Option<&'static str>,
    /// Publisher: where rewriting stopped for `publisher.cpu_budget_ms`,
    /// when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_budget: Option<BudgetStop>,
}

/// Where the CPU budget stopped a rewrite, and how the rest was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BudgetStop {
    /// Offset in the decoded body of the first byte sent as the origin
    /// sent it: everything before it was rewritten.
    pub at_byte: u64,
    /// Encoded origin bytes read when the rewrite stopped.
    pub bytes_in: u64,
    /// Guest vCPU milliseconds spent when it stopped.
    pub vcpu_ms: u64,
    /// How the rest went: `splice` (the host appended the origin body, no
    /// guest CPU), `copy` (identity bytes copied by the guest: a buffered
    /// body or a cache fill) or `decode` (an encoded origin decoded, or
    /// an encoded output encoded, without rewriting).
    pub rest: &'static str,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AccessRecord {
    /// A record for a request, before anything is known of its answer.
    pub fn for_request(method: &str, path: &str) -> Self {
        Self {
            mode: "error",
            method: method.to_owned(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    /// The line as written (compact JSON, `mode` first).
    pub fn to_line(&self) -> String {
        // Serialising plain fields and `Value`s cannot fail; an empty
        // object keeps the log parseable if it ever did.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Milliseconds between two instants, to 0.1 ms.
pub fn ms_between(start: std::time::Instant, end: std::time::Instant) -> f64 {
    (end.saturating_duration_since(start).as_secs_f64() * 10_000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_starts_with_mode_and_omits_empty_fields() {
        let mut r = AccessRecord::for_request("GET", "/a");
        r.mode = "stream";
        r.status = 200;
        let line = r.to_line();
        assert!(line.starts_with("{\"mode\":\"stream\""), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/a");
        assert_eq!(v["status"], 200);
        for absent in [
            "abort",
            "error_class",
            "attempts",
            "llm",
            "plan",
            "ttfb_ms",
            "synthetic_id",
            "cpu_budget",
        ] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn a_budget_stop_says_where_and_how() {
        let mut r = AccessRecord::for_request("GET", "/big");
        r.synthetic_id = Some("off");
        r.cpu_budget = Some(BudgetStop {
            at_byte: 81_920,
            bytes_in: 98_304,
            vcpu_ms: 3,
            rest: "splice",
        });
        let v: serde_json::Value = serde_json::from_str(&r.to_line()).unwrap();
        assert_eq!(v["synthetic_id"], "off");
        assert_eq!(
            v["cpu_budget"],
            serde_json::json!({"at_byte": 81920, "bytes_in": 98304, "vcpu_ms": 3, "rest": "splice"})
        );
    }

    #[test]
    fn ms_are_rounded_to_a_tenth() {
        let t = std::time::Instant::now();
        let later = t + std::time::Duration::from_micros(1_234_567);
        assert_eq!(ms_between(t, later), 1234.6);
        assert_eq!(ms_between(later, t), 0.0);
    }
}
