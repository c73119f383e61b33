//! The sans-IO relay of a provider's SSE stream to the client.
//!
//! WHY byte-faithful: the client's SDK parses the provider's exact events;
//! re-encoding them would risk changing what it sees for no gain. The relay
//! therefore finds event boundaries itself (a blank line ends an event, with
//! CRLF, LF and CR endings as in the WHATWG algorithm) and forwards each
//! event's *original bytes*, while [`crate::stream::sse::SseDecoder`] parses the
//! same bytes to read the event's data. Only one kind of event is ever held
//! back: the usage-only chunk the edge asked for on the client's behalf.
//!
//! WHY event by event: every call returns whole events only, so the
//! adapter's flush after each one puts every token on the wire the moment
//! it arrives, and the client is never left holding half an event when an
//! in-stream error tail follows.
//!
//! Memory per stream is one event (capped by
//! [`RelayConfig::with_max_event_bytes`]) plus the decoder's caps.

use super::chunk::{self, ChunkError};
use super::errors::ApiError;
use super::fallback::Failure;
use super::request::Prepared;
use super::usage::TokenUsage;
use crate::stream::sse::{self, Event, SseDecoder};
use crate::stream::{DecodeError, ErrorClass};
use std::convert::Infallible;
use thiserror::Error;

/// The caller's sink for downstream pieces, as a trait object so the
/// framing code is compiled once per error type, not once per closure.
type Emit<'a, E> = dyn FnMut(&[u8]) -> Result<(), E> + 'a;

/// Default cap on one upstream line (without its terminator): 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default cap on one upstream event's raw bytes: 2 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 2 << 20;
/// `Content-Type` of a relayed stream.
pub const SSE_CONTENT_TYPE: &str = "text/event-stream";
/// The event that ends an OpenAI stream.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";
/// The data of [`DONE_EVENT`].
const DONE_DATA: &str = "[DONE]";
/// After an event larger than this, the event buffer is shrunk back so one
/// big event does not pin its size for the rest of a long stream.
const RETAINED_CAPACITY: usize = 16 << 10;

/// Relay settings, built with `RelayConfig::default().with_*()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    strip_usage: bool,
    max_line_bytes: usize,
    max_event_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            strip_usage: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

impl RelayConfig {
    /// The settings for a prepared request: strip the usage chunk exactly
    /// when the edge asked for it on the client's behalf
    /// ([`Prepared::strip_usage`]).
    pub fn for_request(prepared: &Prepared<'_>) -> Self {
        Self::default().with_strip_usage(prepared.strip_usage())
    }

    /// Drop the usage-only chunk (`"choices": []` with `usage`) instead of
    /// forwarding it. Usage is recorded either way.
    ///
    /// ### Default
    /// `false`.
    #[must_use]
    pub fn with_strip_usage(mut self, strip: bool) -> Self {
        self.strip_usage = strip;
        self
    }

    /// Longest accepted upstream line, without its terminator; longer is
    /// [`RelayError::LineTooLong`].
    ///
    /// ### Default
    /// 1 MiB ([`DEFAULT_MAX_LINE_BYTES`]).
    #[must_use]
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Largest accepted upstream event, all its lines and terminators
    /// included; larger is [`RelayError::EventTooLarge`]. This is the
    /// relay's only buffer.
    ///
    /// ### Default
    /// 2 MiB ([`DEFAULT_MAX_EVENT_BYTES`]).
    #[must_use]
    pub fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }
}

/// The upstream stream is malformed. Every variant is the provider's fault:
/// before the first byte it is a 502 ([`RelayError::api_error`]), after it
/// an in-stream error ([`SseRelay::fail`]). The relay is poisoned after one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A line is longer than the cap.
    #[error("an upstream line is longer than {limit} bytes")]
    LineTooLong {
        /// The cap in bytes.
        limit: usize,
    },
    /// An event is larger than the cap.
    #[error("an upstream event is larger than {limit} bytes")]
    EventTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The SSE decoder refused the bytes (invalid UTF-8, …).
    #[error("malformed upstream SSE: {0}")]
    Decode(#[from] DecodeError),
    /// An event's data is neither `[DONE]` nor JSON.
    #[error("upstream event {event} is not JSON: {detail}")]
    InvalidJson {
        /// Zero-based index of the event in the stream.
        event: u64,
        /// serde_json's position-only description.
        detail: String,
    },
    /// An event's data is JSON but not an object.
    #[error("upstream event {event} is not a JSON object")]
    NotAnObject {
        /// Zero-based index of the event in the stream.
        event: u64,
    },
    /// The provider sent another event after `data: [DONE]`.
    #[error("upstream event {event} follows [DONE]")]
    EventAfterDone {
        /// Zero-based index of the event in the stream.
        event: u64,
    },
    /// The relay already failed, was failed, or finished.
    #[error("the relay already stopped and accepts no more input")]
    Poisoned,
}

