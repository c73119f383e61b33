//! A mock OpenAI-compatible LLM: `POST /v1/chat/completions`,
//! `POST /v1/completions`, `POST /v1/embeddings`, `GET /v1/models`.
//!
//! Order of checks: read the body (so hyper can notice a client that goes
//! away while we stall), process-wide `--llm-fail`, bearer key, JSON, then
//! per-request failure (`x-mock-fail` header, else a `mock-...` model).

mod stream;
mod wire;

use super::{json, read_capped, with_type, Ctx};
use crate::body::{tracked, ResBody, Track, MAX_SLEEP_MS};
use crate::content::{SplitMix64, DEFAULT_LLM_DELAY_MS, DEFAULT_LLM_EVENTS};
use crate::error::RouteError;
use crate::events::{unix_ms, EventKind};
use crate::fail::LlmFail;
use base64::Engine;
use http::request::Parts;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wire::{Api, Meta, Usage};

/// Largest request body (64 MiB): above the edge's own cap, so the edge's
/// 413 is what a test observes.
const MAX_BODY: usize = 64 << 20;
/// Most events one streamed completion may be asked for.
const MAX_EVENTS: u64 = 1_000_000;
/// How long `connect-hang` holds a request before resetting it.
const HANG_CAP: Duration = Duration::from_secs(600);
/// Largest embedding dimension.
const MAX_DIMS: u64 = 4096;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Models,
}

/// A refusal before any work: an OpenAI-style error.
struct ApiError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
}

impl ApiError {
    fn into_response(self) -> Response<ResBody> {
        wire::error(
            self.status,
            &self.message,
            "invalid_request_error",
            self.code,
        )
    }
}

