//! The dispatch counter and the plan endpoints, checked against the real
//! contract: sluice-core's `DispatchSession` drives the counter in-process,
//! and every plan the origin answers must pass `ValidatedPlan::parse`.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_core::stream::dispatch::{Action, DispatchLimits, DispatchSession};
use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
use sluice_origin::events::EventKind;
use std::time::{Duration, Instant};

async fn post_json(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> Resp {
    request(
        Method::POST,
        addr,
        path,
        &[("content-type", "application/json")],
        Bytes::copy_from_slice(body),
    )
    .await
}

/// Runs a whole dispatch stream against the origin; returns the body and
/// the close reason. Waits are skipped (the session's clock is advanced).
async fn drive(addr: std::net::SocketAddr, open_path: &str) -> (Vec<u8>, String) {
    let open = get(addr, open_path).await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(
        open.header("content-type"),
        Some("application/vnd.sluice.dispatch+json")
    );
    let mut now = 0;
    let mut session = DispatchSession::open(&open.body, DispatchLimits::default(), now)
        .expect("the open message is valid");
    let mut out = Vec::new();
    loop {
        match session.next_action(now) {
            Action::SendHead(_) | Action::Finish | Action::Abort => {}
            Action::Write(bytes) => out.extend_from_slice(&bytes),
            Action::Wait { ms } => now += ms,
            Action::Step(call) => {
                let r = post_json(addr, &call.path, &call.body).await;
                session.step_response(now, r.status.as_u16(), &r.body);
            }
            Action::Reject(r) => panic!("rejected: {r:?}"),
            Action::Close(call) => {
                let r = post_json(addr, &call.path, &call.body).await;
                assert_eq!(r.status, StatusCode::NO_CONTENT);
            }
            Action::Done => break,
        }
    }
    let reason = serde_json::to_value(session.close_reason().unwrap()).unwrap();
    (out, reason.as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_drives_a_dispatch_session_to_completion() {
    let s = start().await;
    let (body, reason) = drive(s.addr(), "/dispatch/counter?n=5&per=2&start=1").await;
    let expected: String = std::iter::once("event: start\ndata: counting to 5\n\n".to_owned())
        .chain((0..5).map(|i| format!("event: tick\nid: {i}\ndata: {i}\n\n")))
        .collect();
    assert_eq!(String::from_utf8(body).unwrap(), expected);
    assert_eq!(reason, "completed");
    let events = s.events().snapshot(&Default::default());
    let steps: Vec<&Value> = events
        .iter()
        .filter(|e| e.kind == EventKind::DispatchStep)
        .map(|e| &e.detail)
        .collect();
    assert_eq!(
        steps,
        [
            &json!({"step": 0, "attempt": 0, "n": 0}),
            &json!({"step": 1, "attempt": 0, "n": 2}),
            &json!({"step": 2, "attempt": 0, "n": 4}),
        ]
    );
    let close = wait_event(
        &s,
        EventKind::DispatchClose,
        "/dispatch/counter/close",
        Duration::from_secs(2),
    )
    .await
    .expect("close recorded");
    assert_eq!(close.detail["reason"], "completed");
    assert_eq!(close.detail["steps"], 3);
    assert_eq!(close.detail["state"]["n"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_knobs_idle_error_fail_and_text() {
    let s = start().await;
    // Text output; idle steps in the middle are empty and carried in state.
    let (body, reason) = drive(
        s.addr(),
        "/dispatch/counter?n=4&output=text&idle_at=2&idle_steps=3",
    )
    .await;
    assert_eq!(String::from_utf8(body).unwrap(), "0\n1\n2\n3\n");
    assert_eq!(reason, "completed");
    // The origin's own error ends the stream with reason `error`.
    let (body, reason) = drive(s.addr(), "/dispatch/counter?n=4&error_at=1").await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("event: tick\nid: 0\ndata: 0\n\nevent: error\n"),
        "{text}"
    );
    assert!(text.contains("counter.failed"));
    assert_eq!(reason, "error");
    // fail_at answers 503 to the first attempt only: the retry succeeds.
    let (body, reason) = drive(s.addr(), "/dispatch/counter?n=3&fail_at=1").await;
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 3 * 4);
    assert_eq!(reason, "completed");
    let retried = s
        .events()
        .snapshot(&Default::default())
        .into_iter()
        .any(|e| e.kind == EventKind::DispatchStep && e.detail["attempt"] == 1);
    assert!(retried);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_slow_step_and_bad_input() {
    let s = start().await;
    let open = get(s.addr(), "/dispatch/counter?n=2&slow_at=0&slow_ms=300").await;
    let state: Value = serde_json::from_slice(&open.body).unwrap();
    let t0 = Instant::now();
    let step = json!({"state": state["state"], "step": 0, "attempt": 0, "elapsed_ms": 0});
    let r = post_json(
        s.addr(),
        "/dispatch/counter/step",
        step.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(290));
    for bad in [
        "/dispatch/counter?output=html",
        "/dispatch/counter?n=x",
        "/dispatch/counter?header=nocolon",
    ] {
        assert_eq!(
            get(s.addr(), bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let r = post_json(s.addr(), "/dispatch/counter/step", b"not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post_json(s.addr(), "/dispatch/counter/step", br#"{"state":{"n":1}}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(s.addr(), "/dispatch/counter/step").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_endpoint_answers_valid_upstream_plans() {
    let s = start().await;
    let policy = PlanPolicy::new(["ollama", "openai"]);
    for query in [
        "api=chat&tokens=%5B%22a%22%5D&delay_ms=5&token_event=token&final_data=%5BDONE%5D&final_event=done",
        "api=generate&output=text&fail_after=2",
        "api=openai&backend=openai&events=3&final_data=%5BDONE%5D",
        "api=chat&mapper=passthrough&done=0&header=x-model:llama3.2",
        "api=chat&mapper=sse_field",
    ] {
        let r = get(s.addr(), &format!("/plan/upstream?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{query}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.sluice.upstream-plan+json")
        );
        let plan = ValidatedPlan::parse(&r.body, &policy)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(plan.request().path.starts_with('/'));
    }
    // The planned NDJSON request carries the generator knobs.
    let r = get(
        s.addr(),
        "/plan/upstream?api=chat&tokens=%5B%22a%22%5D&fail=before",
    )
    .await;
    let plan = ValidatedPlan::parse(&r.body, &policy).unwrap();
    assert_eq!(
        plan.request().path,
        "/api/chat?tokens=%5B%22a%22%5D&fail=before"
    );
    // The OpenAI plan authenticates with the mock LLM's key.
    let r = get(s.addr(), "/plan/upstream?api=openai").await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["headers"]["authorization"],
        "Bearer sk-sluice-provider-demo"
    );
    // A backend off the allow-list and a hop-by-hop header are the edge's
    // to refuse: the origin plans them as asked.
    let r = get(
        s.addr(),
        "/plan/upstream?backend=llm&header=connection:close",
    )
    .await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["backend"], "llm");
    assert!(ValidatedPlan::parse(&r.body, &policy).is_err());
    assert_eq!(
        get(s.addr(), "/plan/upstream?api=grpc").await.status,
        StatusCode::BAD_REQUEST
    );
}
