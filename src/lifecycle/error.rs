//! Turns a report into the client's error response: the one place a
//! failure becomes a status. What each [`EdgeError`] becomes is decided
//! in `sluice_core::edge_error` (tested natively); this only logs the
//! full report and builds the Fastly response.

use error_stack::Report;
use fastly::http::{HeaderValue, StatusCode};
use fastly::Response;
pub use sluice_core::edge_error::{EdgeError, EdgeFault, Style};

/// Logs the report and builds the client's error response.
pub fn respond(report: &Report<EdgeError>, style: Style) -> Response {
    let err = report.current_context();
    log::error!("{}: {report:?}", err.class());
    let answer = err.response(style);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = Response::from_status(status).with_body(answer.body);
    for (name, value) in answer.headers {
        // A plan's class comes from the origin: validated there, and
        // never a panic here if one still is not a header value.
        match HeaderValue::from_str(&value) {
            Ok(v) => resp.set_header(name, v),
            Err(_) => log::warn!("dropping unrepresentable error header {name}"),
        }
    }
    resp
}

/// A core driver's failure as a report with the same context.
pub fn report(fault: EdgeFault) -> Report<EdgeError> {
    Report::new(*fault.error).attach(fault.detail)
}
