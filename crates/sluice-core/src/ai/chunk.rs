//! What the relay needs to know about one streamed OpenAI chunk.
//!
//! Kept apart from the relay's framing so the JSON rules (what counts as a
//! content token, what a usage-only chunk is) are readable in one place.
//!
//! Two readers implement the same rules: a fast one that deserialises only
//! the few fields involved, borrowing strings and skipping everything else
//! without allocating (the per-token hot path), and a lenient one over
//! `serde_json::Value` used when the fast one cannot take the chunk's shape
//! (an unexpected type, a duplicate key). Tests check they agree.
//!
//! Once the first token has been relayed, the relay only needs the usage
//! chunk, so [`inspect_usage`] validates the other events with a parse
//! that builds nothing (serde's `IgnoredAny`, under half the cost of the
//! typed read) and keeps the typed read for events whose bytes may hold a
//! `usage` object.

use super::usage::TokenUsage;
use memchr::memmem::Finder;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Facts about one `data:` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ChunkFacts {
    /// The chunk's `usage`, when it carries counts.
    pub usage: Option<TokenUsage>,
    /// `choices` is an empty array and `usage` an object: the extra chunk
    /// `include_usage` asks for, which the client may not want.
    pub usage_only: bool,
    /// At least one choice carries generated output (text, a refusal,
    /// reasoning or a tool call), i.e. a token the client waits for.
    pub has_content: bool,
}

/// Why a payload is not a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// Not JSON; serde_json's position-only description.
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
}

/// Inspects one event's data (already known not to be `[DONE]`).
pub(crate) fn inspect(data: &str) -> Result<ChunkFacts, ChunkError> {
    if starts_an_object(data) {
        if let Ok(chunk) = serde_json::from_str::<FastChunk<'_>>(data) {
            return Ok(chunk.facts());
        }
    }
    inspect_value(data)
}

/// Inspects one event's data when only its usage matters (the first token
/// was already relayed): `Ok(None)` for a valid JSON object that holds no
/// `usage` object, so there is nothing to record or strip, else what
/// [`inspect`] says (the same facts and the same errors).
///
/// WHY: a long completion is hundreds of events after the first token, and
/// reading each one into typed fields cost more than half of the gateway's
/// per-event CPU. Every event is still validated as a whole JSON object.
pub(crate) fn inspect_usage(data: &str) -> Result<Option<ChunkFacts>, ChunkError> {
    if !may_hold_usage_object(data)
        && starts_an_object(data)
        && serde_json::from_str::<IgnoredAny>(data).is_ok()
    {
        return Ok(None);
    }
    inspect(data).map(Some)
}

/// Whether `data` can only be a JSON object: a struct (and `IgnoredAny`)
/// also deserialises from a JSON array or any other value, so only this
/// shape may take a fast path.
fn starts_an_object(data: &str) -> bool {
    data.trim_start().starts_with('{')
}

/// A superset test for "some object in `data` has a `usage` member whose
/// value is an object": a `"usage"` string followed, past JSON whitespace,
/// by `:` and `{`, or any `\u` escape (which could spell the key).
///
/// Inside a string every `"` is escaped, so text that mentions
/// `"usage":{` never matches; only a key ending in an escaped quote and
/// `usage` could, and that merely costs the typed read.
fn may_hold_usage_object(data: &str) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    // Built once: constructing a substring searcher costs more than
    // searching one event.
    static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(KEY));
    let bytes = data.as_bytes();
    if memchr::memchr_iter(b'\\', bytes).any(|at| bytes.get(at + 1) == Some(&b'u')) {
        return true;
    }
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    USAGE_KEY.find_iter(bytes).any(|at| {
        let mut rest = bytes[at + KEY.len()..].iter().skip_while(|b| is_ws(b));
        rest.next() == Some(&b':') && rest.find(|b| !is_ws(b)) == Some(&b'{')
    })
}

#[derive(Deserialize)]
struct FastChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<FastChoice<'a>>>,
    #[serde(default)]
    usage: Option<FastUsage>,
}

#[derive(Deserialize)]
struct FastChoice<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<FastDelta<'a>>,
}

#[derive(Deserialize)]
struct FastDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    function_call: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct FastUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

