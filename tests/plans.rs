//! Issue 6: origin-planned streams (hosted, dispatch, upstream plan), end to
//! end under Viceroy against sluice-origin's generators, counter and plan
//! endpoints.
//!
//! The tests run one at a time (a shared lock): the hosted timing test
//! measures 20 ms margins and must not compete with other Viceroy stacks of
//! this binary for the machine's cores.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_e2e::http::{get, request, Resp, Timed};
use sluice_e2e::{workspace, Backend, Edge, EdgeConfig, Origin, Stack};
use sluice_origin::events::unix_ms;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The default test config plus the upstream-plan backends `ollama` and
/// `openai` (both this origin) on the allow-list, and `extra` keys.
fn plans_config(c: EdgeConfig, origin: &Origin, extra: &[(&str, &str)]) -> EdgeConfig {
    let url = format!("http://{}", origin.addr);
    let mut c = c
        .backend(Backend::new("ollama", &url, Some("ollama.example")))
        .backend(Backend::new("openai", &url, Some("openai.example")))
        .set("plans.upstream_backends", "ollama,openai");
    for (k, v) in extra {
        c = c.set(k, v);
    }
    c
}

fn stack(extra: &[(&str, &str)]) -> Stack {
    let origin = Origin::start(&[]);
    let edge = Edge::start(&plans_config(
        EdgeConfig::for_origin(&origin),
        &origin,
        extra,
    ));
    Stack { edge, origin }
}

/// One parsed SSE event: `(event, id, data)` (data lines joined by `\n`).
type Ev = (Option<String>, Option<String>, String);

