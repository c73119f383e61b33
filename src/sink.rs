//! The client side of a rewritten response: a `Write` that commits the
//! response head lazily and then streams into Fastly's `StreamingBody`.
//!
//! Committing on the first body byte (not before) means a failure that
//! happens before any output — a lying `Content-Encoding`, a corrupt first
//! gzip block — still becomes a clean 502 instead of a broken 200. Once
//! committed, every write goes straight to the client and is flushed per
//! origin chunk by the pipeline. Dropping the sink without
//! [`ClientSink::finish`] aborts the response, so a client never mistakes a
//! truncated body for a complete one.
//!
//! In buffered mode the sink holds the output (up to a cap) so a
//! whole-document post-processor can run; past the cap it spills into a
//! normal stream instead of failing the request.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Instant;

use fastly::http::body::StreamingBody;
use fastly::Response;

/// Counters shared with the caller, which keeps them even after the
/// pipeline (and so the sink) is dropped on an error.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Bytes written to the client.
    pub bytes_out: Cell<u64>,
    /// When the head was committed to the client.
    pub committed_at: Cell<Option<Instant>>,
    /// The buffered path spilled into a stream.
    pub spilled: Cell<bool>,
}

impl SinkStats {
    /// True once the response head has gone to the client.
    pub fn committed(&self) -> bool {
        self.committed_at.get().is_some()
    }
}

// One per response, never moved in a hot loop: boxing the head buys nothing.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Nothing sent yet: the head waits for the first byte (or the end of
    /// a buffered body).
    Pending {
        head: Response,
        buffer: Vec<u8>,
        buffer_cap: usize,
    },
    /// The head is committed; bytes go to the client.
    Streaming(StreamingBody),
    /// Finished or failed; kept so `Write` never panics after an error.
    Closed,
}

/// What a finished buffered body needs before it is sent.
pub type Finalizer = Box<dyn FnOnce(&mut Response, &[u8])>;

/// Header changes for a buffered body that outgrew its cap and streams.
pub type SpillHook = Box<dyn FnOnce(&mut Response)>;

/// The client-facing `Write`.
pub struct ClientSink {
    state: State,
    stats: Rc<SinkStats>,
    /// Header changes for a buffered body that did not spill.
    finalizer: Option<Finalizer>,
    /// Header changes when a buffered body spills into a stream.
    on_spill: Option<SpillHook>,
}

impl ClientSink {
    /// A sink that commits on the first byte and streams everything.
    pub fn streaming(head: Response, stats: Rc<SinkStats>) -> Self {
        Self {
            state: State::Pending {
                head,
                buffer: Vec::new(),
                buffer_cap: 0,
            },
            stats,
            finalizer: None,
            on_spill: None,
        }
    }

    /// A sink that buffers up to `cap` bytes for `finalizer`, and spills
    /// into a stream (after `on_spill` adjusts the head) past the cap.
    pub fn buffered(
        head: Response,
        cap: usize,
        stats: Rc<SinkStats>,
        finalizer: Finalizer,
        on_spill: SpillHook,
    ) -> Self {
        Self {
            state: State::Pending {
                head,
                buffer: Vec::new(),
                buffer_cap: cap,
            },
            stats,
            finalizer: Some(finalizer),
            on_spill: Some(on_spill),
        }
    }

    fn commit(&mut self, extra: &[u8]) -> io::Result<()> {
        let State::Pending {
            mut head, buffer, ..
        } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return Ok(());
        };
        if self.finalizer.take().is_some() {
            self.stats.spilled.set(true);
            log::warn!(
                "buffered body passed the cap after {} bytes; streaming instead",
                buffer.len()
            );
            if let Some(adjust) = self.on_spill.take() {
                adjust(&mut head);
            }
        }
        let mut body = head.stream_to_client();
        self.stats.committed_at.set(Some(Instant::now()));
        body.write_all(&buffer)?;
        body.write_all(extra)?;
        self.count(buffer.len() + extra.len());
        self.state = State::Streaming(body);
        Ok(())
    }

    fn count(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.stats
            .bytes_out
            .set(self.stats.bytes_out.get().saturating_add(n));
    }

    /// Ends the response cleanly: finishes the stream, or sends the
    /// buffered body with the finalizer's headers.
    pub fn finish(mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Pending {
                mut head, buffer, ..
            } => {
                if let Some(finalize) = self.finalizer.take() {
                    finalize(&mut head, &buffer);
                }
                self.count(buffer.len());
                self.stats.committed_at.set(Some(Instant::now()));
                head.with_body(buffer).send_to_client();
                Ok(())
            }
            State::Streaming(body) => body.finish(),
            State::Closed => Err(io::Error::other("sink already closed")),
        }
    }
}

impl Write for ClientSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.state {
            State::Pending {
                buffer, buffer_cap, ..
            } => {
                if buf.is_empty() {
                    return Ok(0);
                }
                if self.finalizer.is_some() && buffer.len() + buf.len() <= *buffer_cap {
                    buffer.extend_from_slice(buf);
                } else {
                    self.commit(buf)?;
                }
                Ok(buf.len())
            }
            State::Streaming(body) => {
                body.write_all(buf)?;
                self.count(buf.len());
                Ok(buf.len())
            }
            State::Closed => Err(io::Error::other("sink closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.state {
            State::Streaming(body) => body.flush(),
            State::Pending { .. } | State::Closed => Ok(()),
        }
    }
}
