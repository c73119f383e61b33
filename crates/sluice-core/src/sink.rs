//! The client side of a response: a `Write` that commits the head lazily,
//! then streams; or buffers a bounded body for a whole-document
//! post-processor and spills into a stream past its cap.
//!
//! Committing on the first body byte (not before) means a failure that
//! happens before any output (a lying `Content-Encoding`, a corrupt first
//! gzip block) still becomes a clean status instead of a broken `200`.
//! Once committed, every write goes to the client. Dropping the sink
//! without [`ClientSink::finish`] aborts the committed body, so a client
//! never mistakes a truncated body for a complete one.
//!
//! The state machine is generic over [`Commit`], the platform's way of
//! sending a head and a body: the Fastly adapter implements it over
//! `Response::stream_to_client` (and over a cache insert), the tests over
//! plain vectors.
//!
//! ```text
//!  Pending{head, buffer} ──first byte (stream) / buffer over cap (spill)──► Streaming(body)
//!        │                                                                      │
//!      finish: send_whole(head + buffer)                       finish: body end │ drop: abort
//!        ▼                                                                      ▼
//!      Closed ◄─────────────────────────────────────────────────────────────── Closed
//! ```

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Instant;

/// How a platform sends a response: a head with a streamed body, or a
/// head with a complete body.
pub trait Commit {
    /// The response head (status and headers) before it is sent.
    type Head;
    /// The open body of a committed response.
    type Body: Write;

    /// The status the head will send, for counters and logs.
    fn status(head: &Self::Head) -> u16;
    /// Sends the head and opens the body stream.
    fn open(&mut self, head: Self::Head) -> io::Result<Self::Body>;
    /// Sends the head with a complete body (a buffered body that fit).
    fn send_whole(&mut self, head: Self::Head, body: Vec<u8>) -> io::Result<()>;
    /// Ends an open body cleanly.
    fn finish(&mut self, body: Self::Body) -> io::Result<()>;
    /// Ends an open body as broken: the client must see an incomplete
    /// response, never a clean end.
    fn abort(&mut self, body: Self::Body);
}

/// Counters shared with the caller, which keeps them after the sink is
/// dropped (on an error the pipeline that owns the sink is dropped too).
#[derive(Debug, Default)]
pub struct SinkStats {
    bytes_out: Cell<u64>,
    committed_at: Cell<Option<Instant>>,
    status: Cell<Option<u16>>,
    spilled: Cell<bool>,
}

impl SinkStats {
    /// Body bytes handed to the client.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.get()
    }

    /// When the head went to the client.
    pub fn committed_at(&self) -> Option<Instant> {
        self.committed_at.get()
    }

    /// True once the head has gone to the client: from then on a failure
    /// can only abort the body.
    pub fn committed(&self) -> bool {
        self.committed_at.get().is_some()
    }

    /// The status that was sent, once committed.
    pub fn status(&self) -> Option<u16> {
        self.status.get()
    }

    /// A buffered body outgrew its cap and was streamed instead.
    pub fn spilled(&self) -> bool {
        self.spilled.get()
    }

    fn add(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.bytes_out.set(self.bytes_out.get().saturating_add(n));
    }

    fn mark_committed(&self, status: u16) {
        self.committed_at.set(Some(Instant::now()));
        self.status.set(Some(status));
    }
}

/// What a finished buffered body does to its head before it is sent (the
/// whole-document post-processor: exact length, strong `ETag`, ...).
pub type Finalizer<H> = Box<dyn FnOnce(&mut H, &[u8])>;

/// What a buffered body that outgrew its cap does to its head before it
/// streams instead.
pub type SpillHook<H> = Box<dyn FnOnce(&mut H)>;

enum State<C: Commit> {
    /// Nothing sent yet.
    Pending { head: C::Head, buffer: Vec<u8> },
    /// The head is committed; bytes go to the client.
    Streaming(C::Body),
    /// Finished, aborted or failed: writes are refused, never a panic.
    Closed,
}

