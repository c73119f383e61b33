//! `GET /plan/upstream`: answers an upstream plan
//! (`application/vnd.sluice.upstream-plan+json`) that points the edge at
//! this origin's own generators through a named backend: the Ollama NDJSON
//! endpoints or the OpenAI-style SSE mock LLM.

use super::{allow, with_type, Ctx};
use crate::body::ResBody;
use crate::error::RouteError;
use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

/// The upstream plan content type.
pub const UPSTREAM_PLAN_CT: &str = "application/vnd.sluice.upstream-plan+json";

/// Upstream query knobs passed through to `/api/{chat,generate}`.
const NDJSON_KNOBS: [&str; 5] = ["tokens", "delay_ms", "fail", "fail_after", "bad_record_at"];

fn pairs(ctx: &Ctx, key: &str) -> Result<Map<String, Value>, RouteError> {
    let mut map = Map::new();
    for h in ctx.query.all(key) {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| RouteError::bad(format!("{key}={h:?}: expected Name:Value")))?;
        map.insert(name.trim().to_owned(), json!(value.trim()));
    }
    Ok(map)
}

/// The plan. Query (all optional): `backend` (default `ollama`), `api`
/// (`chat` default, `generate`, `openai`), `output` (`sse` default or
/// `text`), `mapper` (`text_field` default, `sse_field`, `passthrough`),
/// `token_event`, `final_data` / `final_event` (SSE completion event),
/// `content_type`, `header=Name:Value` (response headers, any name),
/// `req_header=Name:Value` (request headers, any name), `done=0` (no done
/// condition), for NDJSON `tokens`, `delay_ms`, `fail`, `fail_after`,
/// `bad_record_at` (passed to the generator), for `openai` `events`,
/// `delay_ms`, `fail` (sent as `x-mock-*` headers).
pub fn upstream(ctx: &Ctx, method: &Method) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET], "GET")?;
    let q = &ctx.query;
    let api = q.get("api").unwrap_or("chat");
    let output = match q.get("output").unwrap_or("sse") {
        o @ ("sse" | "text") => o,
        other => return Err(RouteError::bad(format!("output={other:?}: sse or text"))),
    };
    let mut headers = pairs(ctx, "req_header")?;
    let (path, body, codec, pointers, done) = match api {
        "chat" | "generate" => {
            let mut target = form_urlencoded::Serializer::new(String::new());
            for knob in NDJSON_KNOBS {
                if let Some(v) = q.get(knob) {
                    target.append_pair(knob, v);
                }
            }
            let query = target.finish();
            let path = if query.is_empty() {
                format!("/api/{api}")
            } else {
                format!("/api/{api}?{query}")
            };
            let (body, pointers) = if api == "chat" {
                (
                    json!({"model": "llama3.2", "stream": true,
                           "messages": [{"role": "user", "content": "Why is the sky blue?"}]}),
                    json!(["/message/content", "/response"]),
                )
            } else {
                (
                    json!({"model": "llama3.2", "prompt": "Write a haiku", "stream": true}),
                    json!(["/response"]),
                )
            };
            let done = json!({"kind": "pointer_equals", "pointer": "/done", "value": true});
            (path, body, "ndjson", pointers, done)
        }
        "openai" => {
            headers.insert(
                "authorization".to_owned(),
                json!(format!("Bearer {}", ctx.state.llm.key)),
            );
            for (knob, header) in [
                ("events", "x-mock-events"),
                ("delay_ms", "x-mock-delay-ms"),
                ("fail", "x-mock-fail"),
            ] {
                if let Some(v) = q.get(knob) {
                    headers.insert(header.to_owned(), json!(v));
                }
            }
            let body = json!({"model": "mock-gpt", "stream": true,
                              "messages": [{"role": "user", "content": "hi"}]});
            let done = json!({"kind": "sentinel", "data": "[DONE]"});
            (
                "/v1/chat/completions".to_owned(),
                body,
                "sse",
                json!(["/choices/0/delta/content"]),
                done,
            )
        }
        other => {
            return Err(RouteError::bad(format!(
                "api={other:?}: chat, generate or openai"
            )))
        }
    };
    let mapper = match q.get("mapper").unwrap_or("text_field") {
        kind @ ("text_field" | "sse_field") => json!({"kind": kind, "pointers": pointers}),
        "passthrough" => json!({"kind": "passthrough"}),
        other => return Err(RouteError::bad(format!("mapper={other:?}"))),
    };
    let mut plan = json!({
        "backend": q.get("backend").unwrap_or("ollama"),
        "method": "POST",
        "path": path,
        "headers": headers,
        "body": {"json": body},
        "codec": codec,
        "mapper": mapper,
        "output": output,
        "response_headers": pairs(ctx, "header")?,
    });
    if q.get("done") != Some("0") {
        plan["done"] = done;
    }
    if let Some(ct) = q.get("content_type") {
        plan["content_type"] = json!(ct);
    }
    if output == "sse" {
        let mut sse = Map::new();
        if let Some(ev) = q.get("token_event") {
            sse.insert("token_event".to_owned(), json!(ev));
        }
        if let Some(data) = q.get("final_data") {
            let mut fin = json!({"data": data});
            if let Some(ev) = q.get("final_event") {
                fin["event"] = json!(ev);
            }
            sse.insert("final".to_owned(), fin);
        }
        if !sse.is_empty() {
            plan["sse"] = Value::Object(sse);
        }
    }
    Ok(with_type(
        StatusCode::OK,
        UPSTREAM_PLAN_CT,
        plan.to_string(),
    ))
}
