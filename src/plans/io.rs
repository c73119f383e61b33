//! The I/O the plan drivers share: bounded body reads, backend calls with a
//! deadline, the downstream writer, and the 502 before the first byte.

use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use error_stack::Report;
use fastly::http::request::{PollResult, SendError, SendErrorCause};
use fastly::http::{HeaderName, HeaderValue, StatusCode};
use fastly::{Body, Request, Response};
use sluice_core::stream::{ResponseHead, ERROR_CLASS_HEADER, REJECT_STATUS};

use crate::access_log::AccessRecord;
use crate::edge_error::EdgeError;
use crate::sink::{ClientSink, SinkStats};

/// Size of one read from a backend body. Reads return as soon as any bytes
/// are available, so this bounds memory, not latency.
pub const READ_CHUNK: usize = 16 * 1024;

/// How often a pending backend call is polled while its deadline runs.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// Milliseconds on the stream's monotonic clock.
pub fn now_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Reads at most `cap + 1` bytes, so a caller can tell "exactly at the cap"
/// from "over it" without reading an unbounded body into memory.
pub fn read_capped(body: &mut Body, cap: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let limit = cap.saturating_add(1);
    while out.len() < limit {
        let want = (limit - out.len()).min(buf.len());
        match body.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Why a backend call produced no response.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Connecting or sending failed (refused, reset, DNS, bad backend).
    #[error("backend `{backend}` unreachable: {cause}")]
    Connect {
        /// The backend name.
        backend: String,
        /// The host's cause.
        cause: String,
    },
    /// No response head before the deadline.
    #[error("backend `{backend}` sent no response within {ms} ms")]
    Timeout {
        /// The backend name.
        backend: String,
        /// The deadline that passed.
        ms: u64,
    },
}

/// Sends `req` to `backend` and waits at most `timeout_ms` for the response
/// head. The pending request is dropped on timeout, which closes it.
pub fn send_with_deadline(
    req: Request,
    backend: &str,
    timeout_ms: u64,
) -> Result<Response, CallError> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let mut pending = req
        .send_async(backend)
        .map_err(|e| connect_error(backend, &e))?;
    loop {
        match pending.poll() {
            PollResult::Done(Ok(resp)) => return Ok(resp),
            PollResult::Done(Err(e)) => {
                return Err(match e.root_cause() {
                    SendErrorCause::HttpResponseTimeout => CallError::Timeout {
                        backend: backend.to_owned(),
                        ms: timeout_ms,
                    },
                    _ => connect_error(backend, &e),
                })
            }
            PollResult::Pending(p) => {
                if Instant::now() >= deadline {
                    drop(p);
                    return Err(CallError::Timeout {
                        backend: backend.to_owned(),
                        ms: timeout_ms,
                    });
                }
                pending = p;
                std::thread::sleep(POLL_EVERY);
            }
        }
    }
}

fn connect_error(backend: &str, e: &SendError) -> CallError {
    CallError::Connect {
        backend: backend.to_owned(),
        cause: e.root_cause().to_string(),
    }
}

/// Builds the client response head a session asked for. Sessions only emit
/// sanitised names and values; anything the HTTP types still refuse is
/// dropped and logged, never a panic.
pub fn head_response(head: &ResponseHead) -> Response {
    let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::OK);
    let mut resp = Response::from_status(status);
    for (name, value) in &head.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                resp.append_header(n, v);
            }
            _ => log::warn!("dropping unrepresentable planned header {name:?}"),
        }
    }
    resp
}

/// The downstream side of a planned stream: the head waits for the first
/// body byte (via [`ClientSink`]), every write is flushed at once (each one
/// is an event or token boundary), and dropping without [`finish`] aborts.
///
/// [`finish`]: Downstream::finish
pub struct Downstream {
    sink: Option<ClientSink>,
    stats: Rc<SinkStats>,
}

impl Downstream {
    /// Nothing prepared yet.
    pub fn new() -> Self {
        Self {
            sink: None,
            stats: Rc::new(SinkStats::default()),
        }
    }

    /// Prepares the head (committed with the first byte or at finish).
    pub fn prepare(&mut self, head: Response) {
        if self.sink.is_none() {
            self.sink = Some(ClientSink::streaming(head, Rc::clone(&self.stats)));
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

    /// Aborts the response: the sink is dropped without `finish`, so the
    /// client sees a broken body, never a clean end.
    pub fn abort(&mut self) {
        drop(self.sink.take());
    }

    /// Bytes written to the client.
    pub fn bytes_out(&self) -> u64 {
        self.stats.bytes_out.get()
    }

    /// When the head was committed.
    pub fn committed_at(&self) -> Option<Instant> {
        self.stats.committed_at.get()
    }

    /// True once the head reached the client.
    pub fn committed(&self) -> bool {
        self.stats.committed()
    }
}

/// The 502 for a planned stream that failed before its first byte: the
/// class goes in `x-sluice-error-class`, the detail only to the log.
pub fn reject(class: &str, message: &str, record: &mut AccessRecord) -> Response {
    let report = Report::new(EdgeError::OriginInvalid)
        .attach(format!(
            "planned stream failed before its first byte ({class})"
        ))
        .attach(message.to_owned());
    log::error!("{}: {report:?}", record.mode);
    record.status = REJECT_STATUS;
    let class_value =
        HeaderValue::from_str(class).unwrap_or_else(|_| HeaderValue::from_static("internal"));
    Response::from_status(REJECT_STATUS)
        .with_header(ERROR_CLASS_HEADER, class_value)
        .with_header("cache-control", "no-store")
        .with_body_text_plain("sluice: the origin's planned stream failed\n")
}
