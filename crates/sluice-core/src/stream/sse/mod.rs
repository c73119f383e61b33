//! Server-Sent Events: an incremental decoder and an encoder.
//!
//! The decoder follows the WHATWG "interpreting an event stream" algorithm
//! (HTML Living Standard §9.2.6): CRLF, LF and CR line endings, one leading
//! BOM stripped, `data` lines joined with `\n`, `event`, `id` (ignored when
//! it contains NUL), `retry` (digits only), comments, and exactly one space
//! stripped after the colon. An event is dispatched on a blank line only if
//! it has data, and an incomplete event at end of stream is discarded, all
//! as a browser's `EventSource` would do.
//!
//! Where sluice is stricter than a browser, it is so on purpose and returns a
//! typed [`DecodeError`](crate::stream::DecodeError) instead of guessing:
//! invalid UTF-8 (a browser substitutes U+FFFD, silently corrupting tokens),
//! a line longer than [`SseLimits::max_line_bytes`] and an event whose data is
//! larger than [`SseLimits::max_data_bytes`] (both unbounded in a browser).
//!
//! The encoder splits data on every line break (`\n`, `\r\n`, `\r`) into
//! several `data:` lines, so any string survives a round trip through an
//! `EventSource` with its line breaks normalised to `\n`.

mod decoder;
mod encoder;
mod event;

pub use decoder::{SseDecoder, SseLimits, DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_LINE_BYTES};
pub(crate) use encoder::encode_error_class;
pub use encoder::{encode_comment, encode_error, encode_event, encode_fields, KEEP_ALIVE};
pub use event::Event;