fn endpoint(path: &str, method: &Method) -> Result<Endpoint, ApiError> {
    let (ep, want) = match path {
        "/v1/chat/completions" => (Endpoint::Chat, Method::POST),
        "/v1/completions" => (Endpoint::Completions, Method::POST),
        "/v1/embeddings" => (Endpoint::Embeddings, Method::POST),
        "/v1/models" => (Endpoint::Models, Method::GET),
        _ => {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!("Unknown request URL: {path}."),
                code: Some("unknown_url"),
            })
        }
    };
    if *method != want {
        return Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{method} is not allowed on {path}; use {want}."),
            code: None,
        });
    }
    Ok(ep)
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `x-mock-X` header, else body field `mock_X`, else `default`; capped.
fn knob(
    parts: &Parts,
    body: &Value,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, RouteError> {
    let v = match header_str(parts, &format!("x-mock-{}", name.replace('_', "-"))) {
        Some(h) => h
            .trim()
            .parse()
            .map_err(|_| RouteError::bad(format!("x-mock-{name}: {h:?} is not a number")))?,
        None => body
            .get(format!("mock_{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(default),
    };
    Ok(v.min(max))
}

/// Applies a failure that happens before any response byte. `Ok(None)`
/// means "carry on" (slow-headers already waited; mid-stream kinds are
/// handled by the stream).
async fn fail_before(
    parts: &Parts,
    fail: LlmFail,
    default_slow: Duration,
) -> Result<Option<Response<ResBody>>, RouteError> {
    match fail {
        LlmFail::Status(code) => Ok(Some(wire::injected_status(code))),
        LlmFail::Reset => Err(RouteError::ConnectionKilled),
        LlmFail::ConnectHang => {
            tokio::time::sleep(HANG_CAP).await;
            Err(RouteError::ConnectionKilled)
        }
        LlmFail::SlowHeaders => {
            let d = header_str(parts, "x-mock-headers-delay-ms")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(default_slow, |ms| {
                    Duration::from_millis(ms.min(MAX_SLEEP_MS))
                });
            tokio::time::sleep(d).await;
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn authorised(parts: &Parts, key: &str) -> Result<(), ApiError> {
    let given = header_str(parts, "authorization").map(str::trim);
    let token = given.and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    match (given, token) {
        (_, Some(t)) if t == key => Ok(()),
        (None, _) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned(),
            code: None,
        }),
        // Never echo the key that was presented.
        _ => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "Incorrect API key provided.".to_owned(),
            code: Some("invalid_api_key"),
        }),
    }
}

fn words(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(a) => a.iter().map(words).sum(),
        Value::Object(o) => o.get("content").or_else(|| o.get("text")).map_or(0, words),
        _ => 0,
    }
}

pub async fn serve(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    let (parts, body) = req.into_parts();
    let ep = match endpoint(&ctx.path, &parts.method) {
        Ok(ep) => ep,
        Err(e) => return Ok(e.into_response()),
    };
    let raw = match read_capped(body, MAX_BODY).await {
        Ok(b) => b,
        Err(RouteError::PayloadTooLarge(cap)) => {
            let msg = format!("Request body larger than {cap} bytes.");
            return Ok(wire::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &msg,
                "invalid_request_error",
                None,
            ));
        }
        Err(e) => return Err(e),
    };
    let llm = &ctx.state.llm;
    if let Some(f) = llm.fail {
        if let Some(resp) = fail_before(&parts, f, llm.slow_headers).await? {
            return Ok(resp);
        }
    }
    if let Err(e) = authorised(&parts, &llm.key) {
        ctx.state.events.record(
            EventKind::LlmRejected,
            &ctx.path,
            0,
            json!({ "status": 401 }),
        );
        return Ok(e.into_response());
    }
    let req_body: Value = if ep == Endpoint::Models {
        Value::Null
    } else {
        match serde_json::from_slice(&raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Ok(wire::error(
                    StatusCode::BAD_REQUEST,
                    "We could not parse the JSON body of your request.",
                    "invalid_request_error",
                    None,
                ))
            }
        }
    };
    let model = req_body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-gpt")
        .to_owned();
    let fail = match header_str(&parts, "x-mock-fail") {
        Some(h) => Some(h.trim().parse::<LlmFail>().map_err(RouteError::bad)?),
        None => model
            .strip_prefix("mock-")
            .and_then(|m| m.parse::<LlmFail>().ok()),
    }
    .or(llm.fail);
    let per_request = fail.filter(|f| Some(*f) != llm.fail);
    if let Some(f) = per_request {
        if let Some(resp) = fail_before(&parts, f, llm.slow_headers).await? {
            return Ok(resp);
        }
    }
    let events = knob(
        &parts,
        &req_body,
        "events",
        u64::from(DEFAULT_LLM_EVENTS),
        MAX_EVENTS,
    )? as u32;
    let delay = Duration::from_millis(knob(
        &parts,
        &req_body,
        "delay_ms",
        DEFAULT_LLM_DELAY_MS,
        MAX_SLEEP_MS,
    )?);
    let stream = req_body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = req_body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    ctx.state.events.record(
        EventKind::LlmRequest,
        &ctx.path,
        raw.len() as u64,
        json!({
            "model": model, "stream": stream, "include_usage": include_usage,
            "events": events, "fail": fail.map(|f| f.to_string()),
        }),
    );
    match ep {
        Endpoint::Models => Ok(models()),
        Endpoint::Embeddings => embeddings(&req_body, &model),
        Endpoint::Chat | Endpoint::Completions => {
            let api = if ep == Endpoint::Chat {
                Api::Chat
            } else {
                Api::Text
            };
            let prompt = match api {
                Api::Chat => req_body.get("messages").map_or(0, words),
                Api::Text => req_body.get("prompt").map_or(0, words),
            };
            let prefix = if api == Api::Chat { "chatcmpl" } else { "cmpl" };
            let meta = Meta {
                api,
                id: format!(
                    "{prefix}-mock{:08}",
                    NEXT_ID.fetch_add(1, Ordering::Relaxed)
                ),
                created: unix_ms() / 1000,
                model,
            };
            let usage = Usage::new(prompt, u64::from(events));
            if !stream {
                return match fail {
                    Some(LlmFail::ResetAfter(_)) => Err(RouteError::ConnectionKilled),
                    Some(LlmFail::ErrorAfter(_)) => Ok(wire::injected_status(500)),
                    _ => Ok(with_type(
                        StatusCode::OK,
                        "application/json",
                        meta.completion(&crate::content::mock_llm_content(events), usage),
                    )),
                };
            }
            let spec = stream::Spec {
                meta,
                events,
                delay,
                include_usage,
                usage,
                fail,
            };
            let track = Track {
                events: ctx.state.events.clone(),
                path: ctx.path.clone(),
                expected: None,
                llm: true,
            };
            Ok(Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(tracked(stream::sse(spec, ctx.ctl.clone()), track))?)
        }
    }
}

fn models() -> Response<ResBody> {
    let ids = [
        "mock-gpt",
        "mock-429",
        "mock-500",
        "mock-503",
        "mock-reset",
        "mock-reset-after-3",
        "mock-error-after-3",
        "mock-slow-headers",
    ];
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 1_735_689_600u64, "owned_by": "sluice" }))
        .collect();
    json(StatusCode::OK, &json!({ "object": "list", "data": data }))
}

/// Deterministic unit-ish vectors from an FNV-1a hash of each input.
fn embeddings(body: &Value, model: &str) -> Result<Response<ResBody>, RouteError> {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_number) => {
            vec![Value::Array(a.clone()).to_string()]
        }
        Some(Value::Array(a)) => a.iter().map(Value::to_string).collect(),
        _ => {
            return Ok(wire::error(
                StatusCode::BAD_REQUEST,
                "'input' is a required property.",
                "invalid_request_error",
                None,
            ))
        }
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(8)
        .clamp(1, MAX_DIMS) as usize;
    let as_base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            let mut rng = SplitMix64::new(seed);
            let v: Vec<f32> = (0..dims)
                .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32)
                .collect();
            let embedding = if as_base64 {
                let raw: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(raw))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|s| s.split_whitespace().count() as u64)
        .sum();
    Ok(json(
        StatusCode::OK,
        &json!({
            "object": "list", "data": data, "model": model,
            "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
        }),
    ))
}
