//! Record → token mapping and the done condition of an upstream plan.
//!
//! A *record* is one NDJSON line, one SSE event's data, or one text line. The
//! mapper turns it into at most one *token* (the string written downstream);
//! the done condition says when the upstream stream has logically ended.

use super::error::PlanError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// Most fallback pointers one mapper may list.
pub const MAX_POINTERS: usize = 16;

/// How a record becomes a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mapper {
    /// The first pointer that resolves to a JSON *string* gives the token;
    /// non-strings count as absent. No match (or an empty string) writes
    /// nothing. Ollama: `["/message/content", "/response"]`; OpenAI:
    /// `["/choices/0/delta/content"]`.
    TextField {
        /// JSON Pointers (RFC 6901), tried in order.
        pointers: Vec<String>,
    },
    /// Like `text_field`, but any non-null value matches: a string is used
    /// as is, anything else as compact JSON. For relaying structured
    /// sub-objects (e.g. a whole `/choices/0/delta`) as SSE data.
    SseField {
        /// JSON Pointers (RFC 6901), tried in order.
        pointers: Vec<String>,
    },
    /// The whole record's text, unchanged. Empty records are kept.
    // A struct variant (not a unit one) so serde rejects unknown fields on it.
    Passthrough {},
}

/// When the upstream stream is logically complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DoneCondition {
    /// The record's value at `pointer` equals `value` (e.g. Ollama's
    /// `/done == true`). The matching record is still mapped first, since it
    /// may carry a last token. Records that are not JSON never match.
    PointerEquals {
        /// JSON Pointer into the record.
        pointer: String,
        /// The value that means done.
        value: Value,
    },
    /// The record's raw text equals `data` (e.g. OpenAI's `data: [DONE]`).
    /// The sentinel record itself is not mapped.
    Sentinel {
        /// The sentinel text.
        data: String,
    },
}

/// A record as the mapper sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    /// The record's exact text.
    pub raw: &'a str,
    /// The parsed record, when the codec or mapper needed JSON.
    pub json: Option<&'a Value>,
}

impl Mapper {
    /// True when the mapper reads JSON fields.
    pub(crate) fn needs_json(&self) -> bool {
        !matches!(self, Mapper::Passthrough {})
    }

    /// Checks the pointers.
    pub(crate) fn validate(&self) -> Result<(), PlanError> {
        match self {
            Mapper::TextField { pointers } | Mapper::SseField { pointers } => {
                if pointers.is_empty() {
                    return Err(PlanError::NoPointers);
                }
                if pointers.len() > MAX_POINTERS {
                    return Err(PlanError::Malformed(format!(
                        "a mapper may list at most {MAX_POINTERS} pointers"
                    )));
                }
                pointers.iter().try_for_each(|p| validate_pointer(p))
            }
            Mapper::Passthrough {} => Ok(()),
        }
    }

    /// The token for `record`, if any. Field mappers skip empty strings:
    /// they carry nothing and Ollama's final record always has one.
    pub(crate) fn token<'a>(&self, record: RecordRef<'a>) -> Option<Cow<'a, str>> {
        match self {
            Mapper::Passthrough {} => Some(Cow::Borrowed(record.raw)),
            Mapper::TextField { pointers } => {
                let json = record.json?;
                pointers
                    .iter()
                    .find_map(|p| json.pointer(p).and_then(Value::as_str))
                    .filter(|s| !s.is_empty())
                    .map(Cow::Borrowed)
            }
            Mapper::SseField { pointers } => {
                let json = record.json?;
                let value = pointers
                    .iter()
                    .find_map(|p| json.pointer(p).filter(|v| !v.is_null()))?;
                let token = match value {
                    Value::String(s) => Cow::Borrowed(s.as_str()),
                    other => Cow::Owned(other.to_string()),
                };
                (!token.is_empty()).then_some(token)
            }
        }
    }
}

impl DoneCondition {
    pub(crate) fn validate(&self) -> Result<(), PlanError> {
        match self {
            DoneCondition::PointerEquals { pointer, .. } => validate_pointer(pointer),
            DoneCondition::Sentinel { .. } => Ok(()),
        }
    }

    /// True when a sentinel matches; checked before mapping.
    pub(crate) fn is_sentinel(&self, record: RecordRef<'_>) -> bool {
        matches!(self, DoneCondition::Sentinel { data } if data == record.raw)
    }

    /// True when a pointer condition matches; checked after mapping.
    pub(crate) fn is_pointer_match(&self, record: RecordRef<'_>) -> bool {
        match self {
            DoneCondition::PointerEquals { pointer, value } => record
                .json
                .and_then(|json| json.pointer(pointer))
                .is_some_and(|v| v == value),
            DoneCondition::Sentinel { .. } => false,
        }
    }
}

/// RFC 6901: empty (the whole document) or `/`-prefixed, with `~` only in
/// the escapes `~0` and `~1`.
fn validate_pointer(pointer: &str) -> Result<(), PlanError> {
    let bad = || PlanError::InvalidPointer(pointer.to_owned());
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(bad());
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(bad());
        }
    }
    Ok(())
}