/// A strict parser for the edge's own framing (`field: value` lines, blank
/// line ends an event, comments skipped).
fn events(body: &str) -> Vec<Ev> {
    let mut out = Vec::new();
    let (mut event, mut id, mut data) = (None, None, Vec::<String>::new());
    let mut any = false;
    for line in body.split('\n') {
        if line.is_empty() {
            if any {
                out.push((event.take(), id.take(), data.join("\n")));
                data.clear();
                any = false;
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        any = true;
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            _ => {}
        }
    }
    out
}

fn error_of(ev: &Ev) -> Value {
    assert_eq!(ev.0.as_deref(), Some("error"), "{ev:?}");
    serde_json::from_str(&ev.2).expect("error event data is JSON")
}

fn tick_body(range: std::ops::Range<u64>) -> String {
    range
        .map(|i| format!("event: tick\nid: {i}\ndata: {i}\n\n"))
        .collect()
}

/// Waits for the origin's `dispatch_close` event.
fn wait_close(origin: &Origin, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let closes: Vec<Value> = origin
            .events()
            .into_iter()
            .filter(|e| e["kind"] == "dispatch_close")
            .collect();
        if let Some(c) = closes.first() {
            assert_eq!(closes.len(), 1, "exactly one close call: {closes:?}");
            return c["detail"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no dispatch_close within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn q(s: &str) -> String {
    form_encode(s)
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------- hosted

#[test]
fn hosted_sse_events_reach_the_client_within_20ms_of_their_origin_send_time() {
    let _g = serial();
    let s = stack(&[]);
    let n = 8;
    let mut resp = Timed::get(&s.edge.url(&format!("/sse?n={n}&interval_ms=200")), &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let mut pending = String::new();
    let mut seen = Vec::new();
    let mut worst = 0i64;
    loop {
        let (bytes, _) = resp.read_some().expect("read");
        let arrived_ms = unix_ms() as i64;
        if bytes.is_empty() {
            break;
        }
        pending.push_str(std::str::from_utf8(&bytes).unwrap());
        while let Some(end) = pending.find("\n\n") {
            let frame: String = pending.drain(..end + 2).collect();
            let ev = &events(&frame)[0];
            let data: Value = serde_json::from_str(&ev.2).unwrap();
            let sent = data["sent_at_ms"].as_i64().unwrap();
            let lag = arrived_ms - sent;
            worst = worst.max(lag);
            assert!(
                (-5..=20).contains(&lag),
                "event {} arrived {lag} ms after the origin sent it",
                data["i"]
            );
            seen.push(data["i"].as_u64().unwrap());
        }
    }
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    eprintln!("hosted SSE: worst lag {worst} ms over {n} events at 200 ms");
    let rec = s.edge.wait_access_records(1, Duration::from_secs(5));
    assert_eq!(rec[0]["mode"], "hosted");
    assert_eq!(rec[0]["plan"]["outcome"], "completed");
}

#[test]
fn hosted_ndjson_is_relayed_byte_for_byte() {
    let _g = serial();
    let s = stack(&[]);
    let body = br#"{"model":"m","prompt":"hi","mock_tokens":["a","b\nc",""],"mock_delay_ms":5}"#;
    let direct = request("POST", &s.origin.url("/api/generate"), &[], Some(body));
    let via = request("POST", &s.edge.url("/api/generate"), &[], Some(body));
    assert_eq!(via.status, 200);
    assert_eq!(via.header("content-type"), Some("application/x-ndjson"));
    assert!(via.body_error.is_none());
    // Same records except the timestamps and durations.
    let strip = |r: &Resp| -> Vec<Value> {
        r.text()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                let o = v.as_object_mut().unwrap();
                o.retain(|k, _| !k.contains("created_at") && !k.ends_with("duration"));
                v
            })
            .collect()
    };
    assert_eq!(strip(&via), strip(&direct));
    assert_eq!(strip(&via).len(), 4);
}

#[test]
fn hosted_client_disconnect_closes_the_origin_stream_promptly() {
    let _g = serial();
    let s = stack(&[]);
    let mut resp = Timed::get(&s.edge.url("/sse?forever=1&interval_ms=100"), &[]);
    let mut got = Vec::new();
    while got.windows(2).filter(|w| w == b"\n\n").count() < 2 {
        got.extend(resp.read_some().expect("read").0);
    }
    let left = unix_ms();
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(5);
    let aborted = loop {
        let ev: Vec<Value> = s
            .origin
            .events()
            .into_iter()
            .filter(|e| e["kind"] == "download_aborted" && e["path"] == "/sse")
            .collect();
        if let Some(e) = ev.first() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "origin stream still open");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(aborted["detail"]["reason"], "client_gone");
    let after = aborted["at_ms"].as_u64().unwrap().saturating_sub(left);
    eprintln!("hosted: origin saw the disconnect {after} ms after the client left");
    assert!(
        after < 1500,
        "origin closed {after} ms after the client left"
    );
}

#[test]
fn hosted_between_bytes_timeout_is_the_origin_backends_setting() {
    let _g = serial();
    let origin = Origin::start(&[]);
    let cfg = plans_config(EdgeConfig::for_origin(&origin), &origin, &[]).backend_timeout(
        "origin",
        "between_bytes_timeout_ms",
        500,
    );
    let edge = Edge::start(&cfg);
    // A 250 ms gap fits a 500 ms between-bytes timeout.
    let ok = get(&edge.url("/sse?n=3&interval_ms=250"), &[]);
    assert!(ok.body_error.is_none(), "{:?}", ok.body_error);
    assert_eq!(events(&ok.text()).len(), 3);
    // A 1.5 s gap does not: the first event, then an aborted stream.
    let cut = get(&edge.url("/sse?n=3&interval_ms=1500"), &[]);
    assert_eq!(cut.status, 200);
    assert_eq!(events(&cut.text()).len(), 1, "{}", cut.text());
    assert!(cut.body_error.is_some(), "aborted, never a clean end");
}

// -------------------------------------------------------------- dispatch

#[test]
fn dispatch_idle_sse_stream_gets_keepalive_comments() {
    let _g = serial();
    let s = stack(&[("dispatch.keepalive_interval_ms", "300")]);
    // Tick 0, then 6 empty steps (about 3.1 s of idle backoff), then tick 1.
    let resp = get(
        &s.edge.url("/dispatch/counter?n=2&idle_at=1&idle_steps=6"),
        &[],
    );
    assert!(resp.body_error.is_none());
    let text = resp.text();
    let keepalives = text.matches(": keep-alive\n\n").count();
    assert!(
        (5..=12).contains(&keepalives),
        "{keepalives} keep-alives: {text}"
    );
    assert_eq!(text.replace(": keep-alive\n\n", ""), tick_body(0..2));
    let tick1 = text.find("id: 1").unwrap();
    assert!(
        text[..tick1].contains(": keep-alive"),
        "keep-alives while idle"
    );
}

#[test]
fn dispatch_1000_events_arrive_complete_and_in_order() {
    let _g = serial();
    let s = stack(&[]);
    let t0 = Instant::now();
    let resp = get(&s.edge.url("/dispatch/counter?n=1000"), &[]);
    let took = t0.elapsed();
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none(), "{:?}", resp.body_error);
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(resp.header("cache-control"), Some("no-cache"));
    assert_eq!(resp.text(), tick_body(0..1000));
    let close = wait_close(&s.origin, Duration::from_secs(10));
    assert_eq!(close["reason"], "completed");
    assert_eq!(close["steps"], 1000);
    assert_eq!(close["chunks_sent"], 1000);
    assert_eq!(close["bytes_sent"], resp.body.len());
    assert_eq!(close["state"]["n"], 1000);
    let steps = s
        .origin
        .events()
        .iter()
        .filter(|e| e["kind"] == "dispatch_step")
        .count();
    assert_eq!(steps, 1000);
    eprintln!(
        "dispatch: 1000 steps / 1000 events in {} ms ({:.2} ms per step)",
        took.as_millis(),
        took.as_secs_f64() * 1000.0 / 1000.0
    );
    let rec = s.edge.wait_access_records(1, Duration::from_secs(5));
    assert_eq!(rec[0]["mode"], "dispatch");
    assert_eq!(rec[0]["plan"]["close_reason"], "completed");
}

#[test]
fn dispatch_text_output_honours_status_and_headers() {
    let _g = serial();
    let s = stack(&[]);
    let resp = get(
        &s.edge
            .url("/dispatch/counter?n=5&per=2&output=text&status=201&header=x-job:42&start=1"),
        &[],
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("x-job"), Some("42"));
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        resp.header("x-mock-backend").is_none(),
        "origin head not forwarded"
    );
    assert_eq!(resp.text(), "counting to 5\n0\n1\n2\n3\n4\n");
    assert_eq!(wait_close(&s.origin, Duration::from_secs(5))["steps"], 3);
}

#[test]
fn dispatch_survives_an_origin_restart_during_idle_backoff() {
    let _g = serial();
    let mut origin = Origin::start(&[]);
    let addr = origin.addr.to_string();
    let edge = Edge::start(&plans_config(EdgeConfig::for_origin(&origin), &origin, &[]));
    // 10 events, then 6 empty steps (backoff 50, 100, ... 1600 ms), then 10 more.
    let mut resp = Timed::get(
        &edge.url("/dispatch/counter?n=20&idle_at=10&idle_steps=6"),
        &[],
    );
    assert_eq!(resp.status, 200);
    let mut body = Vec::new();
    while events(&String::from_utf8_lossy(&body)).len() < 10 {
        body.extend(resp.read_some().expect("read").0);
    }
    // Wait until the edge is in its idle backoff, then kill the origin.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !origin
        .events()
        .iter()
        .any(|e| e["kind"] == "dispatch_step" && e["detail"]["n"] == 10)
    {
        assert!(Instant::now() < deadline, "no idle step");
        std::thread::sleep(Duration::from_millis(10));
    }
    origin.proc.stop();
    std::thread::sleep(Duration::from_millis(400));
    let origin = Origin::start_on(&addr, &[]);
    loop {
        let (bytes, _) = resp.read_some().expect("stream survives the restart");
        if bytes.is_empty() {
            break;
        }
        body.extend(bytes);
    }
    assert_eq!(String::from_utf8(body).unwrap(), tick_body(0..20));
    let close = wait_close(&origin, Duration::from_secs(10));
    assert_eq!(close["reason"], "completed");
    assert_eq!(close["steps"], 20 + 6);
    let rec = edge.wait_access_records(1, Duration::from_secs(5));
    eprintln!("dispatch restart: {}", rec[0]["plan"]);
}

#[test]
fn dispatch_client_disconnect_sends_a_client_disconnect_close() {
    let _g = serial();
    let s = stack(&[]);
    let mut resp = Timed::get(&s.edge.url("/dispatch/counter?n=100000&pace_ms=50"), &[]);
    let mut body = Vec::new();
    while events(&String::from_utf8_lossy(&body)).len() < 3 {
        body.extend(resp.read_some().expect("read").0);
    }
    drop(resp);
    let close = wait_close(&s.origin, Duration::from_secs(10));
    assert_eq!(close["reason"], "client_disconnect");
    assert!(close.get("error").is_none_or(Value::is_null), "{close}");
    let n = close["state"]["n"].as_u64().unwrap();
    assert!((3..1000).contains(&n), "stopped promptly: {n}");
}

/// Every dispatch limit, each exceeded by its own stream on one edge.
#[test]
fn dispatch_limits_end_the_stream_with_the_documented_error() {
    let _g = serial();
    let s = stack(&[
        ("dispatch.max_steps", "50"),
        ("dispatch.step_timeout_ms", "500"),
        ("dispatch.max_duration_ms", "3000"),
        ("dispatch.max_state_bytes", "2000"),
        ("dispatch.max_message_bytes", "8192"),
    ]);
    let cases: [(&str, &str, usize); 5] = [
        ("n=100", "limit_steps", 50),
        ("n=10&slow_at=3&slow_ms=2000", "limit_step_timeout", 3),
        ("n=100&pace_ms=400", "limit_duration", 0),
        ("n=20&pad=300", "limit_state_size", 6),
        ("n=10&big_at=2&big_bytes=10000", "limit_response_size", 2),
    ];
    for (query, class, ticks) in cases {
        let _ = request("DELETE", &s.origin.url("/__events"), &[], None);
        let resp = get(&s.edge.url(&format!("/dispatch/counter?{query}")), &[]);
        assert_eq!(resp.status, 200, "{query}");
        assert!(resp.body_error.is_none(), "SSE ends cleanly: {query}");
        let evs = events(&resp.text());
        let (last, ticks_seen) = evs.split_last().unwrap();
        let err = error_of(last);
        assert_eq!(err["class"], class, "{query}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
        let ids: Vec<String> = ticks_seen.iter().map(|e| e.2.clone()).collect();
        let expect: Vec<String> = (0..ids.len()).map(|i| i.to_string()).collect();
        assert_eq!(ids, expect, "{query}: ticks in order");
        if class == "limit_duration" {
            assert!((5..=9).contains(&ids.len()), "{query}: {} ticks", ids.len());
        } else {
            assert_eq!(ids.len(), ticks, "{query}");
        }
        let close = wait_close(&s.origin, Duration::from_secs(5));
        assert_eq!(close["reason"], "limit", "{query}");
        assert_eq!(close["error"]["class"], class, "{query}");
    }
}

#[test]
fn dispatch_errors_before_and_after_the_first_byte() {
    let _g = serial();
    let s = stack(&[("dispatch.max_message_bytes", "8192")]);
    // The origin's own error class, after the first byte: SSE error event.
    let resp = get(&s.edge.url("/dispatch/counter?n=10&error_at=2"), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none());
    let evs = events(&resp.text());
    assert_eq!(evs.len(), 3);
    assert_eq!(error_of(&evs[2])["class"], "counter.failed");
    assert_eq!(
        wait_close(&s.origin, Duration::from_secs(5))["reason"],
        "error"
    );

    // Before the first byte: 502 with the class.
    let _ = request("DELETE", &s.origin.url("/__events"), &[], None);
    let resp = get(&s.edge.url("/dispatch/counter?n=10&error_at=0"), &[]);
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("x-sluice-error-class"), Some("counter.failed"));
    assert_eq!(
        wait_close(&s.origin, Duration::from_secs(5))["reason"],
        "error"
    );

    // Text output after the first byte: aborted, never a clean end.
    let resp = get(
        &s.edge
            .url("/dispatch/counter?n=10&output=text&big_at=2&big_bytes=10000"),
        &[],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "0\n1\n");
    assert!(resp.body_error.is_some(), "text stream must be aborted");

    // A plan header naming a hop-by-hop header: rejected, 502.
    let resp = get(
        &s.edge.url("/dispatch/counter?n=3&header=connection:close"),
        &[],
    );
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("x-sluice-error-class"), Some("plan_invalid"));
    assert!(resp.header("connection").is_none_or(|v| v != "close"));
}

// --------------------------------------------------------- upstream plan

const TOKENS: &str = r#"["Hel","lo\nwor","ld","","ü🙂 ","\r\n","!"]"#;

fn plan_url(query: &str) -> String {
    format!("/plan/upstream?tokens={}&delay_ms=5&{query}", q(TOKENS))
}

#[test]
fn upstream_plan_ndjson_to_sse_and_text_is_byte_exact() {
    let _g = serial();
    let s = stack(&[]);
    let resp = get(
        &s.edge.url(&plan_url(
            "api=chat&output=sse&token_event=token&final_data=%5BDONE%5D&final_event=done&header=x-model:llama3.2",
        )),
        &[],
    );
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none());
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(resp.header("x-model"), Some("llama3.2"));
    assert!(
        resp.header("x-mock-backend").is_none(),
        "plan head not forwarded"
    );
    let expected = "event: token\ndata: Hel\n\n\
                    event: token\ndata: lo\ndata: wor\n\n\
                    event: token\ndata: ld\n\n\
                    event: token\ndata: ü🙂 \n\n\
                    event: token\ndata:\ndata:\n\n\
                    event: token\ndata: !\n\n\
                    event: done\ndata: [DONE]\n\n";
    assert_eq!(resp.text(), expected);

    let resp = get(&s.edge.url(&plan_url("api=generate&output=text")), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none());
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(resp.text(), "Hello\nworldü🙂 \r\n!");

    // OpenAI-style SSE upstream, sentinel done, default event type.
    let resp = get(
        &s.edge
            .url("/plan/upstream?api=openai&events=4&delay_ms=5&final_data=%5BDONE%5D"),
        &[],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.text(),
        "data: tok0\n\ndata:  tok1\n\ndata:  tok2\n\ndata:  tok3\n\ndata: [DONE]\n\n"
    );
    let recs = s.edge.wait_access_records(3, Duration::from_secs(5));
    assert!(recs.iter().all(|r| r["mode"] == "upstream_plan"));
    assert_eq!(recs[0]["plan"]["tokens"], 6);
}