impl RelayError {
    /// The stable class for logs and `x-sluice-error-class`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Poisoned => ErrorClass::Internal,
            _ => ErrorClass::UpstreamProtocol,
        }
    }

    /// How the fallback policy sees this failure.
    pub fn failure(&self) -> Failure {
        Failure::Protocol
    }

    /// The response before the first byte: 502.
    pub fn api_error(&self) -> ApiError {
        ApiError::bad_gateway()
    }
}

/// A failure while feeding, split by where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeedError<E> {
    /// The upstream bytes are malformed.
    #[error(transparent)]
    Upstream(RelayError),
    /// The caller's sink (the client connection) failed.
    #[error("writing to the client failed")]
    Downstream(E),
}

/// What one feed call did, for the adapter's timing and logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Events written to the client.
    pub events_forwarded: usize,
    /// Events held back (the usage-only chunk).
    pub events_dropped: usize,
    /// Bytes written to the client.
    pub bytes_written: usize,
    /// This call wrote the stream's first bytes to the client: from now on
    /// no fallback is allowed.
    pub first_byte: bool,
    /// This call wrote the first content token: the adapter's moment for
    /// "time to first token".
    pub first_token: bool,
    /// This call forwarded `data: [DONE]`: the adapter can stop reading.
    pub done: bool,
}

/// How an upstream stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// `data: [DONE]` was relayed: a clean end.
    Complete,
    /// A feed call failed (malformed upstream bytes or a client write
    /// error) before `[DONE]`; the adapter has the error from that call.
    Failed,
    /// The stream stopped without `[DONE]`; `discarded_bytes` of an
    /// unfinished event were dropped (never half-forwarded). The adapter
    /// appends an error tail with [`SseRelay::fail`].
    Truncated {
        /// Bytes of the incomplete last event.
        discarded_bytes: usize,
    },
}

/// Push-based relay of one OpenAI-compatible SSE stream.
///
/// ```
/// use sluice_core::ai::relay::{RelayConfig, SseRelay, StreamEnd};
/// let mut relay = SseRelay::new(RelayConfig::default().with_strip_usage(true));
/// let mut out = Vec::new();
/// relay.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\nda", &mut out).unwrap();
/// assert_eq!(out, b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n");
/// out.clear();
/// relay.feed(b"ta: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n", &mut out).unwrap();
/// assert!(out.is_empty()); // the usage chunk is held back…
/// assert_eq!(relay.usage().map(|u| u.total_tokens), Some(2)); // …but recorded
/// relay.feed(b"data: [DONE]\n\n", &mut out).unwrap();
/// assert_eq!(out, b"data: [DONE]\n\n");
/// assert_eq!(relay.finish(), StreamEnd::Complete);
/// ```
#[derive(Debug)]
pub struct SseRelay {
    config: RelayConfig,
    decoder: SseDecoder,
    /// Raw bytes of the event being received (the only growing buffer).
    block: Vec<u8>,
    /// Reused output vector of the decoder.
    events: Vec<Event>,
    /// Length of the current line so far, without terminator.
    line_len: usize,
    /// The last byte seen was `\r`: a `\n` now completes a CRLF.
    after_cr: bool,
    /// Whether the last completed block went to the client (decides where
    /// the `\n` of its CRLF goes when that arrives in the next chunk).
    last_block_forwarded: bool,
    next_event: u64,
    bytes_written: u64,
    events_forwarded: u64,
    events_dropped: u64,
    first_token_seen: bool,
    /// The upstream's `data: [DONE]` was relayed.
    upstream_done: bool,
    /// [`SseRelay::fail`] wrote the error tail.
    tail_written: bool,
    /// A feed call failed.
    errored: bool,
    /// No more input is accepted (error, finish or fail).
    stopped: bool,
    usage: Option<TokenUsage>,
}

