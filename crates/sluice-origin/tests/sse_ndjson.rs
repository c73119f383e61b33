//! Hosted streams: `/sse` and the Ollama-style NDJSON endpoints.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_origin::events::EventKind;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_are_flushed_one_by_one_with_their_send_time() {
    let s = start().await;
    let t0 = Instant::now();
    let resp = send_req(
        s.addr(),
        build(
            Method::GET,
            s.addr(),
            "/sse?n=5&interval_ms=150&event=tick&retry=1500",
            &[],
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let (frames, err) = read_timed(resp).await;
    assert!(err.is_none());
    assert_eq!(frames.len(), 5, "one write per event");
    let mut prev_sent = 0u64;
    for (i, (arrived, data)) in frames.iter().enumerate() {
        let text = std::str::from_utf8(data).unwrap();
        let ev = &sse_events(text)[0];
        if i == 0 {
            assert_eq!(ev[0], ("retry".into(), "1500".into()));
        }
        assert!(ev.contains(&("event".into(), "tick".into())));
        assert!(ev.contains(&("id".into(), i.to_string())));
        let data: Value =
            serde_json::from_str(&ev.iter().find(|(k, _)| k == "data").unwrap().1).unwrap();
        assert_eq!(data["i"], i);
        let sent = data["sent_at_ms"].as_u64().unwrap();
        // Same clock: the event reached us within 50 ms of being written.
        let now_ms = sluice_origin::events::unix_ms() - arrived.elapsed().as_millis() as u64;
        assert!(
            now_ms + 5 >= sent && now_ms <= sent + 50,
            "event {i}: sent {sent} arrived {now_ms}"
        );
        if i > 0 {
            assert!(
                sent >= prev_sent + 130,
                "interval honoured: {} ms",
                sent - prev_sent
            );
        }
        prev_sent = sent;
    }
    assert!(frames[4].0 - t0 >= Duration::from_millis(4 * 140));
    let ev = wait_event(
        &s,
        EventKind::DownloadComplete,
        "/sse",
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(ev.detail["frames"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_fail_after_and_resume_with_last_event_id() {
    let s = start().await;
    let r = get(s.addr(), "/sse?n=10&interval_ms=1&fail_after=3").await;
    assert!(r.error.is_some(), "connection killed mid-stream");
    assert_eq!(sse_events(&r.text()).len(), 3);
    let r = get_h(
        s.addr(),
        "/sse?n=6&interval_ms=1",
        &[("last-event-id", "3")],
    )
    .await;
    let ids: Vec<String> = sse_events(&r.text())
        .iter()
        .map(|e| e[0].1.clone())
        .collect();
    assert_eq!(ids, ["4", "5"]);
}

async fn ndjson(s: &sluice_origin::RunningServer, path: &str, body: Value) -> Resp {
    request(
        Method::POST,
        s.addr(),
        path,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

fn lines(r: &Resp) -> Vec<Value> {
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_chat_and_generate_records() {
    let s = start().await;
    let r = ndjson(&s, "/api/chat?delay_ms=1", json!({"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue"}]})).await;
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let recs = lines(&r);
    assert_eq!(recs.len(), 11);
    let mut content = String::new();
    for rec in &recs[..10] {
        assert_eq!(rec["model"], "llama3.2");
        assert_eq!(rec["done"], false);
        assert_eq!(rec["message"]["role"], "assistant");
        assert!(rec["created_at"].as_str().unwrap().ends_with('Z'));
        content.push_str(rec["message"]["content"].as_str().unwrap());
    }
    assert_eq!(content, "The quick brown fox jumps over the lazy dog.");
    let last = &recs[10];
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["eval_count"], 10);
    assert_eq!(last["prompt_eval_count"], 5);
    assert!(last["total_duration"].as_u64().unwrap() > 0);
    // Key order is Ollama's, not alphabetical.
    assert!(r
        .text()
        .starts_with("{\"model\":\"llama3.2\",\"created_at\":"));

    let r = ndjson(
        &s,
        "/api/generate?delay_ms=1",
        json!({"model": "m", "prompt": "hi"}),
    )
    .await;
    let recs = lines(&r);
    let text: String = recs
        .iter()
        .map(|r| r["response"].as_str().unwrap())
        .collect();
    assert_eq!(text, "The quick brown fox jumps over the lazy dog.");
    assert_eq!(recs.last().unwrap()["context"], json!([1, 2, 3]));

    let r = ndjson(
        &s,
        "/api/generate",
        json!({"model": "m", "prompt": "hi", "stream": false}),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json()["response"],
        "The quick brown fox jumps over the lazy dog."
    );
    assert_eq!(r.json()["done"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_tokens_delay_and_fault_injection() {
    let s = start().await;
    let tokens = json!(["a\nb", "", "é🦀", "\"q\"", " end"]);
    let r = ndjson(
        &s,
        "/api/chat",
        json!({"model": "m", "messages": [], "mock_tokens": tokens, "mock_delay_ms": 1}),
    )
    .await;
    let recs = lines(&r);
    let got: Vec<&str> = recs[..5]
        .iter()
        .map(|r| r["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["a\nb", "", "é🦀", "\"q\"", " end"]);
    // Query tokens win over the body; the per-token delay is honoured.
    let q = "%5B%22x%22%2C%22y%22%2C%22z%22%5D";
    let t0 = Instant::now();
    let r = ndjson(
        &s,
        &format!("/api/generate?tokens={q}&delay_ms=100"),
        json!({"model": "m", "mock_tokens": ["no"]}),
    )
    .await;
    let elapsed = t0.elapsed();
    let text: String = lines(&r)
        .iter()
        .map(|r| r["response"].as_str().unwrap())
        .collect();
    assert_eq!(text, "xyz");
    assert!(
        elapsed >= Duration::from_millis(300),
        "3 delays before the last records: {elapsed:?}"
    );

    let r = ndjson(&s, "/api/chat?fail=before", json!({"model": "m"})).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.json()["error"].is_string());

    let r = ndjson(
        &s,
        "/api/chat?fail_after=4&delay_ms=1",
        json!({"model": "m"}),
    )
    .await;
    assert!(r.error.is_some(), "killed after 4 records");
    assert_eq!(r.text().lines().count(), 4);

    let r = ndjson(
        &s,
        "/api/chat?bad_record_at=2&delay_ms=1",
        json!({"model": "m"}),
    )
    .await;
    let text = r.text();
    let ls: Vec<&str> = text.lines().collect();
    assert_eq!(ls.len(), 12);
    assert!(
        serde_json::from_str::<Value>(ls[2]).is_err(),
        "line 2 is not JSON: {}",
        ls[2]
    );
    assert!(ls
        .iter()
        .enumerate()
        .all(|(i, l)| i == 2 || serde_json::from_str::<Value>(l).is_ok()));

    assert_eq!(
        ndjson(&s, "/api/chat", json!({"messages": []}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = request(Method::POST, s.addr(), "/api/chat", &[], "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        ndjson(&s, "/api/chat?tokens=nope", json!({"model": "m"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