impl FastChunk<'_> {
    fn facts(&self) -> ChunkFacts {
        let non_empty = |s: &Option<Cow<'_, str>>| s.as_deref().is_some_and(|s| !s.is_empty());
        let has_content = self.choices.iter().flatten().any(|choice| {
            non_empty(&choice.text)
                || choice.delta.as_ref().is_some_and(|d| {
                    non_empty(&d.content)
                        || non_empty(&d.refusal)
                        || non_empty(&d.reasoning_content)
                        || non_empty(&d.reasoning)
                        || d.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
                        || d.function_call.is_some()
                })
        });
        ChunkFacts {
            usage: self.usage.as_ref().and_then(|u| {
                TokenUsage::from_counts(u.prompt_tokens, u.completion_tokens, u.total_tokens)
            }),
            usage_only: self.usage.is_some() && self.choices.as_ref().is_some_and(Vec::is_empty),
            has_content,
        }
    }
}

/// The lenient reader: any JSON object, fields of unexpected types are
/// simply not content.
fn inspect_value(data: &str) -> Result<ChunkFacts, ChunkError> {
    let value: Value =
        serde_json::from_str(data).map_err(|e| ChunkError::NotJson(e.to_string()))?;
    let Value::Object(chunk) = value else {
        return Err(ChunkError::NotAnObject);
    };
    let usage_value = chunk.get("usage").filter(|u| u.is_object());
    let choices = chunk.get("choices").and_then(Value::as_array);
    Ok(ChunkFacts {
        usage: usage_value.and_then(TokenUsage::from_value),
        usage_only: usage_value.is_some() && choices.is_some_and(Vec::is_empty),
        has_content: choices.is_some_and(|choices| choices.iter().any(choice_has_content)),
    })
}

