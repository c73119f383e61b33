//! `lines` codec: newline-delimited UTF-8 text records.
//!
//! Records end at `\n`; one `\r` right before it is dropped, so CRLF streams
//! decode the same as LF streams. A lone `\r` is ordinary content (this codec
//! is for line-oriented logs and NDJSON, not for SSE, whose CR rules live in
//! [`crate::stream::sse`]).
//!
//! The decoder is push-based and copies at most one partial record, capped at
//! `max_record_bytes` (+1 for a pending `\r`), so memory stays flat however
//! long the stream is. The output does not depend on how the input is split
//! into chunks (property-tested in `tests/stream_codecs.rs`).

use super::error::DecodeError;

/// Default cap on one record, without its line terminator: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// One decoded line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Zero-based index of the line in the stream.
    pub index: u64,
    /// The line without its terminator.
    pub text: String,
}

/// Callback receiving `(line index, line bytes without terminator)`.
pub(crate) type OnLine<'a> = dyn FnMut(u64, &[u8]) -> Result<(), DecodeError> + 'a;

/// Splits bytes into raw lines, enforcing the record cap. Shared by the
/// `lines` and NDJSON decoders so both have identical framing.
#[derive(Debug)]
pub(crate) struct Splitter {
    partial: Vec<u8>,
    max: usize,
    next_index: u64,
    poisoned: bool,
}

impl Splitter {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            max,
            next_index: 0,
            poisoned: false,
        }
    }

    /// Feeds `chunk`, calling `on_line(index, bytes)` for every complete line.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        on_line: &mut OnLine<'_>,
    ) -> Result<(), DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Poisoned);
        }
        let result = self.feed_inner(chunk, on_line);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn feed_inner(&mut self, mut rest: &[u8], on_line: &mut OnLine<'_>) -> Result<(), DecodeError> {
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let segment = &rest[..pos];
            rest = &rest[pos + 1..];
            let index = self.next_index;
            self.next_index += 1;
            if self.partial.is_empty() {
                self.emit(index, segment, on_line)?;
            } else {
                self.check_partial_len(self.partial.len() + segment.len(), index)?;
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(segment);
                let result = self.emit(index, &line, on_line);
                line.clear();
                self.partial = line;
                result?;
            }
        }
        self.check_partial_len(self.partial.len() + rest.len(), self.next_index)?;
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// A partial line may hold `max` content bytes plus one `\r` that may
    /// turn out to be half of a CRLF.
    fn check_partial_len(&self, len: usize, index: u64) -> Result<(), DecodeError> {
        if len > self.max.saturating_add(1) {
            return Err(DecodeError::LineTooLong {
                line: index,
                limit: self.max,
            });
        }
        Ok(())
    }

    fn emit(&self, index: u64, line: &[u8], on_line: &mut OnLine<'_>) -> Result<(), DecodeError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.max {
            return Err(DecodeError::LineTooLong {
                line: index,
                limit: self.max,
            });
        }
        on_line(index, line)
    }

    /// Ends the stream: a final unterminated line (if any bytes) is emitted.
    pub(crate) fn finish(&mut self, on_line: &mut OnLine<'_>) -> Result<(), DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Poisoned);
        }
        // Finishing twice must not re-emit the tail.
        self.poisoned = true;
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        let index = self.next_index;
        self.next_index += 1;
        self.emit(index, &line, on_line)
    }
}

/// Push-based decoder for the `lines` codec.
///
/// ```
/// use sluice_core::stream::lines::LineDecoder;
/// let mut dec = LineDecoder::new();
/// let mut out = Vec::new();
/// dec.feed(b"one\r\ntw", &mut out).unwrap();
/// dec.feed(b"o\nthree", &mut out).unwrap();
/// dec.finish(&mut out).unwrap();
/// let texts: Vec<_> = out.iter().map(|l| l.text.as_str()).collect();
/// assert_eq!(texts, ["one", "two", "three"]);
/// ```
#[derive(Debug)]
pub struct LineDecoder {
    splitter: Splitter,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder with the default 1 MiB record cap.
    pub fn new() -> Self {
        Self::with_max_record_bytes(DEFAULT_MAX_RECORD_BYTES)
    }

    /// A decoder whose records (without terminator) may be at most `max`
    /// bytes; longer ones fail with [`DecodeError::LineTooLong`].
    pub fn with_max_record_bytes(max: usize) -> Self {
        Self {
            splitter: Splitter::new(max),
        }
    }

    /// Feeds one chunk, appending every completed line to `out`. Lines
    /// completed before an error are still appended.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Line>) -> Result<(), DecodeError> {
        self.splitter.feed(chunk, &mut |index, bytes| {
            out.push(to_line(index, bytes)?);
            Ok(())
        })
    }

    /// Ends the stream: a final line without a terminator is still a record.
    pub fn finish(&mut self, out: &mut Vec<Line>) -> Result<(), DecodeError> {
        self.splitter.finish(&mut |index, bytes| {
            out.push(to_line(index, bytes)?);
            Ok(())
        })
    }
}

fn to_line(index: u64, bytes: &[u8]) -> Result<Line, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { line: index })?;
    Ok(Line {
        index,
        text: text.to_owned(),
    })
}
