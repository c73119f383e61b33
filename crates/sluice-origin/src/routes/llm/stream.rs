//! The streamed mock completion: N token events, optional usage chunk,
//! `[DONE]`, with injected resets and in-stream errors.

use super::wire::{error_body, Meta, Usage};
use crate::body::{injected_reset, ChunkStream, ConnControl};
use crate::content::mock_llm_token;
use crate::fail::LlmFail;
use bytes::Bytes;
use std::io;
use std::time::Duration;

/// Everything that shapes one streamed completion.
pub struct Spec {
    /// Ids and names shared by every chunk.
    pub meta: Meta,
    /// Number of content events.
    pub events: u32,
    /// Delay between content events (the first is immediate).
    pub delay: Duration,
    /// Whether to send the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Usage numbers.
    pub usage: Usage,
    /// `ResetAfter` / `ErrorAfter`, if injected.
    pub fail: Option<LlmFail>,
}

enum Phase {
    Content,
    Usage,
    Done,
    End,
}

struct Gen {
    spec: Spec,
    next: u32,
    phase: Phase,
    ctl: ConnControl,
}

fn frame(json: &str) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

impl Gen {
    async fn next_event(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.phase {
                Phase::Content => {
                    match self.spec.fail {
                        Some(LlmFail::ResetAfter(k)) if k == self.next => {
                            self.phase = Phase::End;
                            return Some(Err(injected_reset(&self.ctl).await));
                        }
                        Some(LlmFail::ErrorAfter(k)) if k == self.next => {
                            self.phase = Phase::End;
                            let msg = format!("mock upstream error after {k} events");
                            return Some(Ok(frame(&error_body(
                                &msg,
                                "server_error",
                                Some("mock_error"),
                            ))));
                        }
                        _ => {}
                    }
                    if self.next >= self.spec.events {
                        self.phase = Phase::Usage;
                        continue;
                    }
                    if self.next > 0 {
                        tokio::time::sleep(self.spec.delay).await;
                    }
                    let i = self.next;
                    self.next += 1;
                    let last = self.next == self.spec.events;
                    let v =
                        self.spec
                            .meta
                            .chunk(i, last, &mock_llm_token(i), self.spec.include_usage);
                    return Some(Ok(frame(&v)));
                }
                Phase::Usage => {
                    self.phase = Phase::Done;
                    if self.spec.include_usage {
                        return Some(Ok(frame(&self.spec.meta.usage_chunk(self.spec.usage))));
                    }
                }
                Phase::Done => {
                    self.phase = Phase::End;
                    return Some(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
                }
                Phase::End => return None,
            }
        }
    }
}

/// The SSE body of a streamed completion.
pub fn sse(spec: Spec, ctl: ConnControl) -> ChunkStream {
    let g = Gen {
        spec,
        next: 0,
        phase: Phase::Content,
        ctl,
    };
    Box::pin(futures_util::stream::unfold(g, |mut g| async move {
        g.next_event().await.map(|e| (e, g))
    }))
}
