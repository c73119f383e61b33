//! `GET /__events` (JSON array, filters `?kind=&path=&since=`) and
//! `DELETE /__events` (clear).

use super::{allow, json, Ctx};
use crate::body::{self, ResBody};
use crate::error::RouteError;
use crate::events::EventFilter;
use http::{Method, Response, StatusCode};

pub fn serve(ctx: &Ctx, method: &Method) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET, Method::DELETE], "GET, DELETE")?;
    if method == Method::DELETE {
        ctx.state.events.clear();
        let mut r = Response::new(body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        return Ok(r);
    }
    let q = &ctx.query;
    let filter = EventFilter {
        kind: q.get("kind").map(str::to_owned),
        path: q.get("path").map(str::to_owned),
        since: q.parse_opt("since")?,
    };
    let events = ctx.state.events.snapshot(&filter);
    let v = serde_json::to_value(events).map_err(|e| RouteError::Internal(e.to_string()))?;
    Ok(json(StatusCode::OK, &v))
}
