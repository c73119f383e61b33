//! Token usage and timings for the access log.
//!
//! WHY: the gateway's cost is the provider's token bill and its latency is
//! the time to first token, so every completion logs both. The core holds
//! no clock: the adapter measures the two durations (it knows when the
//! request started and when [`crate::ai::relay::Progress::first_token`]
//! fired) and hands them to [`UsageRecord::new`].

use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TokenUsage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// The provider's total (prompt + completion when it omits it).
    pub total_tokens: u64,
}

impl TokenUsage {
    /// Reads an OpenAI `usage` object. Returns `None` when `value` is not an
    /// object or has none of the three counts; a missing count is 0, a
    /// missing total is the sum of the other two.
    pub fn from_value(value: &Value) -> Option<Self> {
        let usage = value.as_object()?;
        let count = |name: &str| usage.get(name).and_then(Value::as_u64);
        Self::from_counts(
            count("prompt_tokens"),
            count("completion_tokens"),
            count("total_tokens"),
        )
    }

    /// The one place the "missing count" rules live, shared by every reader.
    pub(crate) fn from_counts(
        prompt: Option<u64>,
        completion: Option<u64>,
        total: Option<u64>,
    ) -> Option<Self> {
        if prompt.is_none() && completion.is_none() && total.is_none() {
            return None;
        }
        let prompt_tokens = prompt.unwrap_or(0);
        let completion_tokens = completion.unwrap_or(0);
        Some(Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: total.unwrap_or(prompt_tokens.saturating_add(completion_tokens)),
        })
    }

    /// Reads `usage` from a complete, non-streamed JSON response (chat,
    /// completions and embeddings all carry one). `None` if the body is
    /// not JSON or has no usage.
    pub fn from_response_body(body: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Response {
            usage: Option<Value>,
        }
        let response: Response = serde_json::from_slice(body).ok()?;
        Self::from_value(response.usage.as_ref()?)
    }
}

/// One completion's log record: tokens and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRecord {
    /// Token counts, if the provider reported them.
    pub tokens: Option<TokenUsage>,
    /// From the start of the request to the first content token sent.
    pub time_to_first_token: Option<Duration>,
    /// From the start of the request to the end of the response.
    pub total_time: Duration,
}

#[derive(Serialize)]
struct Wire {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    ttft_ms: Option<u64>,
    total_ms: u64,
}

impl UsageRecord {
    /// Bundles what the adapter measured with what the relay read.
    pub fn new(
        tokens: Option<TokenUsage>,
        time_to_first_token: Option<Duration>,
        total_time: Duration,
    ) -> Self {
        Self {
            tokens,
            time_to_first_token,
            total_time,
        }
    }

    fn wire(&self) -> Wire {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Wire {
            prompt_tokens: self.tokens.map(|t| t.prompt_tokens),
            completion_tokens: self.tokens.map(|t| t.completion_tokens),
            total_tokens: self.tokens.map(|t| t.total_tokens),
            ttft_ms: self.time_to_first_token.map(ms),
            total_ms: ms(self.total_time),
        }
    }

    /// One compact JSON object for structured logs; unknown values are
    /// `null`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluice_core::ai::usage::{TokenUsage, UsageRecord};
    /// let tokens = TokenUsage { prompt_tokens: 9, completion_tokens: 18, total_tokens: 27 };
    /// let record = UsageRecord::new(Some(tokens), Some(Duration::from_millis(52)), Duration::from_millis(910));
    /// assert_eq!(
    ///     record.to_json(),
    ///     r#"{"prompt_tokens":9,"completion_tokens":18,"total_tokens":27,"ttft_ms":52,"total_ms":910}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.wire()).unwrap_or_default()
    }
}

impl std::fmt::Display for UsageRecord {
    /// `prompt_tokens=9 completion_tokens=18 total_tokens=27 ttft_ms=52
    /// total_ms=910`, with `-` for unknown values: a key=value access-log
    /// fragment.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn opt(v: Option<u64>) -> String {
            v.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        let w = self.wire();
        write!(
            f,
            "prompt_tokens={} completion_tokens={} total_tokens={} ttft_ms={} total_ms={}",
            opt(w.prompt_tokens),
            opt(w.completion_tokens),
            opt(w.total_tokens),
            opt(w.ttft_ms),
            w.total_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_usage_objects() {
        assert_eq!(
            TokenUsage::from_value(
                &json!({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
            ),
            Some(TokenUsage {
                prompt_tokens: 5,
                completion_tokens: 7,
                total_tokens: 12
            })
        );
        // Embeddings report no completion tokens.
        assert_eq!(
            TokenUsage::from_value(&json!({"prompt_tokens": 4, "total_tokens": 4})),
            Some(TokenUsage {
                prompt_tokens: 4,
                completion_tokens: 0,
                total_tokens: 4
            })
        );
        assert_eq!(
            TokenUsage::from_value(&json!({"prompt_tokens": 2, "completion_tokens": 3}))
                .map(|u| u.total_tokens),
            Some(5)
        );
        assert_eq!(TokenUsage::from_value(&json!(null)), None);
        assert_eq!(TokenUsage::from_value(&json!({"other": 1})), None);
    }

    #[test]
    fn reads_usage_from_a_whole_response() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
        assert_eq!(
            TokenUsage::from_response_body(body).map(|u| u.total_tokens),
            Some(4)
        );
        assert_eq!(TokenUsage::from_response_body(b"not json"), None);
        assert_eq!(TokenUsage::from_response_body(b"{}"), None);
    }

    #[test]
    fn display_marks_unknowns() {
        let record = UsageRecord::new(None, None, Duration::from_millis(1500));
        assert_eq!(
            record.to_string(),
            "prompt_tokens=- completion_tokens=- total_tokens=- ttft_ms=- total_ms=1500"
        );
        assert_eq!(
            record.to_json(),
            r#"{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null,"ttft_ms":null,"total_ms":1500}"#
        );
    }
}