/// The client-facing `Write`.
pub struct ClientSink<C: Commit> {
    committer: C,
    state: State<C>,
    stats: Rc<SinkStats>,
    /// Bytes a buffered body may hold before it spills (0: streaming).
    cap: usize,
    /// When a buffered body stops waiting for its end and spills.
    spill_at: Option<Instant>,
    finalizer: Option<Finalizer<C::Head>>,
    on_spill: Option<SpillHook<C::Head>>,
}

impl<C: Commit> ClientSink<C> {
    /// A sink that commits on the first byte and streams everything.
    pub fn streaming(committer: C, head: C::Head, stats: Rc<SinkStats>) -> Self {
        Self {
            committer,
            state: State::Pending {
                head,
                buffer: Vec::new(),
            },
            stats,
            cap: 0,
            spill_at: None,
            finalizer: None,
            on_spill: None,
        }
    }

    /// A sink that holds up to `cap` bytes for `finalizer`, and past the
    /// cap spills into a stream after `on_spill` adjusts the head.
    pub fn buffered(
        committer: C,
        head: C::Head,
        cap: usize,
        stats: Rc<SinkStats>,
        finalizer: Finalizer<C::Head>,
        on_spill: SpillHook<C::Head>,
    ) -> Self {
        Self {
            committer,
            state: State::Pending {
                head,
                buffer: Vec::new(),
            },
            stats,
            cap,
            spill_at: None,
            finalizer: Some(finalizer),
            on_spill: Some(on_spill),
        }
    }

    /// A buffered body still pending at `deadline` spills into a stream at
    /// its next write or flush (the pipeline flushes once per origin
    /// chunk): a slow origin must not hold the first byte back for ever,
    /// and only a write can tell that the client went away.
    pub fn spill_at(mut self, deadline: Instant) -> Self {
        self.spill_at = Some(deadline);
        self
    }

    fn past_deadline(&self) -> bool {
        self.spill_at.is_some_and(|t| Instant::now() >= t)
    }

    /// The head, while it has not been sent: a post-processor that ran
    /// outside the sink (the CSP hash completion) edits it here.
    pub fn head_mut(&mut self) -> Option<&mut C::Head> {
        match &mut self.state {
            State::Pending { head, .. } => Some(head),
            State::Streaming(_) | State::Closed => None,
        }
    }

    /// Sends the head with `body` as the whole response, when nothing has
    /// been sent yet (else `body` is streamed after what was). The platform
    /// then knows the exact length.
    pub fn finish_whole(mut self, body: Vec<u8>) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Pending { head, buffer } if buffer.is_empty() => {
                self.finalizer = None;
                self.stats.mark_committed(C::status(&head));
                self.stats.add(body.len());
                self.committer.send_whole(head, body)
            }
            state => {
                self.state = state;
                self.write_all(&body)?;
                self.finish()
            }
        }
    }

    /// The committed body, for a stream that hands the rest of its bytes
    /// to the platform (the CPU budget's splice): a streaming sink that has
    /// sent nothing yet commits now. `None` for a buffered body still
    /// waiting for its end (its finaliser needs every byte, so the caller
    /// keeps writing) and for a closed sink.
    pub fn committed_body(&mut self) -> io::Result<Option<&mut C::Body>> {
        if let State::Pending { .. } = self.state {
            if self.finalizer.is_some() {
                return Ok(None);
            }
            self.commit(&[])?;
        }
        match &mut self.state {
            State::Streaming(body) => Ok(Some(body)),
            State::Pending { .. } | State::Closed => Ok(None),
        }
    }

    /// True once the head has gone to the client.
    pub fn committed(&self) -> bool {
        matches!(self.state, State::Streaming(_)) || self.stats.committed()
    }

    /// Ends the response cleanly: finishes the stream, or sends a
    /// buffered body with its finalised head.
    pub fn finish(mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Pending { mut head, buffer } => {
                if let Some(finalize) = self.finalizer.take() {
                    finalize(&mut head, &buffer);
                }
                self.stats.mark_committed(C::status(&head));
                self.stats.add(buffer.len());
                self.committer.send_whole(head, buffer)
            }
            State::Streaming(body) => self.committer.finish(body),
            State::Closed => Err(io::Error::other("sink already closed")),
        }
    }

    /// Ends the response as broken (after commit) or sends nothing (before
    /// commit). Dropping the sink does the same.
    pub fn abort(mut self) {
        self.close_broken();
    }

    fn close_broken(&mut self) {
        if let State::Streaming(body) = std::mem::replace(&mut self.state, State::Closed) {
            self.committer.abort(body);
        }
    }

    /// Sends the head, then `held` and `extra`, and switches to streaming.
    fn commit(&mut self, extra: &[u8]) -> io::Result<()> {
        let State::Pending { mut head, buffer } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return Err(io::Error::other("sink closed"));
        };
        if self.finalizer.take().is_some() {
            self.stats.spilled.set(true);
            if let Some(adjust) = self.on_spill.take() {
                adjust(&mut head);
            }
        }
        self.stats.mark_committed(C::status(&head));
        let mut body = self.committer.open(head)?;
        // A failed write here leaves the sink closed; the opened body is
        // aborted so the client sees the break.
        if let Err(e) = body.write_all(&buffer).and_then(|()| body.write_all(extra)) {
            self.committer.abort(body);
            return Err(e);
        }
        self.stats.add(buffer.len() + extra.len());
        self.state = State::Streaming(body);
        Ok(())
    }
}

