//! The body wrapper that records `download_complete` / `download_aborted`
//! (and `llm_cancelled`) with the bytes actually handed to the connection.

use super::{ChunkStream, ResBody};
use crate::events::{unix_ms, EventKind, EventLog};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a tracked body records about itself.
#[derive(Debug, Clone)]
pub struct Track {
    /// Where to record.
    pub events: Arc<EventLog>,
    /// Request path for the event.
    pub path: String,
    /// Body length when known; reaching it counts as complete.
    pub expected: Option<u64>,
    /// Also record `llm_cancelled` when the client goes away.
    pub llm: bool,
}

/// A body that counts what it hands to hyper and records how it ended.
struct Tracked {
    stream: ChunkStream,
    track: Option<Track>,
    expected: Option<u64>,
    started_ms: u64,
    sent: u64,
    frames: u64,
}

impl Tracked {
    fn finish(&mut self, kind: EventKind, reason: Option<&str>) {
        let Some(t) = self.track.take() else {
            return;
        };
        let detail = serde_json::json!({
            "started_at_ms": self.started_ms,
            "expected": t.expected,
            "frames": self.frames,
            "reason": reason,
        });
        t.events.record(kind, &t.path, self.sent, detail);
        if t.llm && reason == Some("client_gone") {
            t.events.record(
                EventKind::LlmCancelled,
                &t.path,
                self.sent,
                serde_json::json!({ "events_sent": self.frames, "started_at_ms": self.started_ms }),
            );
        }
    }

    /// Whether a known-length body has been fully handed over. hyper drops
    /// such a body without polling it to the end, so this is "complete".
    fn reached_expected(&self) -> bool {
        self.expected.is_some_and(|e| self.sent >= e)
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.reached_expected() {
            self.finish(EventKind::DownloadComplete, None);
            return Poll::Ready(None);
        }
        match self.stream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(b))) => {
                self.sent += b.len() as u64;
                self.frames += 1;
                if self.reached_expected() {
                    self.finish(EventKind::DownloadComplete, None);
                }
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => {
                let reason = if e.kind() == io::ErrorKind::ConnectionReset {
                    "origin_reset"
                } else {
                    "source_error"
                };
                self.finish(EventKind::DownloadAborted, Some(reason));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.finish(EventKind::DownloadComplete, None);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.reached_expected()
    }

    fn size_hint(&self) -> SizeHint {
        // Never exact: Content-Length, when wanted, is set as a header by
        // the route, so `?chunked=1` can omit it.
        SizeHint::default()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.reached_expected() {
            self.finish(EventKind::DownloadComplete, None);
        } else {
            self.finish(EventKind::DownloadAborted, Some("client_gone"));
        }
    }
}

/// Wraps a stream so its fate is recorded in the event log.
pub fn tracked(stream: ChunkStream, track: Track) -> ResBody {
    Tracked {
        stream,
        expected: track.expected,
        track: Some(track),
        started_ms: unix_ms(),
        sent: 0,
        frames: 0,
    }
    .boxed_unsync()
}
