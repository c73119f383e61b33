//! What a session tells the adapter to do with the downstream response.

/// Status the adapter answers with when a stream fails before its first
/// byte.
pub const REJECT_STATUS: u16 = 502;
/// Header carrying the failure class on such a 502.
pub const ERROR_CLASS_HEADER: &str = "x-sluice-error-class";

/// The downstream response head a session wants: status and headers,
/// content type included, already sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status.
    pub status: u16,
    /// Lower-case `(name, value)` pairs, `content-type` first.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The value of a header, for tests and logging.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A failure the client sees as a 502 because nothing was written yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Value for [`ERROR_CLASS_HEADER`]: one of
    /// [`ErrorClass`](super::ErrorClass)'s strings, or a dispatch origin's own
    /// validated class.
    pub class: String,
    /// Human-readable detail for the log and the 502 body.
    pub message: String,
}

/// How the downstream response continues after the bytes of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownstreamStep {
    /// Keep going: read more upstream input.
    Continue,
    /// Write the bytes, then end the response cleanly (send the head first
    /// if it was not sent yet).
    Finish,
    /// Write the bytes, then abort the response so the client sees a broken
    /// stream (text output after its first byte: there is no in-band error).
    Abort,
    /// Nothing was written: answer [`REJECT_STATUS`] with
    /// [`ERROR_CLASS_HEADER`] instead of the planned head.
    Reject(Rejection),
}

impl DownstreamStep {
    /// True when the stream is over.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, DownstreamStep::Continue)
    }
}

/// What the downstream body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// `text/event-stream`: failures after the first byte become an
    /// `event: error` and a clean end.
    Sse,
    /// Plain chunked text: failures after the first byte abort the response.
    Text,
}

impl OutputKind {
    /// The content type used when a message does not give one.
    pub fn default_content_type(self) -> &'static str {
        match self {
            OutputKind::Sse => "text/event-stream; charset=utf-8",
            OutputKind::Text => "text/plain; charset=utf-8",
        }
    }

    /// `"sse"` or `"text"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Sse => "sse",
            OutputKind::Text => "text",
        }
    }
}

/// Builds a downstream head: `content-type` first, then `cache-control:
/// no-cache` for SSE unless the message set one (an SSE stream must never be
/// cached by an intermediary), then the message's sanitised headers.
pub(crate) fn build_head(
    status: u16,
    output: OutputKind,
    content_type: Option<&str>,
    headers: Vec<(String, String)>,
) -> ResponseHead {
    let mut all = Vec::with_capacity(headers.len() + 2);
    all.push((
        "content-type".to_owned(),
        content_type
            .unwrap_or(output.default_content_type())
            .to_owned(),
    ));
    if output == OutputKind::Sse && !headers.iter().any(|(n, _)| n == "cache-control") {
        all.push(("cache-control".to_owned(), "no-cache".to_owned()));
    }
    all.extend(headers);
    ResponseHead {
        status,
        headers: all,
    }
}