impl<C: Commit> Write for ClientSink<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let waiting = self.finalizer.is_some() && !self.past_deadline();
        match &mut self.state {
            State::Pending { buffer, .. } => {
                if buf.is_empty() {
                    return Ok(0);
                }
                if waiting && buffer.len() + buf.len() <= self.cap {
                    buffer.extend_from_slice(buf);
                } else {
                    self.commit(buf)?;
                }
                Ok(buf.len())
            }
            State::Streaming(body) => {
                if let Err(e) = body.write_all(buf) {
                    self.close_broken();
                    return Err(e);
                }
                self.stats.add(buf.len());
                Ok(buf.len())
            }
            State::Closed => Err(io::Error::other("sink closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let overdue = self.finalizer.is_some() && self.past_deadline();
        match &mut self.state {
            State::Streaming(body) => body.flush(),
            State::Pending { .. } if overdue => {
                self.commit(&[])?;
                self.flush()
            }
            State::Pending { .. } | State::Closed => Ok(()),
        }
    }
}

impl<C: Commit> Drop for ClientSink<C> {
    fn drop(&mut self) {
        self.close_broken();
    }
}

/// The downstream side of a stream whose head is decided later (planned
/// streams): the head is prepared once, committed with the first byte,
/// every write is flushed at once (each is an event or token boundary),
/// and dropping without [`Downstream::finish`] aborts.
pub struct Downstream<C: Commit> {
    sink: Option<ClientSink<C>>,
    stats: Rc<SinkStats>,
}

impl<C: Commit> Downstream<C> {
    /// Nothing prepared yet; counters go to `stats`.
    pub fn new(stats: Rc<SinkStats>) -> Self {
        Self { sink: None, stats }
    }

    /// Prepares the head (committed with the first byte or at finish). A
    /// second head is ignored: the first one wins.
    pub fn prepare(&mut self, committer: C, head: C::Head) {
        if self.sink.is_none() {
            self.sink = Some(ClientSink::streaming(
                committer,
                head,
                Rc::clone(&self.stats),
            ));
        }
    }

    /// True once a head is prepared.
    pub fn is_prepared(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes and flushes. An error means the client went away.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let sink = self
            .sink
            .as_mut()
            .ok_or_else(|| io::Error::other("write before the head was prepared"))?;
        sink.write_all(bytes)?;
        sink.flush()
    }

    /// Ends the response cleanly (sends the head if nothing was written).
    pub fn finish(&mut self) -> io::Result<()> {
        match self.sink.take() {
            Some(sink) => sink.finish(),
            None => Err(io::Error::other("finish before the head was prepared")),
        }
    }

    /// Aborts the response: a committed body is broken off.
    pub fn abort(&mut self) {
        drop(self.sink.take());
    }
}

#[cfg(test)]
mod tests;
