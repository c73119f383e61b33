//! SSE framing: turns events into bytes an `EventSource` decodes back to the
//! same events.

use super::Event;
use crate::stream::error::{ErrorClass, FrameError};

/// The keep-alive comment sluice writes while a stream is idle. A comment is
/// ignored by every SSE client but keeps intermediaries from timing the
/// connection out, and lets the edge notice a vanished client on write.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Appends the framing of `event` to `out`.
///
/// Data is split on every `\n`, `\r\n` and `\r` into several `data:` lines,
/// so the decoded data equals the input with its line breaks normalised to
/// `\n`. Fails (writing nothing) if the name contains a line break or the id
/// a line break or NUL.
///
/// ```
/// use sluice_core::stream::sse::{encode_event, Event};
/// let mut out = Vec::new();
/// encode_event(&Event::data("a\r\nb").with_event("token"), &mut out).unwrap();
/// assert_eq!(out, b"event: token\ndata: a\ndata: b\n\n");
/// ```
pub fn encode_event(event: &Event, out: &mut Vec<u8>) -> Result<(), FrameError> {
    encode_fields(
        event.event.as_deref(),
        event.id.as_deref(),
        event.retry,
        Some(&event.data),
        out,
    )
}

/// Appends one event block from its parts. `data: None` writes a block with
/// no `data:` line: a client updates its last event id / reconnection time
/// from it but dispatches nothing (used for dispatch chunks that only carry
/// `id` or `retry`). An empty `event` name is the default type and omitted.
pub fn encode_fields(
    event: Option<&str>,
    id: Option<&str>,
    retry: Option<u64>,
    data: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let event = event.filter(|name| !name.is_empty());
    if let Some(name) = event {
        if name.contains(['\r', '\n']) {
            return Err(FrameError::EventNameHasNewline);
        }
    }
    if let Some(id) = id {
        if id.contains(['\r', '\n', '\0']) {
            return Err(FrameError::InvalidId);
        }
    }
    if let Some(name) = event {
        field(out, "event", name);
    }
    if let Some(id) = id {
        field(out, "id", id);
    }
    if let Some(retry) = retry {
        field(out, "retry", &retry.to_string());
    }
    if let Some(data) = data {
        for line in split_lines(data) {
            field(out, "data", line);
        }
    }
    out.push(b'\n');
    Ok(())
}

/// Appends a comment (`: text`), one comment line per line of `text`. No
/// blank line follows, so it can sit between any two events.
pub fn encode_comment(text: &str, out: &mut Vec<u8>) {
    for line in split_lines(text) {
        out.push(b':');
        if !line.is_empty() {
            out.push(b' ');
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
    }
}

/// Appends the documented in-stream failure event:
/// `event: error` with data `{"class":"…","message":"…"}` (one line of
/// compact JSON).
///
/// ```
/// use sluice_core::stream::{sse::encode_error, ErrorClass};
/// let mut out = Vec::new();
/// encode_error(ErrorClass::LimitSteps.as_str(), "too many steps", &mut out);
/// assert_eq!(out, b"event: error\ndata: {\"class\":\"limit_steps\",\"message\":\"too many steps\"}\n\n");
/// ```
pub fn encode_error(class: &str, message: &str, out: &mut Vec<u8>) {
    let body = serde_json::json!({ "class": class, "message": message }).to_string();
    field(out, "event", "error");
    field(out, "data", &body);
    out.push(b'\n');
}

/// [`encode_error`] for one of sluice's own classes.
pub(crate) fn encode_error_class(class: ErrorClass, message: &str, out: &mut Vec<u8>) {
    encode_error(class.as_str(), message, out);
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    if !value.is_empty() {
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

/// Splits on `\r\n`, `\r` and `\n`, always yielding at least one line.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(pos) => {
                let skip = if current[pos..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[pos + skip..]);
                Some(&current[..pos])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}
