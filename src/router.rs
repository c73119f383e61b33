//! Request routing: the one place that decides which handler owns a
//! request.

use std::time::Instant;

use error_stack::Report;
use fastly::{Request, Response};

use crate::access_log::AccessRecord;
use crate::config;
use crate::edge_error::{self, EdgeError};
use crate::publisher::{self, Ctx};
use crate::request_view::RequestView;

/// Routes one client request. Returns `Some(response)` for `main` to send,
/// or `None` when the handler has already streamed the response.
pub fn route_request(req: Request, started: Instant) -> Option<Response> {
    let settings = config::load();
    init_logging(
        settings
            .as_ref()
            .map(|s| config::log_filter(s.log_level))
            .unwrap_or(log::LevelFilter::Info),
    );
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            let report = Report::new(EdgeError::Config).attach(e.to_string());
            return Some(edge_error::respond(&report, Some(&e.to_string())));
        }
    };
    let view = RequestView::of(&req);
    let mut record = AccessRecord {
        method: req.get_method_str().to_owned(),
        path: req.get_path().to_owned(),
        ..AccessRecord::default()
    };
    if let Some(claim) = crate::gateway::claims(&req, &settings) {
        return crate::gateway::handle(req, claim, &settings, started, record);
    }
    let ctx = Ctx {
        started,
        view: &view,
        settings: &settings,
    };
    match publisher::handle_publisher_request(req, &ctx, &mut record) {
        Ok(answer) => publisher::send(answer, &ctx, record),
        Err(report) => {
            let err = *report.current_context();
            record.mode = "error";
            record.status = err.status().as_u16();
            record.error_class = Some(err.class());
            record.emit(started, None);
            Some(edge_error::respond(&report, None))
        }
    }
}

/// Initialises `log-fastly`: general lines go to the `sluice` endpoint,
/// access lines to `access`. Viceroy prints both to stdout.
fn init_logging(level: log::LevelFilter) {
    let result = log_fastly::Logger::builder()
        .max_level(level)
        .default_endpoint("sluice")
        .endpoint(crate::access_log::TARGET)
        .try_init();
    if result.is_err() {
        // Already initialised (never expected: one request per instance).
    }
}
