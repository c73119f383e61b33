//! Ollama-style NDJSON streaming: `POST /api/chat` and `POST /api/generate`,
//! record for record in Ollama's wire format.

use super::{allow, json, read_capped, with_type, Ctx};
use crate::body::{
    injected_reset, tracked, ChunkStream, ConnControl, ResBody, Track, MAX_SLEEP_MS,
};
use crate::content::{ollama_default_tokens, DEFAULT_NDJSON_DELAY_MS};
use crate::error::RouteError;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{json, Value};
use std::io;
use std::time::{Duration, Instant, SystemTime};

/// Largest request body accepted (16 MiB).
const MAX_BODY: usize = 16 << 20;
/// The line `?bad_record_at=` inserts.
pub const BAD_RECORD: &str = "this is not json {sluice bad record}";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Generate,
}

struct Plan {
    api: Api,
    model: String,
    tokens: Vec<String>,
    delay: Duration,
    fail_after: Option<u64>,
    bad_at: Option<u64>,
    prompt_words: u64,
}

fn created_at() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn words(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(a) => a.iter().map(words).sum(),
        Value::Object(o) => o.get("content").map_or(0, words),
        _ => 0,
    }
}

fn ollama_error(status: StatusCode, msg: &str) -> Response<ResBody> {
    json(status, &json!({ "error": msg }))
}

#[derive(Serialize)]
struct Msg<'a> {
    role: &'static str,
    content: &'a str,
}

/// One Ollama record; keys in Ollama's order, optional ones omitted.
#[derive(Serialize)]
struct Record<'a> {
    model: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Msg<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a str>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<[u32; 3]>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
}

#[derive(Serialize)]
struct Stats {
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: u64,
    prompt_eval_duration: u64,
    eval_count: u64,
    eval_duration: u64,
}

impl Plan {
    fn record(&self, content: &str, stats: Option<Stats>) -> String {
        let done = stats.is_some();
        let (message, response) = match self.api {
            Api::Chat => (
                Some(Msg {
                    role: "assistant",
                    content,
                }),
                None,
            ),
            Api::Generate => (None, Some(content)),
        };
        let rec = Record {
            model: &self.model,
            created_at: created_at(),
            message,
            response,
            done,
            done_reason: done.then_some("stop"),
            context: (done && self.api == Api::Generate).then_some([1, 2, 3]),
            stats,
        };
        // Plain structs always serialise.
        serde_json::to_string(&rec).unwrap_or_default()
    }

    fn token_record(&self, tok: &str) -> String {
        self.record(tok, None)
    }

    /// The `done: true` record (streaming: empty content; non-streaming:
    /// the whole answer).
    fn final_record(&self, started: Instant, content: &str) -> String {
        let total = started.elapsed().as_nanos() as u64;
        let stats = Stats {
            total_duration: total,
            load_duration: 1_000_000,
            prompt_eval_count: self.prompt_words,
            prompt_eval_duration: 2_000_000,
            eval_count: self.tokens.len() as u64,
            eval_duration: total.saturating_sub(3_000_000),
        };
        self.record(content, Some(stats))
    }
}

struct Run {
    plan: Plan,
    next: u64,
    emitted: u64,
    bad_pending: bool,
    started: Instant,
    ctl: ConnControl,
    done: bool,
}

impl Run {
    async fn next_line(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        let total = self.plan.tokens.len() as u64 + 1;
        if self.plan.fail_after.is_some_and(|k| self.emitted >= k) {
            self.done = true;
            return Some(Err(injected_reset(&self.ctl).await));
        }
        if self.bad_pending && self.plan.bad_at == Some(self.next) {
            self.bad_pending = false;
            return Some(Ok(Bytes::from(format!("{BAD_RECORD}\n"))));
        }
        if self.next > 0 {
            tokio::time::sleep(self.plan.delay).await;
        }
        let i = self.next as usize;
        let rec = if (i as u64) + 1 < total {
            self.plan.token_record(&self.plan.tokens[i])
        } else {
            self.done = true;
            self.plan.final_record(self.started, "")
        };
        self.next += 1;
        self.emitted += 1;
        let mut line = rec;
        line.push('\n');
        Some(Ok(Bytes::from(line)))
    }
}

pub async fn serve(
    ctx: &Ctx,
    req: Request<Incoming>,
    endpoint: &str,
) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::POST], "POST")?;
    let started = Instant::now();
    let api = if endpoint == "chat" {
        Api::Chat
    } else {
        Api::Generate
    };
    let q = &ctx.query;
    let raw = read_capped(req.into_body(), MAX_BODY).await?;
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Ok(ollama_error(
                StatusCode::BAD_REQUEST,
                "invalid JSON request body",
            ))
        }
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(ollama_error(StatusCode::BAD_REQUEST, "model is required"));
    };
    if q.get("fail") == Some("before") {
        return Ok(ollama_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock failure before first byte",
        ));
    }
    let tokens: Vec<String> = match (q.get("tokens"), body.get("mock_tokens")) {
        (Some(t), _) => {
            serde_json::from_str(t).map_err(|e| RouteError::bad(format!("tokens: {e}")))?
        }
        (None, Some(t)) => serde_json::from_value(t.clone())
            .map_err(|e| RouteError::bad(format!("mock_tokens: {e}")))?,
        (None, None) => ollama_default_tokens(),
    };
    let delay_ms = match q.parse_opt::<u64>("delay_ms")? {
        Some(d) => d,
        None => body
            .get("mock_delay_ms")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_NDJSON_DELAY_MS),
    };
    let prompt_words = match api {
        Api::Chat => body.get("messages").map_or(0, words),
        Api::Generate => body.get("prompt").map_or(0, words),
    };
    let plan = Plan {
        api,
        model,
        tokens,
        delay: Duration::from_millis(delay_ms.min(MAX_SLEEP_MS)),
        fail_after: q.parse_opt("fail_after")?,
        bad_at: q.parse_opt("bad_record_at")?,
        prompt_words,
    };
    // Ollama streams unless the request says "stream": false.
    if body.get("stream").and_then(Value::as_bool) == Some(false) {
        let content = plan.tokens.concat();
        return Ok(with_type(
            StatusCode::OK,
            "application/json",
            plan.final_record(started, &content),
        ));
    }
    let run = Run {
        plan,
        next: 0,
        emitted: 0,
        bad_pending: true,
        started,
        ctl: ctx.ctl.clone(),
        done: false,
    };
    let stream: ChunkStream = Box::pin(futures_util::stream::unfold(run, |mut r| async move {
        r.next_line().await.map(|x| (x, r))
    }));
    let track = Track {
        events: ctx.state.events.clone(),
        path: ctx.path.clone(),
        expected: None,
        llm: true,
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(tracked(stream, track))?)
}
