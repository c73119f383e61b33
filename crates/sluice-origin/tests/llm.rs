//! The mock OpenAI-compatible LLM: auth, streaming, usage, non-streaming
//! shapes, fault injection, cancellation and many concurrent streams.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sluice_origin::content::{mock_llm_content, DEFAULT_LLM_DELAY_MS, DEFAULT_LLM_EVENTS};
use sluice_origin::events::EventKind;
use sluice_origin::{LlmFail, RunningServer};
use std::time::{Duration, Instant};

const KEY: &str = "Bearer sk-sluice-provider-demo";

async fn chat(s: &RunningServer, body: Value, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("authorization", KEY), ("content-type", "application/json")];
    h.extend_from_slice(headers);
    request(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &h,
        body.to_string(),
    )
    .await
}

/// The JSON payloads of an SSE body, `[DONE]` as a string.
fn data_lines(r: &Resp) -> Vec<Value> {
    sse_events(&r.text())
        .iter()
        .map(|e| {
            let d = &e.iter().find(|(k, _)| k == "data").unwrap().1;
            serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.clone()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_and_never_echoes_the_key() {
    let s = start().await;
    let body = json!({"model": "mock-gpt", "messages": []}).to_string();
    for auth in [None, Some("Bearer wrong-key-123"), Some("Basic abc")] {
        let h: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let r = request(
            Method::POST,
            s.addr(),
            "/v1/chat/completions",
            &h,
            body.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        let v = r.json();
        for k in ["message", "type", "param", "code"] {
            assert!(v["error"].get(k).is_some(), "error.{k}");
        }
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(!r.text().contains("wrong-key-123"));
        assert_eq!(r.header("x-mock-backend"), Some("sluice-origin"));
    }
    assert!(wait_event(
        &s,
        EventKind::LlmRejected,
        "/v1/chat/completions",
        Duration::from_secs(1)
    )
    .await
    .is_some());
    let r = request(
        Method::GET,
        s.addr(),
        "/v1/models",
        &[("authorization", KEY)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "mock-gpt"));
    let r = start_with(|c| c.with_llm_key("other")).await;
    let resp = request(
        Method::GET,
        r.addr(),
        "/v1/models",
        &[("authorization", KEY)],
        "",
    )
    .await;
    assert_eq!(
        resp.status,
        StatusCode::UNAUTHORIZED,
        "--llm-key is the only key accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_delay_events_are_spaced_by_the_50_ms_default() {
    assert_eq!(DEFAULT_LLM_DELAY_MS, 50);
    let s = start().await;
    let body = json!({"model": "gpt-x", "stream": true, "mock_events": 6,
        "messages": [{"role": "user", "content": "hi"}]});
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        body.to_string(),
    );
    let resp = send_req(s.addr(), req).await.unwrap();
    let (frames, err) = read_timed(resp).await;
    assert!(err.is_none());
    assert_eq!(frames.len(), 6 + 1, "six events, then [DONE]");
    let gaps: Vec<Duration> = frames[..6].windows(2).map(|w| w[1].0 - w[0].0).collect();
    for gap in &gaps {
        // A timer may fire late on a loaded machine, never early.
        assert!(*gap >= Duration::from_millis(45), "gap {gap:?} in {gaps:?}");
    }
    let total: Duration = gaps.iter().sum();
    assert!(
        total < Duration::from_millis(5 * 50 * 3),
        "five gaps of about 50 ms, not seconds: {gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chat_has_n_spaced_events_usage_and_done() {
    let s = start().await;
    let body = json!({"model": "gpt-x", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "three word prompt"}], "mock_delay_ms": 40});
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        body.to_string(),
    );
    let resp = send_req(s.addr(), req).await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let (frames, err) = read_timed(resp).await;
    assert!(err.is_none());
    let n = DEFAULT_LLM_EVENTS as usize;
    assert_eq!(
        frames.len(),
        n + 2,
        "one write per event, then usage and [DONE]"
    );
    // Spaced by the delay, not all at once.
    for w in frames[..n].windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= Duration::from_millis(30) && gap < Duration::from_millis(200),
            "gap {gap:?}"
        );
    }
    let text: String = frames
        .iter()
        .map(|(_, b)| std::str::from_utf8(b).unwrap())
        .collect();
    let r = Resp {
        status: StatusCode::OK,
        headers: Default::default(),
        body: text.into_bytes(),
        error: None,
    };
    let data = data_lines(&r);
    let mut content = String::new();
    for (i, d) in data[..n].iter().enumerate() {
        assert_eq!(d["object"], "chat.completion.chunk");
        assert_eq!(d["model"], "gpt-x");
        assert_eq!(d["id"], data[0]["id"]);
        assert_eq!(d["usage"], Value::Null);
        let delta = &d["choices"][0]["delta"];
        assert_eq!(
            delta.get("role").is_some(),
            i == 0,
            "role only in the first delta"
        );
        let finish = &d["choices"][0]["finish_reason"];
        assert_eq!(*finish == "stop", i == n - 1);
        content.push_str(delta["content"].as_str().unwrap());
    }
    assert_eq!(content, mock_llm_content(DEFAULT_LLM_EVENTS));
    assert_eq!(content, "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11 tok12 tok13 tok14 tok15 tok16 tok17");
    assert_eq!(data[n]["choices"], json!([]));
    assert_eq!(
        data[n]["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 18, "total_tokens": 21})
    );
    assert_eq!(data[n + 1], "[DONE]");
    let ev = wait_event(
        &s,
        EventKind::LlmRequest,
        "/v1/chat/completions",
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(ev.detail["include_usage"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_only_when_asked_and_header_overrides() {
    let s = start().await;
    let r = chat(
        &s,
        json!({"model": "m", "stream": true, "mock_events": 50}),
        &[("x-mock-events", "4"), ("x-mock-delay-ms", "1")],
    )
    .await;
    let data = data_lines(&r);
    assert_eq!(data.len(), 5, "4 events and [DONE], no usage chunk");
    assert!(data.iter().all(|d| d.get("usage").is_none()));
    assert_eq!(data[4], "[DONE]");
    let r = chat(
        &s,
        json!({"model": "m", "stream": true, "mock_events": 2, "mock_delay_ms": 1}),
        &[],
    )
    .await;
    assert_eq!(data_lines(&r).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_completions_and_embeddings() {
    let s = start().await;
    let r = chat(
        &s,
        json!({"model": "m", "messages": [{"role": "user", "content": "a b"}], "mock_events": 3}),
        &[],
    )
    .await;
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "tok0 tok1 tok2");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 5);

    let h = [("authorization", KEY)];
    let r = request(
        Method::POST,
        s.addr(),
        "/v1/completions",
        &h,
        json!({"model": "m", "prompt": "x", "stream": true, "mock_events": 3, "mock_delay_ms": 1})
            .to_string(),
    )
    .await;
    let data = data_lines(&r);
    let text: String = data[..3]
        .iter()
        .map(|d| d["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "tok0 tok1 tok2");
    assert_eq!(data[0]["object"], "text_completion");
    assert_eq!(data[3], "[DONE]");

    let r = request(
        Method::POST,
        s.addr(),
        "/v1/embeddings",
        &h,
        json!({"model": "e", "input": ["a", "b"], "dimensions": 4}).to_string(),
    )
    .await;
    let v = r.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let e0: Vec<f32> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(e0.len(), 4);
    let r2 = request(
        Method::POST,
        s.addr(),
        "/v1/embeddings",
        &h,
        json!({"model": "e", "input": "a", "dimensions": 4, "encoding_format": "base64"})
            .to_string(),
    )
    .await;
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(r2.json()["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let e0b: Vec<f32> = raw
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(e0, e0b, "same input, same vector, either encoding");

    let r = request(Method::POST, s.addr(), "/v1/chat/completions", &h, "{oops").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(
        request(Method::GET, s.addr(), "/v1/chat/completions", &h, "")
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        request(Method::POST, s.addr(), "/v1/nope", &h, "{}")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_fault_injection() {
    let s = start().await;
    let stream = |model: &str| json!({"model": model, "stream": true, "mock_delay_ms": 1});
    for (model, code) in [("mock-429", 429u16), ("mock-500", 500), ("mock-503", 503)] {
        let r = chat(&s, stream(model), &[]).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.json()["error"]["message"].is_string());
        assert_eq!(r.header("retry-after").is_some(), code == 429);
    }
    let r = chat(&s, stream("mock-gpt"), &[("x-mock-fail", "503")]).await;
    assert_eq!(r.status.as_u16(), 503, "header wins over the model");

    // Reset before any byte: no response at all.
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        stream("mock-reset").to_string(),
    );
    assert!(
        send_req(s.addr(), req).await.is_err(),
        "connection killed before headers"
    );

    let r = chat(&s, stream("mock-reset-after-3"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.error.is_some(), "killed mid-stream");
    assert_eq!(data_lines(&r).len(), 3);

    let r = chat(&s, stream("mock-error-after-3"), &[]).await;
    assert!(r.error.is_none(), "in-stream error ends cleanly");
    let data = data_lines(&r);
    assert_eq!(data.len(), 4);
    assert_eq!(data[3]["error"]["code"], "mock_error");
    assert!(!r.text().contains("[DONE]"));

    let t0 = Instant::now();
    let r = chat(
        &s,
        stream("m"),
        &[
            ("x-mock-fail", "slow-headers"),
            ("x-mock-headers-delay-ms", "300"),
        ],
    )
    .await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        chat(&s, stream("m"), &[("x-mock-fail", "bogus")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_wide_failure_and_backend_name() {
    let s = start_with(|c| {
        c.with_llm_fail(Some(LlmFail::Status(429)))
            .with_name("primary")
    })
    .await;
    let r = chat(&s, json!({"model": "m", "stream": true}), &[]).await;
    assert_eq!(r.status.as_u16(), 429);
    assert_eq!(r.header("x-mock-backend"), Some("primary"));
    // Non-LLM routes of a failing LLM process still work.
    assert_eq!(get(s.addr(), "/healthz").await.status, StatusCode::OK);
    let s = start_with(|c| c.with_llm_fail(Some(LlmFail::Reset))).await;
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        "{}",
    );
    assert!(send_req(s.addr(), req).await.is_err());
    let s = start_with(|c| c.with_llm_fail(Some(LlmFail::ConnectHang))).await;
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        "{}",
    );
    let hung = tokio::time::timeout(Duration::from_millis(500), send_req(s.addr(), req)).await;
    assert!(hung.is_err(), "connect-hang never answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_recorded_as_llm_cancelled() {
    let s = start().await;
    let body = json!({"model": "m", "stream": true, "mock_events": 100, "mock_delay_ms": 50});
    let req = build(
        Method::POST,
        s.addr(),
        "/v1/chat/completions",
        &[("authorization", KEY)],
        body.to_string(),
    );
    let mut b = send_req(s.addr(), req).await.unwrap().into_body();
    for _ in 0..3 {
        b.frame().await.unwrap().unwrap();
    }
    let gone = Instant::now();
    drop(b);
    let ev = wait_event(
        &s,
        EventKind::LlmCancelled,
        "/v1/chat/completions",
        Duration::from_secs(1),
    )
    .await
    .expect("llm_cancelled within 1 s");
    assert!(gone.elapsed() < Duration::from_secs(1));
    let sent = ev.detail["events_sent"].as_u64().unwrap();
    assert!((3..=5).contains(&sent), "events_sent {sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_all_finish() {
    let s = start().await;
    let addr = s.addr();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            tokio::spawn(async move {
                let body =
                    json!({"model": "m", "stream": true, "mock_events": 5, "mock_delay_ms": 20});
                let req = build(
                    Method::POST,
                    addr,
                    "/v1/chat/completions",
                    &[("authorization", KEY)],
                    body.to_string(),
                );
                let r = read_all(send_req(addr, req).await.expect("head")).await;
                r.status == StatusCode::OK
                    && r.error.is_none()
                    && r.text().ends_with("data: [DONE]\n\n")
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1000);
}
