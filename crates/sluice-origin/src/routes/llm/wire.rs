//! OpenAI wire shapes: error bodies, chunks, completions, usage. Built from
//! structs so the keys come out in OpenAI's order, not alphabetically.

use super::super::with_type;
use crate::body::ResBody;
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

/// `system_fingerprint` on every mock object.
pub const FINGERPRINT: &str = "fp_sluice_mock";

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serialising these plain structs cannot fail; fall back to `null`.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// An OpenAI-style error response:
/// `{"error":{"message","type","param","code"}}`.
pub fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Option<&str>,
) -> Response<ResBody> {
    with_type(status, "application/json", error_body(message, kind, code))
}

/// The error object itself as JSON text (also used in-stream).
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> String {
    to_json(&ErrorEnvelope {
        error: ErrorObject {
            message,
            kind,
            param: None,
            code,
        },
    })
}

/// The error an injected status answers with.
pub fn injected_status(code: u16) -> Response<ResBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (msg, kind, c) = match code {
        429 => (
            "Rate limit reached for mock model (injected).",
            "requests",
            "rate_limit_exceeded",
        ),
        503 => (
            "The server is overloaded or not ready yet (injected).",
            "server_error",
            "service_unavailable",
        ),
        500..=599 => (
            "The server had an error while processing your request (injected).",
            "server_error",
            "server_error",
        ),
        _ => (
            "Injected client error.",
            "invalid_request_error",
            "injected",
        ),
    };
    let mut r = error(status, msg, kind, Some(c));
    if code == 429 {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    r
}

/// Token usage, OpenAI field names.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    /// Whitespace-separated words of the prompt / messages.
    pub prompt_tokens: u64,
    /// Number of content events (one token each).
    pub completion_tokens: u64,
    /// The sum.
    pub total_tokens: u64,
}

impl Usage {
    /// Usage for a prompt of `prompt` and a completion of `completion` tokens.
    pub fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// Which API a completion belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions` (legacy text completions).
    Text,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    content: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Choice<'a> {
    Delta {
        index: u32,
        delta: Delta<'a>,
        logprobs: Option<()>,
        finish_reason: Option<&'static str>,
    },
    Message {
        index: u32,
        message: Message<'a>,
        logprobs: Option<()>,
        finish_reason: Option<&'static str>,
    },
    Text {
        text: &'a str,
        index: u32,
        logprobs: Option<()>,
        finish_reason: Option<&'static str>,
    },
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<Choice<'a>>,
    /// Absent, `null` (streamed chunks with include_usage) or the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

/// Identity of one completion, shared by all its chunks.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Chat or text.
    pub api: Api,
    /// `chatcmpl-mock...` / `cmpl-mock...`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Echo of the requested model.
    pub model: String,
}

impl Meta {
    fn envelope<'a>(
        &'a self,
        streaming: bool,
        choices: Vec<Choice<'a>>,
        usage: Option<Option<Usage>>,
    ) -> String {
        let object = match (self.api, streaming) {
            (Api::Chat, true) => "chat.completion.chunk",
            (Api::Chat, false) => "chat.completion",
            (Api::Text, _) => "text_completion",
        };
        to_json(&Envelope {
            id: &self.id,
            object,
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage,
        })
    }

    /// Stream chunk `i` carrying `token`; the first names the role, the
    /// last has `finish_reason: "stop"`. With `include_usage`, `usage:
    /// null` as OpenAI sends it.
    pub fn chunk(&self, i: u32, last: bool, token: &str, include_usage: bool) -> String {
        let finish_reason = last.then_some("stop");
        let choice = match self.api {
            Api::Chat => Choice::Delta {
                index: 0,
                delta: Delta {
                    role: (i == 0).then_some("assistant"),
                    content: token,
                },
                logprobs: None,
                finish_reason,
            },
            Api::Text => Choice::Text {
                text: token,
                index: 0,
                logprobs: None,
                finish_reason,
            },
        };
        self.envelope(true, vec![choice], include_usage.then_some(None))
    }

    /// The final usage chunk: `choices: []` and the totals.
    pub fn usage_chunk(&self, usage: Usage) -> String {
        self.envelope(true, Vec::new(), Some(Some(usage)))
    }

    /// A complete non-streaming response.
    pub fn completion(&self, content: &str, usage: Usage) -> String {
        let choice = match self.api {
            Api::Chat => Choice::Message {
                index: 0,
                message: Message {
                    role: "assistant",
                    content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: Some("stop"),
            },
            Api::Text => Choice::Text {
                text: content,
                index: 0,
                logprobs: None,
                finish_reason: Some("stop"),
            },
        };
        self.envelope(false, vec![choice], Some(Some(usage)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_in_openai_order() {
        let m = Meta {
            api: Api::Chat,
            id: "chatcmpl-x".into(),
            created: 1,
            model: "m".into(),
        };
        assert_eq!(
            m.chunk(0, false, "tok0", true),
            r#"{"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp_sluice_mock","choices":[{"index":0,"delta":{"role":"assistant","content":"tok0"},"logprobs":null,"finish_reason":null}],"usage":null}"#
        );
        assert_eq!(
            m.usage_chunk(Usage::new(2, 3)),
            r#"{"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp_sluice_mock","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}"#
        );
        assert!(!m.chunk(1, true, " tok1", false).contains("usage"));
        assert_eq!(
            error_body("no", "server_error", Some("c")),
            r#"{"error":{"message":"no","type":"server_error","param":null,"code":"c"}}"#
        );
    }
}