impl SseRelay {
    /// A relay for one stream.
    pub fn new(config: RelayConfig) -> Self {
        let limits = sse::SseLimits::default()
            .with_max_line_bytes(config.max_line_bytes)
            .with_max_data_bytes(config.max_event_bytes);
        Self {
            config,
            decoder: SseDecoder::with_limits(limits),
            block: Vec::new(),
            events: Vec::new(),
            line_len: 0,
            after_cr: false,
            last_block_forwarded: false,
            next_event: 0,
            bytes_written: 0,
            events_forwarded: 0,
            events_dropped: 0,
            first_token_seen: false,
            upstream_done: false,
            tail_written: false,
            errored: false,
            stopped: false,
            usage: None,
        }
    }

    /// Feeds one upstream chunk and appends the downstream bytes (whole
    /// events only) to `out`. On error, `out` still holds the complete
    /// events relayed before it, which the adapter should write before the
    /// error tail.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<Progress, RelayError> {
        self.feed_each(chunk, |bytes| {
            out.extend_from_slice(bytes);
            Ok::<(), Infallible>(())
        })
        .map_err(|e| match e {
            FeedError::Upstream(e) => e,
            FeedError::Downstream(never) => match never {},
        })
    }

    /// Feeds one upstream chunk, calling `emit` once per downstream piece
    /// (one whole event, or the `\n` completing the CRLF of the previous
    /// event when the upstream split it across chunks), so the adapter can
    /// write and flush each event on its own even when one chunk holds
    /// several. An `emit` error stops the relay and is returned as
    /// [`FeedError::Downstream`].
    pub fn feed_each<E>(
        &mut self,
        chunk: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Progress, FeedError<E>> {
        if self.stopped {
            return Err(FeedError::Upstream(RelayError::Poisoned));
        }
        let mut progress = Progress::default();
        let result = self.feed_inner(chunk, &mut emit, &mut progress);
        if result.is_err() {
            self.stopped = true;
            self.errored = true;
        }
        result.map(|()| progress)
    }

    /// Ends the upstream stream and tells whether it was complete. The relay
    /// accepts no more input afterwards (but [`SseRelay::fail`] still works
    /// for a truncated stream).
    pub fn finish(&mut self) -> StreamEnd {
        self.stopped = true;
        self.decoder.finish();
        let discarded_bytes = std::mem::take(&mut self.block).len();
        if self.upstream_done {
            StreamEnd::Complete
        } else if self.errored {
            StreamEnd::Failed
        } else {
            StreamEnd::Truncated { discarded_bytes }
        }
    }

    /// Ends the client's stream cleanly after a failure past the first byte:
    /// appends [`error_tail`] to `out` and stops the relay. Writes nothing
    /// and returns `false` if `[DONE]` (or a tail) was already sent, since
    /// the client's stream is then already complete.
    ///
    /// The tail is for failures *after* the first byte. Before it
    /// ([`SseRelay::has_written`] is false) the adapter should rather fall
    /// back ([`crate::ai::fallback::RetryPolicy::decide`]) or answer an HTTP
    /// error ([`RelayError::api_error`], [`Failure::api_error`]).
    pub fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) -> bool {
        self.stopped = true;
        if self.is_done() {
            return false;
        }
        let start = out.len();
        error_tail(error, out);
        self.tail_written = true;
        self.bytes_written += (out.len() - start) as u64;
        true
    }

    /// Whether any byte went to the client. Once true, fallback to another
    /// backend is no longer allowed.
    pub fn has_written(&self) -> bool {
        self.bytes_written > 0
    }

    /// Bytes written to the client so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Whether a content token was relayed.
    pub fn first_token_seen(&self) -> bool {
        self.first_token_seen
    }

    /// Whether the client's stream is complete (`[DONE]` relayed, or an
    /// error tail written).
    pub fn is_done(&self) -> bool {
        self.upstream_done || self.tail_written
    }

    /// The last usage the provider reported (recorded even when the chunk
    /// was stripped).
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// Bytes the relay's event buffer holds allocated right now: at most
    /// the largest event seen while it is in flight, and at most 16 KiB
    /// between events. Exposed so memory per stream can be measured.
    pub fn buffered_capacity(&self) -> usize {
        self.block.capacity()
    }

    /// Events relayed to the client.
    pub fn events_forwarded(&self) -> u64 {
        self.events_forwarded
    }

    /// Events held back.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn feed_inner<E>(
        &mut self,
        chunk: &[u8],
        emit: &mut Emit<'_, E>,
        progress: &mut Progress,
    ) -> Result<(), FeedError<E>> {
        let mut rest = chunk;
        while let Some(&first) = rest.first() {
            if std::mem::take(&mut self.after_cr) && first == b'\n' {
                rest = &rest[1..];
                if self.block.is_empty() {
                    // The LF of a CRLF whose CR ended the previous event.
                    self.feed_decoder(b"\n").map_err(FeedError::Upstream)?;
                    if self.last_block_forwarded {
                        self.write(b"\n", emit, progress)?;
                    }
                } else {
                    self.push_block(b"\n").map_err(FeedError::Upstream)?;
                }
                continue;
            }
            let Some(pos) = memchr::memchr2(b'\r', b'\n', rest) else {
                self.push_line(rest).map_err(FeedError::Upstream)?;
                break;
            };
            self.push_line(&rest[..pos]).map_err(FeedError::Upstream)?;
            self.push_block(&rest[pos..=pos])
                .map_err(FeedError::Upstream)?;
            self.after_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            let blank = self.line_len == 0;
            self.line_len = 0;
            if blank {
                self.end_block(emit, progress)?;
            }
        }
        Ok(())
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        self.line_len += bytes.len();
        if self.line_len > self.config.max_line_bytes {
            return Err(RelayError::LineTooLong {
                limit: self.config.max_line_bytes,
            });
        }
        self.push_block(bytes)
    }

    fn push_block(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        if bytes.len()
            > self.config.max_event_bytes - self.block.len().min(self.config.max_event_bytes)
        {
            return Err(RelayError::EventTooLarge {
                limit: self.config.max_event_bytes,
            });
        }
        self.block.extend_from_slice(bytes);
        Ok(())
    }

    fn feed_decoder(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        for event in self.events.drain(..) {
            self.decoder.recycle(event);
        }
        self.decoder.feed(bytes, &mut self.events)?;
        Ok(())
    }

    /// A blank line ended the block: decide on it and pass it on.
    fn end_block<E>(
        &mut self,
        emit: &mut Emit<'_, E>,
        progress: &mut Progress,
    ) -> Result<(), FeedError<E>> {
        let block = std::mem::take(&mut self.block);
        let result = self.relay_block(&block, emit, progress);
        self.block = block;
        self.block.clear();
        if self.block.capacity() > RETAINED_CAPACITY {
            self.block.shrink_to(RETAINED_CAPACITY);
        }
        result
    }

    fn relay_block<E>(
        &mut self,
        block: &[u8],
        emit: &mut Emit<'_, E>,
        progress: &mut Progress,
    ) -> Result<(), FeedError<E>> {
        self.feed_decoder(block).map_err(FeedError::Upstream)?;
        let events = std::mem::take(&mut self.events);
        let verdict = self.judge(&events, progress);
        self.events = events;
        let forward = verdict.map_err(FeedError::Upstream)?;
        self.last_block_forwarded = forward;
        if forward {
            self.write(block, emit, progress)?;
        }
        Ok(())
    }

    /// Whether to forward a block holding `events` (normally one; none for
    /// comments and stray blank lines), recording usage and milestones.
    fn judge(&mut self, events: &[Event], progress: &mut Progress) -> Result<bool, RelayError> {
        if events.is_empty() {
            // Comments (keep-alives) pass through until the stream is done.
            return Ok(!self.upstream_done);
        }
        let mut forward = false;
        for event in events {
            let index = self.next_event;
            self.next_event += 1;
            if self.upstream_done {
                return Err(RelayError::EventAfterDone { event: index });
            }
            if event.data == DONE_DATA {
                self.upstream_done = true;
                progress.done = true;
                forward = true;
                continue;
            }
            let as_relay_error = |e| match e {
                ChunkError::NotJson(detail) => RelayError::InvalidJson {
                    event: index,
                    detail,
                },
                ChunkError::NotAnObject => RelayError::NotAnObject { event: index },
            };
            // After the first token only the usage chunk matters; the other
            // events are still validated, without the typed read.
            let facts = if self.first_token_seen {
                match chunk::inspect_usage(&event.data).map_err(as_relay_error)? {
                    Some(facts) => facts,
                    None => {
                        forward = true;
                        continue;
                    }
                }
            } else {
                chunk::inspect(&event.data).map_err(as_relay_error)?
            };
            if facts.usage.is_some() {
                self.usage = facts.usage;
            }
            if facts.has_content && !self.first_token_seen {
                self.first_token_seen = true;
                progress.first_token = true;
            }
            forward |= !(facts.usage_only && self.config.strip_usage);
        }
        if forward {
            self.events_forwarded += events.len() as u64;
            progress.events_forwarded += events.len();
        } else {
            self.events_dropped += events.len() as u64;
            progress.events_dropped += events.len();
        }
        Ok(forward)
    }

    fn write<E>(
        &mut self,
        bytes: &[u8],
        emit: &mut Emit<'_, E>,
        progress: &mut Progress,
    ) -> Result<(), FeedError<E>> {
        // Counted before the write: a write that fails half way may still
        // have put bytes on the wire, so fallback must already be excluded.
        if self.bytes_written == 0 {
            progress.first_byte = true;
        }
        self.bytes_written += bytes.len() as u64;
        progress.bytes_written += bytes.len();
        emit(bytes).map_err(FeedError::Downstream)
    }
}

