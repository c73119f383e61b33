//! Turns a report into the client's error response: the one place a
//! failure becomes a status. What each [`EdgeError`] becomes is decided
//! in `sluice_core::edge_error` (tested natively); this only logs the
//! full report and builds the Fastly response.

use error_stack::Report;
use fastly::Response;
pub use sluice_core::edge_error::{EdgeError, EdgeFault, Style};

/// Logs the report and builds the client's error response.
pub fn respond(report: &Report<EdgeError>, style: Style) -> Response {
    let err = report.current_context();
    log::error!("{}: {report:?}", err.class());
    let answer = err.response(style);
    let headers = answer.headers.iter().map(|(n, v)| (*n, v.as_bytes()));
    super::message::response(answer.status, headers).with_body(answer.body)
}

/// A core driver's failure as a report with the same context.
pub fn report(fault: EdgeFault) -> Report<EdgeError> {
    Report::new(*fault.error).attach(fault.detail)
}