#[test]
fn upstream_plan_errors_before_and_after_the_first_token() {
    let _g = serial();
    let s = stack(&[]);
    // Before: the upstream answers 500.
    let resp = get(&s.edge.url(&plan_url("api=chat&fail=before")), &[]);
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("x-sluice-error-class"), Some("upstream_status"));

    // After, SSE: the tokens so far, one error event, a clean end.
    let resp = get(&s.edge.url(&plan_url("api=chat&fail_after=2")), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none(), "SSE ends cleanly");
    let evs = events(&resp.text());
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert_eq!(evs[0].2, "Hel");
    assert_eq!(evs[1].2, "lo\nwor");
    let class = error_of(&evs[2])["class"].clone();
    assert!(
        class == "upstream_read" || class == "upstream_truncated",
        "{class}"
    );

    // After, a record that is not JSON: an error event, never a panic.
    let resp = get(&s.edge.url(&plan_url("api=chat&bad_record_at=1")), &[]);
    let evs = events(&resp.text());
    assert_eq!(evs.len(), 2);
    assert_eq!(error_of(&evs[1])["class"], "upstream_protocol");

    // After, text: aborted.
    let resp = get(
        &s.edge
            .url(&plan_url("api=generate&output=text&fail_after=2")),
        &[],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "Hello\nwor");
    assert!(resp.body_error.is_some(), "text stream must be aborted");
}

