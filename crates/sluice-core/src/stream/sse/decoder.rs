//! Incremental SSE decoder (WHATWG event stream interpretation).

use super::Event;
use crate::stream::error::DecodeError;

/// Default cap on one line, without its terminator: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default cap on one event's joined data: 1 MiB.
pub const DEFAULT_MAX_DATA_BYTES: usize = 1 << 20;

const BOM: &[u8] = "\u{feff}".as_bytes();
/// The largest data buffer [`SseDecoder::recycle`] keeps: one big event must
/// not pin its size for the rest of a long stream.
const RECYCLED_CAPACITY: usize = 16 << 10;

/// Memory caps of the SSE decoder. These are the only buffers it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest accepted line, without its terminator.
    pub max_line_bytes: usize,
    /// Largest accepted joined `data` of one event (including the `\n`
    /// separators).
    pub max_data_bytes: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
        }
    }
}

impl SseLimits {
    /// Sets the longest accepted line.
    ///
    /// ### Default
    /// 1 MiB ([`DEFAULT_MAX_LINE_BYTES`]).
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Sets the largest accepted event data.
    ///
    /// ### Default
    /// 1 MiB ([`DEFAULT_MAX_DATA_BYTES`]).
    pub fn with_max_data_bytes(mut self, bytes: usize) -> Self {
        self.max_data_bytes = bytes;
        self
    }
}

/// Push-based SSE decoder.
///
/// Feed it chunks as they arrive; it appends every completed event to the
/// caller's vector. The events are the same whatever the chunk boundaries,
/// including a CRLF split across two chunks.
///
/// ```
/// use sluice_core::stream::sse::{SseDecoder, Event};
/// let mut dec = SseDecoder::new();
/// let mut out = Vec::new();
/// dec.feed(b"event: tok\r\ndata: a\r", &mut out).unwrap();
/// dec.feed(b"\ndata:b\r\n\r\n: comment\n", &mut out).unwrap();
/// dec.finish();
/// assert_eq!(out, [Event::data("a\nb").with_event("tok")]);
/// ```
#[derive(Debug)]
pub struct SseDecoder {
    limits: SseLimits,
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one is the
    /// second half of that CRLF, not an empty line.
    pending_cr: bool,
    /// No line has completed yet, so a BOM may still be stripped.
    at_start: bool,
    line_index: u64,
    data: String,
    event: String,
    id: Option<String>,
    retry: Option<u64>,
    last_event_id: String,
    poisoned: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with default [`SseLimits`].
    pub fn new() -> Self {
        Self::with_limits(SseLimits::default())
    }

    /// A decoder with the given caps.
    pub fn with_limits(limits: SseLimits) -> Self {
        Self {
            limits,
            line: Vec::new(),
            pending_cr: false,
            at_start: true,
            line_index: 0,
            data: String::new(),
            event: String::new(),
            id: None,
            retry: None,
            last_event_id: String::new(),
            poisoned: false,
        }
    }

    /// The browser-visible "last event ID": the most recent valid `id` field
    /// seen, carried across events.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Hands a consumed event back so that the next event's data reuses its
    /// buffer (up to 16 KiB of it).
    ///
    /// WHY: every dispatched event takes the decoder's data buffer with it,
    /// so without this each event of a long token stream allocates (and
    /// grows) a fresh one. A relay that only reads each event can give it
    /// back and decode the whole stream allocation-free.
    pub fn recycle(&mut self, event: Event) {
        let mut data = event.data;
        if self.data.is_empty() && data.capacity() > self.data.capacity() {
            data.clear();
            data.shrink_to(RECYCLED_CAPACITY);
            self.data = data;
        }
    }

    /// Feeds one chunk, appending every completed event to `out`. Events
    /// completed before an error are still appended; after an error the
    /// decoder is poisoned.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Poisoned);
        }
        let result = self.feed_inner(chunk, out);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Ends the stream. Per the standard, a partial line and an event not
    /// yet terminated by a blank line are discarded. Returns `true` when
    /// something was discarded, so a caller can tell a truncated stream from
    /// one that ended on an event boundary.
    pub fn finish(&mut self) -> bool {
        let discarded = !self.line.is_empty() || !self.data.is_empty();
        self.line.clear();
        self.data.clear();
        self.event.clear();
        self.poisoned = true;
        discarded
    }

    fn feed_inner(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let mut rest = chunk;
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\r', b'\n', rest) {
            let segment = &rest[..pos];
            if rest[pos] == b'\r' {
                match rest.get(pos + 1) {
                    Some(b'\n') => rest = &rest[pos + 2..],
                    Some(_) => rest = &rest[pos + 1..],
                    None => {
                        self.pending_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[pos + 1..];
            }
            self.check_line_len(self.line.len() + segment.len())?;
            if self.line.is_empty() {
                self.process_line(segment, out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(segment);
                let result = self.process_line(&line, out);
                line.clear();
                self.line = line;
                result?;
            }
        }
        self.check_line_len(self.line.len() + rest.len())?;
        self.line.extend_from_slice(rest);
        Ok(())
    }

    fn check_line_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_line_bytes {
            return Err(DecodeError::LineTooLong {
                line: self.line_index,
                limit: self.limits.max_line_bytes,
            });
        }
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let index = self.line_index;
        self.line_index += 1;
        let line = if std::mem::replace(&mut self.at_start, false) {
            line.strip_prefix(BOM).unwrap_or(line)
        } else {
            line
        };
        let line =
            std::str::from_utf8(line).map_err(|_| DecodeError::InvalidUtf8 { line: index })?;
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.data.len() + value.len() + 1 > self.limits.max_data_bytes {
                    return Err(DecodeError::EventTooLarge {
                        line: index,
                        limit: self.limits.max_data_bytes,
                    });
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id containing NUL is ignored, as a browser does.
            "id" if !value.contains('\0') => {
                self.last_event_id.clear();
                self.last_event_id.push_str(value);
                self.id = Some(value.to_owned());
            }
            // Only ASCII digits; digits too large for u64 are ignored, like
            // any other value a browser could not use.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let id = self.id.take();
        let retry = self.retry.take();
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing '\n' every data line appended
        let event = std::mem::take(&mut self.event);
        out.push(Event {
            event: (!event.is_empty()).then_some(event),
            data,
            id,
            retry,
        });
    }
}
