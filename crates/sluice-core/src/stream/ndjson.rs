//! NDJSON codec: one JSON value per line (Ollama's `/api/chat` and
//! `/api/generate` stream this).
//!
//! Framing is exactly the [`lines`](crate::stream::lines) codec's (LF, CRLF
//! tolerated, same record cap). Blank lines (only JSON whitespace) are skipped,
//! as most NDJSON producers emit a trailing newline and some pad with blank
//! lines; they still count towards the record index so an error's index
//! matches the upstream's line numbers.

use super::error::DecodeError;
use super::lines::{Splitter, DEFAULT_MAX_RECORD_BYTES};
use serde_json::Value;

/// One decoded NDJSON record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Zero-based line index of the record.
    pub index: u64,
    /// The record's exact text (without terminator), kept so `passthrough`
    /// can relay it byte for byte instead of re-serialising.
    pub text: String,
    /// The parsed value.
    pub value: Value,
}

/// Push-based NDJSON decoder.
///
/// ```
/// use sluice_core::stream::ndjson::NdjsonDecoder;
/// let mut dec = NdjsonDecoder::new();
/// let mut out = Vec::new();
/// dec.feed(b"{\"response\":\"Hel", &mut out).unwrap();
/// dec.feed(b"lo\"}\n{\"done\":true}", &mut out).unwrap();
/// dec.finish(&mut out).unwrap();
/// assert_eq!(out[0].value["response"], "Hello");
/// assert_eq!(out[1].value["done"], true);
/// ```
#[derive(Debug)]
pub struct NdjsonDecoder {
    splitter: Splitter,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    /// A decoder with the default 1 MiB record cap.
    pub fn new() -> Self {
        Self::with_max_record_bytes(DEFAULT_MAX_RECORD_BYTES)
    }

    /// A decoder whose records may be at most `max` bytes.
    pub fn with_max_record_bytes(max: usize) -> Self {
        Self {
            splitter: Splitter::new(max),
        }
    }

    /// Feeds one chunk, appending every completed record to `out`. Records
    /// completed before an error are still appended.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), DecodeError> {
        self.splitter
            .feed(chunk, &mut |index, bytes| push_record(index, bytes, out))
    }

    /// Ends the stream: a final record without a newline is still decoded.
    pub fn finish(&mut self, out: &mut Vec<Record>) -> Result<(), DecodeError> {
        self.splitter
            .finish(&mut |index, bytes| push_record(index, bytes, out))
    }
}

fn push_record(index: u64, bytes: &[u8], out: &mut Vec<Record>) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { line: index })?;
    if text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Ok(());
    }
    let value = serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
        line: index,
        message: e.to_string(),
    })?;
    out.push(Record {
        index,
        text: text.to_owned(),
        value,
    });
    Ok(())
}