/// Appends the in-stream failure tail: `data: {"error":{…}}\n\n` then
/// `data: [DONE]\n\n`, so an OpenAI SDK raises the error and the stream
/// still ends the way every stream ends.
///
/// ```
/// use sluice_core::ai::{errors::ApiError, relay::error_tail};
/// let mut out = Vec::new();
/// error_tail(&ApiError::stream_interrupted(), &mut out);
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "data: {\"error\":{\"message\":\"The upstream stream failed before it completed.\",\
///      \"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_error\"}}\n\n\
///      data: [DONE]\n\n"
/// );
/// ```
pub fn error_tail(error: &ApiError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    error.write_json(out);
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(DONE_EVENT);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay_all(config: RelayConfig, input: &[u8]) -> (Vec<u8>, Result<(), RelayError>) {
        let mut relay = SseRelay::new(config);
        let mut out = Vec::new();
        let result = relay.feed(input, &mut out).map(|_| ());
        (out, result)
    }

    #[test]
    fn comments_and_stray_blank_lines_pass_through() {
        let input = b": keep-alive\n\n\ndata: {}\n\n:x\r\n\r\ndata: [DONE]\n\n";
        let (out, result) = relay_all(RelayConfig::default(), input);
        result.unwrap();
        assert_eq!(out, input.to_vec());
    }

    #[test]
    fn crlf_split_after_a_dropped_event_drops_its_lf_too() {
        let mut relay = SseRelay::new(RelayConfig::default().with_strip_usage(true));
        let mut out = Vec::new();
        relay
            .feed(
                b"data: {\"choices\":[],\"usage\":{\"total_tokens\":1}}\r\n\r",
                &mut out,
            )
            .unwrap();
        relay.feed(b"\ndata: [DONE]\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, b"data: [DONE]\r\n\r\n");
    }

    #[test]
    fn pieces_are_whole_events() {
        let mut relay = SseRelay::new(RelayConfig::default());
        let mut pieces = Vec::new();
        let p = relay
            .feed_each(b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DO", |b| {
                pieces.push(b.to_vec());
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(
            pieces,
            [
                b"data: {\"a\":1}\n\n".to_vec(),
                b"data: {\"b\":2}\n\n".to_vec()
            ]
        );
        assert_eq!(p.events_forwarded, 2);
        assert!(p.first_byte && !p.first_token && !p.done);
    }

    #[test]
    fn downstream_errors_are_reported_as_such_and_stop_the_relay() {
        let mut relay = SseRelay::new(RelayConfig::default());
        let err = relay
            .feed_each(b"data: {}\n\n", |_| Err("client gone"))
            .unwrap_err();
        assert_eq!(err, FeedError::Downstream("client gone"));
        assert!(relay.has_written());
        assert_eq!(
            relay.feed_each(b"data: {}\n\n", |_| Ok::<_, ()>(())),
            Err(FeedError::Upstream(RelayError::Poisoned))
        );
    }

    #[test]
    fn events_after_done_are_an_error_but_comments_are_ignored() {
        let (out, result) = relay_all(
            RelayConfig::default(),
            b"data: [DONE]\n\n: bye\n\ndata: {}\n\n",
        );
        assert_eq!(out, b"data: [DONE]\n\n");
        assert_eq!(result, Err(RelayError::EventAfterDone { event: 1 }));
    }

    #[test]
    fn event_cap_counts_every_byte_of_the_event() {
        let config = RelayConfig::default().with_max_event_bytes(16);
        let (out, result) = relay_all(config, b"data: {}\n\n: 0123456789\ndata: 1\n\n");
        assert_eq!(out, b"data: {}\n\n");
        assert_eq!(result, Err(RelayError::EventTooLarge { limit: 16 }));
    }
}
