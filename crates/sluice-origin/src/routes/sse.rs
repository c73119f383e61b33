//! `GET /sse`: a hosted Server-Sent Events stream whose events carry the
//! time they were written, so a test can measure relay latency.

use super::{allow, Ctx};
use crate::body::{
    injected_reset, tracked, ChunkStream, ConnControl, ResBody, Track, MAX_SLEEP_MS,
};
use crate::error::RouteError;
use crate::events::unix_ms;
use bytes::Bytes;
use http::{header, Method, Request, Response};
use hyper::body::Incoming;
use std::io;
use std::time::Duration;
use tokio::time::Instant;

/// Most events one stream may be asked for (unless `forever`).
const MAX_EVENTS: u64 = 10_000_000;

struct Sse {
    next: u64,
    end: Option<u64>,
    interval: Duration,
    start: Instant,
    first: u64,
    event: Option<String>,
    retry: Option<u64>,
    fail_after: Option<u64>,
    sent: u64,
    ctl: ConnControl,
    done: bool,
}

impl Sse {
    async fn next_event(&mut self) -> Option<io::Result<Bytes>> {
        if self.done || self.end.is_some_and(|e| self.next >= e) {
            return None;
        }
        if self.fail_after.is_some_and(|k| self.sent >= k) {
            self.done = true;
            return Some(Err(injected_reset(&self.ctl).await));
        }
        // Absolute schedule: event k is due at start + k * interval, so
        // timing does not drift with scheduling delays.
        let offset_ms = (self.interval.as_millis() as u64).saturating_mul(self.next - self.first);
        match self.start.checked_add(Duration::from_millis(offset_ms)) {
            Some(due) => tokio::time::sleep_until(due).await,
            None => tokio::time::sleep(self.interval).await,
        }
        let i = self.next;
        let mut ev = String::with_capacity(96);
        if let (Some(r), 0) = (self.retry, self.sent) {
            ev.push_str(&format!("retry: {r}\n"));
        }
        if let Some(name) = &self.event {
            ev.push_str(&format!("event: {name}\n"));
        }
        ev.push_str(&format!(
            "id: {i}\ndata: {{\"i\":{i},\"sent_at_ms\":{}}}\n\n",
            unix_ms()
        ));
        self.next += 1;
        self.sent += 1;
        Some(Ok(Bytes::from(ev)))
    }
}

pub fn serve(ctx: &Ctx, req: &Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::GET], "GET")?;
    let q = &ctx.query;
    let n = q.u64_in("n", 10, MAX_EVENTS)?;
    let interval = Duration::from_millis(q.u64_in("interval_ms", 200, MAX_SLEEP_MS)?);
    let event = match q.get("event") {
        Some(e) if e.contains(['\r', '\n']) => {
            return Err(RouteError::bad("event name must be one line"))
        }
        other => other.map(str::to_owned),
    };
    // EventSource reconnects resume after the last id seen.
    let first = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |last| last.saturating_add(1));
    let sse = Sse {
        next: first,
        end: (!q.flag("forever")).then_some(n),
        interval,
        start: Instant::now(),
        first,
        event,
        retry: q.parse_opt("retry")?,
        fail_after: q.parse_opt("fail_after")?,
        sent: 0,
        ctl: ctx.ctl.clone(),
        done: false,
    };
    let stream: ChunkStream = Box::pin(futures_util::stream::unfold(sse, |mut s| async move {
        s.next_event().await.map(|r| (r, s))
    }));
    let track = Track {
        events: ctx.state.events.clone(),
        path: ctx.path.clone(),
        expected: None,
        llm: false,
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(tracked(stream, track))?)
}
