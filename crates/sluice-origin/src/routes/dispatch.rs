//! A stateless dispatch counter (`docs/STREAM_PROTOCOLS.md`, section 2):
//! `GET /dispatch/counter` answers the open message,
//! `POST /dispatch/counter/step` one step, `POST /dispatch/counter/close`
//! the close call.
//!
//! Every knob rides in the opaque `state` the edge carries from step to
//! step, so any origin process (a restarted one included) can answer any
//! step. Steps and closes are recorded as `dispatch_step` /
//! `dispatch_close` events so tests can see what the edge did.

use super::{allow, read_capped, with_type, Ctx};
use crate::body::{self, ResBody};
use crate::error::RouteError;
use crate::events::EventKind;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The dispatch open message content type.
pub const DISPATCH_CT: &str = "application/vnd.sluice.dispatch+json";
/// Largest step / close body accepted.
const MAX_BODY: usize = 4 << 20;
/// Largest counter.
const MAX_N: u64 = 10_000_000;
/// Knobs copied from the query into `state.cfg` (all optional integers).
const KNOBS: [&str; 10] = [
    "pace_ms",
    "idle_at",
    "idle_steps",
    "slow_at",
    "slow_ms",
    "big_at",
    "big_bytes",
    "pad",
    "error_at",
    "fail_at",
];

/// `GET /dispatch/counter`: the open message.
///
/// Query: `n` (events, default 10), `per` (events per step, default 1),
/// `output` (`sse` default, or `text`), `status`, `header=Name:Value`
/// (repeatable, any name: the edge must refuse forbidden ones),
/// `start=1` (an open chunk), `close=0` (no close path), and the knobs in
/// [`KNOBS`] (see the README).
pub fn open(ctx: &Ctx, method: &Method) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET], "GET")?;
    let q = &ctx.query;
    let n = q.u64_in("n", 10, MAX_N)?;
    let per = q.u64_in("per", 1, 100_000)?.max(1);
    let output = match q.get("output").unwrap_or("sse") {
        o @ ("sse" | "text") => o,
        other => return Err(RouteError::bad(format!("output={other:?}: sse or text"))),
    };
    let mut cfg = Map::new();
    for knob in KNOBS {
        if let Some(v) = q.parse_opt::<u64>(knob)? {
            cfg.insert(knob.to_owned(), json!(v));
        }
    }
    let mut headers = Map::new();
    for h in q.all("header") {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| RouteError::bad(format!("header={h:?}: expected Name:Value")))?;
        headers.insert(name.trim().to_owned(), json!(value.trim()));
    }
    let idle_left = cfg.get("idle_steps").cloned().unwrap_or(json!(0));
    let mut message = json!({
        "output": output,
        "headers": headers,
        "step_path": "/dispatch/counter/step",
        "state": {"n": 0, "total": n, "per": per, "out": output, "idle_left": idle_left, "cfg": cfg},
    });
    if let Some(status) = q.parse_opt::<u16>("status")? {
        message["status"] = json!(status);
    }
    if q.get("close") != Some("0") {
        message["close_path"] = json!("/dispatch/counter/close");
    }
    if q.flag("start") {
        message["chunks"] = if output == "sse" {
            json!([{"event": "start", "data": format!("counting to {n}")}])
        } else {
            json!([format!("counting to {n}\n")])
        };
    }
    if n == 0 {
        message["done"] = json!(true);
    }
    Ok(with_type(StatusCode::OK, DISPATCH_CT, message.to_string()))
}

fn knob(cfg: &Value, name: &str) -> Option<u64> {
    cfg.get(name).and_then(Value::as_u64)
}

/// `POST /dispatch/counter/step`.
pub async fn step(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::POST], "POST")?;
    let raw = read_capped(req.into_body(), MAX_BODY).await?;
    let request: Value = serde_json::from_slice(&raw)
        .map_err(|e| RouteError::bad(format!("step request is not JSON: {e}")))?;
    let mut state = request
        .get("state")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| RouteError::bad("step request without an object state"))?;
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    let (Some(n), Some(total), Some(per)) =
        (num(&state, "n"), num(&state, "total"), num(&state, "per"))
    else {
        return Err(RouteError::bad("state needs n, total and per"));
    };
    let sse = state.get("out").and_then(Value::as_str) != Some("text");
    let cfg = state.get("cfg").cloned().unwrap_or(json!({}));
    let step_index = num(&request, "step").unwrap_or(0);
    let attempt = num(&request, "attempt").unwrap_or(0);
    ctx.state.events.record(
        EventKind::DispatchStep,
        &ctx.path,
        0,
        json!({"step": step_index, "attempt": attempt, "n": n}),
    );

    if knob(&cfg, "fail_at") == Some(n) && attempt == 0 {
        return Ok(with_type(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            r#"{"error":"injected step failure"}"#,
        ));
    }
    if knob(&cfg, "slow_at") == Some(n) {
        let ms = knob(&cfg, "slow_ms").unwrap_or(5_000).min(600_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if knob(&cfg, "error_at") == Some(n) {
        let answer = json!({"chunks": [], "error": {"class": "counter.failed",
            "message": format!("the counter failed at {n}")}});
        return Ok(with_type(
            StatusCode::OK,
            "application/json",
            answer.to_string(),
        ));
    }
    let idle_left = num(&state, "idle_left").unwrap_or(0);
    if knob(&cfg, "idle_at") == Some(n) && idle_left > 0 {
        // An empty step: the edge backs off (50 ms doubling) before the next.
        state["idle_left"] = json!(idle_left - 1);
        let answer = json!({"chunks": [], "state": state});
        return Ok(with_type(
            StatusCode::OK,
            "application/json",
            answer.to_string(),
        ));
    }

    let end = n.saturating_add(per).min(total);
    let mut chunks = Vec::new();
    for i in n..end {
        let mut data = i.to_string();
        if knob(&cfg, "big_at") == Some(i) {
            let extra = knob(&cfg, "big_bytes").unwrap_or(2 << 20).min(64 << 20);
            data.push_str(&"x".repeat(extra as usize));
        }
        chunks.push(if sse {
            json!({"event": "tick", "id": i.to_string(), "data": data})
        } else {
            json!(format!("{data}\n"))
        });
    }
    state["n"] = json!(end);
    if let Some(pad) = knob(&cfg, "pad") {
        let len = end.saturating_mul(pad).min(16 << 20);
        state["pad"] = json!("p".repeat(len as usize));
    }
    let mut answer = json!({"chunks": chunks, "state": state, "done": end >= total});
    if let Some(pace) = knob(&cfg, "pace_ms") {
        answer["next_after_ms"] = json!(pace);
    }
    Ok(with_type(
        StatusCode::OK,
        "application/json",
        answer.to_string(),
    ))
}

/// `POST /dispatch/counter/close`: records the close call (`detail` is the
/// whole close request) and answers `204`.
pub async fn close(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::POST], "POST")?;
    let raw = read_capped(req.into_body(), MAX_BODY).await?;
    let detail: Value = serde_json::from_slice(&raw)
        .map_err(|e| RouteError::bad(format!("close request is not JSON: {e}")))?;
    // Drop the bulky state padding from the log; keep everything else.
    let mut detail = detail;
    if let Some(state) = detail.get_mut("state").and_then(Value::as_object_mut) {
        state.remove("pad");
    }
    ctx.state
        .events
        .record(EventKind::DispatchClose, &ctx.path, 0, detail);
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}
