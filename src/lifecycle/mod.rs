//! The request lifecycle every kind of traffic goes through.
//!
//! ```text
//! from_client ─► settings + logging ─► route (router.rs) ─► handler phases
//!                                                             │
//!   the handler uses the lifecycle's shared parts:            │ Ok(Outcome) / Err(report)
//!   backend::send (one send, one error mapping),              ▼
//!   sluice_core::pump (one read loop), client::Sink            close: status before commit,
//!   (commit on the first byte, abort on drop)           abort class after it,
//!                                                       exactly one access line
//! ```
//!
//! A handler returns `Ok(Outcome)` or an `error-stack` report. The
//! lifecycle alone decides what a report becomes: a status (before the
//! response is committed) or an abort class (after), and it alone writes
//! the access line.

pub mod backend;
pub mod client;
pub mod error;
pub mod message;

use std::io::Write;
use std::time::Instant;

use error_stack::Report;
use fastly::{Request, Response};
use sluice_core::access::AccessRecord;
pub use sluice_core::context::{Cx, End};
use sluice_core::http::ClientView;
use sluice_core::settings::{LogLevel, Settings};

use crate::stores;
use client::{Sink, ToClient};
pub use error::{EdgeError, Style};

/// The log target (and `log-fastly` endpoint) of access lines.
pub const ACCESS_TARGET: &str = "access";

/// What a handler did with the request.
// One value per request, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A complete response for `main` to send (a pass-through response
    /// keeps the origin's body handle: the host sends it, no guest copy).
    Respond(Response),
    /// The response went out through the lifecycle's sink already.
    Sent,
}

/// A sink that commits `head` to the client with the first body byte.
pub fn sink(cx: &Cx<'_>, head: Response) -> Sink {
    cx.sink_via(ToClient, head)
}

/// Answers a failure now, while the handler still has work to do
/// afterwards (a best-effort close call): the same response the lifecycle
/// would build, sent at once.
pub fn answer_now(cx: &mut Cx<'_>, report: &Report<EdgeError>) {
    let class = report.current_context().class().into_owned();
    let mut resp = error::respond(report, cx.style);
    cx.record.error_class = Some(class);
    let body = resp.take_body_bytes();
    let mut sink = sink(cx, resp);
    if let Err(e) = sink.write_all(&body).and_then(|()| sink.finish()) {
        log::info!("client went away before the error response: {e}");
    }
}

/// Runs one request through `handle` and closes it: returns the response
/// for `main` to send, or `None` when it went out already.
pub fn serve(
    req: Request,
    started: Instant,
    handle: impl FnOnce(Request, &mut Cx<'_>) -> Result<Outcome, Report<EdgeError>>,
) -> Option<Response> {
    let loaded = stores::load_settings();
    init_logging(loaded.as_ref().map_or(LogLevel::Info, |s| s.log_level));
    let record = AccessRecord::for_request(req.get_method_str(), req.get_path());
    let (settings, failed) = match loaded {
        Ok(settings) => (settings, None),
        Err(e) => (Settings::defaults(), Some(EdgeError::Config(e.to_string()))),
    };
    let mut cx = Cx::new(started, &settings, client_view(&req), record);
    let result = match failed {
        Some(error) => Err(Report::new(error)),
        None => handle(req, &mut cx),
    };
    close(cx, result)
}

/// Decides what the result becomes and writes the one access line.
fn close(cx: Cx<'_>, result: Result<Outcome, Report<EdgeError>>) -> Option<Response> {
    let (response, end) = match result {
        Ok(Outcome::Respond(resp)) => {
            let status = resp.get_status().as_u16();
            (Some(resp), End::Responded(status))
        }
        Ok(Outcome::Sent) => (None, End::Sent),
        Err(report) if cx.stats.committed() => {
            let err = report.current_context();
            match err {
                EdgeError::ClientGone => log::info!("client went away mid-response: {report:?}"),
                _ => log::error!(
                    "aborting the committed response ({}): {report:?}",
                    err.class()
                ),
            }
            (None, End::Aborted(err.class().into_owned()))
        }
        Err(report) => {
            let resp = error::respond(&report, cx.style);
            let status = resp.get_status().as_u16();
            let class = report.current_context().class().into_owned();
            (Some(resp), End::Answered { status, class })
        }
    };
    let vcpu = fastly::compute_runtime::elapsed_vcpu_ms().ok();
    let heap = fastly::compute_runtime::heap_memory_snapshot_mib().ok();
    log::info!(target: ACCESS_TARGET, "{}", cx.close(end, vcpu, heap));
    response
}

/// What the edge saw of the client: the connection and the request URL,
/// never forwarding headers.
fn client_view(req: &Request) -> ClientView {
    let url = req.get_url();
    ClientView::from_connection(
        req.get_tls_protocol_bytes().is_some(),
        url.host_str(),
        url.port(),
        req.get_client_ip_addr(),
        req.get_method() == fastly::http::Method::HEAD,
    )
}

/// `log-fastly`: general lines to the `sluice` endpoint, access lines to
/// `access`. Viceroy prints both to stdout.
fn init_logging(level: LogLevel) {
    // Fails only if already initialised: one request per instance.
    let _ = log_fastly::Logger::builder()
        .max_level(level.into())
        .default_endpoint("sluice")
        .endpoint(ACCESS_TARGET)
        .try_init();
}