fn choice_has_content(choice: &Value) -> bool {
    let non_empty_str =
        |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    // Legacy completions stream `text` directly on the choice.
    if non_empty_str(choice.get("text")) {
        return true;
    }
    let Some(delta) = choice.get("delta") else {
        return false;
    };
    ["content", "refusal", "reasoning_content", "reasoning"]
        .iter()
        .any(|field| non_empty_str(delta.get(*field)))
        || delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|calls| !calls.is_empty())
        || delta.get("function_call").is_some_and(|f| !f.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(data: &str) -> ChunkFacts {
        let fast = inspect(data).unwrap();
        assert_eq!(fast, inspect_value(data).unwrap(), "{data}");
        fast
    }

    #[test]
    fn role_only_and_finish_chunks_are_not_content() {
        let role = r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(facts(role), ChunkFacts::default());
        let finish = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
        assert_eq!(facts(finish), ChunkFacts::default());
    }

    #[test]
    fn every_kind_of_output_is_content() {
        for data in [
            r#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\n\u00e9\"x"}}]}"#,
            r#"{"choices":[{"delta":{"refusal":"no"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"hm"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#,
            r#"{"choices":[{"delta":{"function_call":{"name":"f"}}}]}"#,
            r#"{"choices":[{"text":"Hi","index":0}]}"#,
            r#"{"choices":[{"delta":{}},{"delta":{"content":"x"}}]}"#,
        ] {
            assert!(facts(data).has_content, "{data}");
        }
    }

    #[test]
    fn usage_only_chunk() {
        let f = facts(
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        );
        assert!(f.usage_only);
        assert_eq!(f.usage.map(|u| u.total_tokens), Some(3));
        // Usage on a chunk that still has choices is recorded, not usage-only.
        let f = facts(r#"{"choices":[{"delta":{"content":"x"}}],"usage":{"total_tokens":3}}"#);
        assert!(!f.usage_only && f.has_content);
        assert_eq!(f.usage.map(|u| u.total_tokens), Some(3));
        // `usage: null` (every chunk once include_usage is on) is nothing.
        assert!(!facts(r#"{"choices":[],"usage":null}"#).usage_only);
    }

    #[test]
    fn odd_shapes_take_the_lenient_path_and_agree() {
        for data in [
            r#"{"choices":"none","usage":{"total_tokens":"x"}}"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[{"delta":"text"}]}"#,
            r#"{"choices":[],"choices":[{"text":"dup"}]}"#,
            r#"{"usage":{"total_tokens":-1},"choices":[]}"#,
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        ] {
            facts(data);
        }
    }

    #[test]
    fn non_chunks_are_errors() {
        assert!(matches!(inspect("hello"), Err(ChunkError::NotJson(_))));
        assert!(matches!(inspect("{\"a\":"), Err(ChunkError::NotJson(_))));
        assert_eq!(inspect("[1]"), Err(ChunkError::NotAnObject));
        assert_eq!(inspect("[[],{}]"), Err(ChunkError::NotAnObject));
        assert_eq!(inspect("42"), Err(ChunkError::NotAnObject));
    }

    #[test]
    fn after_the_first_token_plain_events_skip_the_typed_read() {
        // The mock's and OpenAI's per-token shape, `usage: null` included.
        let token = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok \"usage\":{"},"finish_reason":null}],"usage":null}"#;
        assert_eq!(inspect_usage(token), Ok(None));
        assert_eq!(inspect_usage(r#"{"usage" :  null}"#), Ok(None));
    }

    #[test]
    fn after_the_first_token_usage_is_still_found_however_written() {
        for data in [
            r#"{"choices":[],"usage":{"total_tokens":3}}"#,
            "{\"choices\":[],\"usage\" \t:\r\n {\"total_tokens\":3}}",
            r#"{"choices":[],"\u0075sage":{"total_tokens":3}}"#,
            r#"{"choices":[{"delta":{"content":"x"}}],"usage":{"total_tokens":3}}"#,
        ] {
            let facts = inspect_usage(data).unwrap().expect(data);
            assert_eq!(facts.usage.map(|u| u.total_tokens), Some(3), "{data}");
            assert_eq!(Some(facts), inspect(data).ok(), "{data}");
        }
    }

    #[test]
    fn after_the_first_token_bad_events_are_the_same_errors() {
        for data in [
            "hello",
            "{\"a\":",
            "{\"a\":1} x",
            "[1]",
            "42",
            " {\"a\":tru}",
        ] {
            let err = inspect(data).unwrap_err();
            assert_eq!(inspect_usage(data), Err(err), "{data}");
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![Just(String::new()), any::<String>()].prop_map(Value::String),
        ]
    }

    fn chunk_like() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("content"),
            Just("refusal"),
            Just("reasoning"),
            Just("reasoning_content"),
            Just("tool_calls"),
            Just("function_call"),
            Just("text"),
            Just("role"),
        ];
        let field = (
            names,
            prop_oneof![
                leaf(),
                prop::collection::vec(leaf(), 0..2).prop_map(Value::Array)
            ],
        );
        let delta = prop::collection::vec(field.clone(), 0..3)
            .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
        let choice =
            (prop::option::of(delta), prop::collection::vec(field, 0..2)).prop_map(|(d, f)| {
                let mut m: serde_json::Map<String, Value> =
                    f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                if let Some(d) = d {
                    m.insert("delta".into(), d);
                }
                Value::Object(m)
            });
        let usage = prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            (
                prop::option::of(0u64..1000),
                prop::option::of(0u64..1000),
                prop::option::of(leaf())
            )
                .prop_map(|(p, c, t)| {
                    let mut m = serde_json::Map::new();
                    if let Some(p) = p {
                        m.insert("prompt_tokens".into(), p.into());
                    }
                    if let Some(c) = c {
                        m.insert("completion_tokens".into(), c.into());
                    }
                    if let Some(t) = t {
                        m.insert("total_tokens".into(), t);
                    }
                    Some(Value::Object(m))
                }),
        ];
        (prop::option::of(prop::collection::vec(choice, 0..3)), usage).prop_map(
            |(choices, usage)| {
                let mut m = serde_json::Map::new();
                m.insert("id".into(), "x".into());
                if let Some(c) = choices {
                    m.insert("choices".into(), Value::Array(c));
                }
                if let Some(u) = usage {
                    m.insert("usage".into(), u);
                }
                Value::Object(m)
            },
        )
    }

    /// A chunk as a provider may write it: compact or pretty, the usage
    /// key possibly spelled with an escape, possibly cut short.
    fn written(chunk: &Value, form: u8, cut: prop::sample::Index) -> String {
        let text = match form % 4 {
            0 => chunk.to_string(),
            1 => serde_json::to_string_pretty(chunk).unwrap_or_default(),
            2 => chunk.to_string().replace("\"usage\":", "\"\\u0075sage\":"),
            _ => chunk.to_string().replace(':', " :\t"),
        };
        if form >= 4 {
            let mut end = cut.index(text.len().max(1));
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return text[..end].to_owned();
        }
        text
    }

    proptest! {
        #[test]
        fn fast_and_lenient_readers_agree(chunk in chunk_like()) {
            let data = chunk.to_string();
            prop_assert_eq!(inspect(&data), inspect_value(&data));
        }

        #[test]
        fn the_usage_reader_never_misses_usage_nor_an_error(
            chunk in chunk_like(),
            form in 0u8..6,
            cut in any::<prop::sample::Index>(),
        ) {
            let data = written(&chunk, form, cut);
            let full = inspect(&data);
            match inspect_usage(&data) {
                Ok(None) => prop_assert!(
                    matches!(full, Ok(f) if f.usage.is_none() && !f.usage_only),
                    "{} skipped, but the typed read says {:?}", data, full
                ),
                other => prop_assert_eq!(other, full.map(Some)),
            }
        }
    }
}
