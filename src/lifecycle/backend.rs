//! Calls to backends: one send (with or without a deadline of the edge's
//! own), one mapping of the host's send errors, and the counted streaming
//! upload. Every path that talks to a backend goes through here.

use std::time::{Duration, Instant};

use error_stack::{Report, ResultExt};
use fastly::http::request::{PollResult, SendError, SendErrorCause};
use fastly::{Request, Response};

use super::error::{report, EdgeError};
use sluice_core::pump;

/// How often a pending call is polled while the edge's deadline runs.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// Sends `req` to `backend`. With a deadline the edge waits at most that
/// long for the response head and drops the pending call after it (which
/// closes it); without one the backend's own `first_byte_timeout` rules.
pub fn send(
    req: Request,
    backend: &str,
    deadline: Option<Duration>,
) -> Result<Response, Report<EdgeError>> {
    let Some(wait) = deadline else {
        return req.send(backend).map_err(|e| send_error(backend, &e));
    };
    let until = Instant::now() + wait;
    let mut pending = req
        .send_async(backend)
        .map_err(|e| send_error(backend, &e))?;
    loop {
        match pending.poll() {
            PollResult::Done(result) => return result.map_err(|e| send_error(backend, &e)),
            PollResult::Pending(p) if Instant::now() >= until => {
                drop(p);
                return Err(Report::new(EdgeError::OriginTimeout).attach(format!(
                    "backend `{backend}` sent no response head within {} ms",
                    wait.as_millis()
                )));
            }
            PollResult::Pending(p) => {
                pending = p;
                std::thread::sleep(POLL_EVERY);
            }
        }
    }
}

/// The one mapping of a host send error to what the client may see.
fn send_error(backend: &str, e: &SendError) -> Report<EdgeError> {
    let kind = match e.root_cause() {
        SendErrorCause::HttpResponseTimeout
        | SendErrorCause::ConnectionTimeout
        | SendErrorCause::DnsTimeout => EdgeError::OriginTimeout,
        SendErrorCause::HttpIncompleteResponse
        | SendErrorCause::HttpResponseHeaderSectionTooLarge
        | SendErrorCause::HttpResponseStatusInvalid
        | SendErrorCause::HttpProtocolError => EdgeError::OriginInvalid,
        _ => EdgeError::OriginUnreachable,
    };
    Report::new(kind).attach(format!(
        "sending to backend `{backend}`: {}",
        e.root_cause()
    ))
}

/// Streams a client body of unknown length upstream while counting it.
/// Past `limit` the upstream body is dropped without `finish`, so the
/// origin sees an aborted request, never a complete truncated one.
pub fn send_counted(
    mut req: Request,
    backend: &str,
    limit: u64,
) -> Result<Response, Report<EdgeError>> {
    let mut client_body = req.take_body();
    let (mut upstream, pending) = req
        .send_async_streaming(backend)
        .map_err(|e| send_error(backend, &e))?;
    pump::copy_capped(&mut client_body, &mut upstream, limit).map_err(|s| report(s.into()))?;
    upstream
        .finish()
        .change_context(EdgeError::OriginUnreachable)
        .attach("finishing the upload")?;
    pending.wait().map_err(|e| send_error(backend, &e))
}
