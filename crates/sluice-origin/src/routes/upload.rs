//! `PUT|POST /upload[/...]`: streams the request body, answers its length
//! and SHA-256, and records `upload` or `upload_incomplete`.

use super::echo::{consume, is_chunked};
use super::{allow, json, Ctx};
use crate::body::ResBody;
use crate::error::RouteError;
use crate::events::{EventKind, EventLog};
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;

/// Records `upload_incomplete` if the handler is dropped mid-body (hyper
/// drops it when the connection dies).
struct Guard {
    events: Arc<EventLog>,
    path: String,
    received: u64,
    detail: serde_json::Value,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            let mut d = self.detail.clone();
            d["error"] = "request dropped mid-body".into();
            self.events
                .record(EventKind::UploadIncomplete, &self.path, self.received, d);
        }
    }
}

pub async fn serve(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::PUT, Method::POST], "PUT, POST")?;
    let (parts, body) = req.into_parts();
    let content_length: Option<u64> = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let chunked = is_chunked(&parts.headers);
    let detail = serde_json::json!({ "content_length": content_length, "chunked": chunked });
    let mut guard = Guard {
        events: ctx.state.events.clone(),
        path: ctx.path.clone(),
        received: 0,
        detail: detail.clone(),
        armed: true,
    };
    let result = consume(body, |n| guard.received = n).await;
    guard.armed = false;
    match result {
        Ok(s) => {
            let mut d = detail;
            d["sha256"] = s.sha256.clone().into();
            ctx.state
                .events
                .record(EventKind::Upload, &ctx.path, s.len, d);
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "len": s.len,
                    "sha256": s.sha256,
                    "content_length": content_length,
                    "chunked": chunked,
                }),
            ))
        }
        Err((n, e)) => {
            let mut d = detail;
            d["error"] = e.clone().into();
            ctx.state
                .events
                .record(EventKind::UploadIncomplete, &ctx.path, n, d);
            Err(RouteError::bad(format!(
                "upload incomplete after {n} bytes: {e}"
            )))
        }
    }
}
