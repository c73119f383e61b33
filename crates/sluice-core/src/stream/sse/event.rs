//! The SSE event record shared by the decoder and the encoder.

/// One dispatched SSE event.
///
/// `id` and `retry` are the values given *in this event's block* (not the
/// sticky "last event ID" a browser carries forward; see
/// [`SseDecoder::last_event_id`](super::SseDecoder::last_event_id)). Re-encoding
/// an event therefore reproduces the same client-side state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` name; `None` means the default type `message` (an empty
    /// `event:` field is also `None`, as for a browser).
    pub event: Option<String>,
    /// The joined `data:` lines, separated by `\n`, without a trailing `\n`.
    pub data: String,
    /// The `id:` field of this block, if any.
    pub id: Option<String>,
    /// The `retry:` field of this block, if any (milliseconds).
    pub retry: Option<u64>,
}

impl Event {
    /// A data-only event (type `message`).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            ..Self::default()
        }
    }

    /// Sets the event name.
    pub fn with_event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(name.into());
        self
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the reconnection time hint.
    pub fn with_retry(mut self, ms: u64) -> Self {
        self.retry = Some(ms);
        self
    }
}