#[test]
fn upstream_plan_security_rules() {
    let _g = serial();
    let s = stack(&[]);
    // A configured backend that is not on the allow-list.
    let resp = get(&s.edge.url(&plan_url("api=chat&backend=llm")), &[]);
    assert_eq!(resp.status, 502);
    assert_eq!(
        resp.header("x-sluice-error-class"),
        Some("backend_not_allowed")
    );
    assert!(
        s.edge
            .proc
            .wait_for_line(Duration::from_secs(5), |l| l.contains(
                "named backend \"llm\", which is not on plans.upstream_backends"
            ))
            .is_some(),
        "the attempt is logged"
    );
    // A plan trying to set a hop-by-hop response header: refused.
    let resp = get(
        &s.edge
            .url(&plan_url("api=chat&header=transfer-encoding:identity")),
        &[],
    );
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("x-sluice-error-class"), Some("plan_invalid"));
    // No upstream request was made for either refused plan.
    assert!(!s.origin.events().iter().any(|e| e["path"] == "/api/chat"));
    // A plan in a client's request is never honoured: the origin echoes it.
    let plan = br#"{"backend":"ollama","method":"GET","path":"/x","codec":"lines","mapper":{"kind":"passthrough"},"output":"text"}"#;
    let resp = request(
        "POST",
        &s.edge.url("/echo/plan"),
        &[("content-type", "application/vnd.sluice.upstream-plan+json")],
        Some(plan),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["body_len"], plan.len());
}

// ----------------------------------------------------------- real client

#[test]
fn sseclient_consumes_the_planned_sse_stream() {
    let _g = serial();
    let python = workspace().join("target/peers-venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/ensure-tools",
        python.display()
    );
    let s = stack(&[]);
    let url = s.edge.url(&plan_url(
        "api=chat&output=sse&token_event=token&final_data=%5BDONE%5D&final_event=done",
    ));
    let out = Command::new(&python)
        .arg(workspace().join("tests/peers/sse_tokens.py"))
        .arg(&url)
        .arg("20")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "sseclient failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("script prints JSON");
    assert_eq!(
        got,
        json!([
            ["token", "Hel"],
            ["token", "lo\nwor"],
            ["token", "ld"],
            ["token", "ü🙂 "],
            ["token", "\n"],
            ["token", "!"],
            ["done", "[DONE]"]
        ])
    );
    // The same stream read raw is the documented framing.
    let mut resp = Timed::get(&url, &[]);
    let mut raw = String::new();
    resp.reader().read_to_string(&mut raw).unwrap();
    assert!(raw.ends_with("event: done\ndata: [DONE]\n\n"));
}
