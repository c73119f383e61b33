//! Dispatch sessions driven by a fake clock and a scripted origin: the exact
//! action sequence, bytes, step and close bodies, every limit, the backoff
//! and retry sequences, keep-alives and close reasons.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_core::stream::dispatch::{
    Action, CloseReason, CloseRequest, DispatchLimits, DispatchSession, StepFailure, StepRequest,
};
use sluice_core::stream::{ErrorClass, PlanError, Rejection};

/// What the fake adapter observed, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Head(u16),
    Write(String),
    Wait(u64),
    Step(StepRequest),
    Finish,
    Abort,
    Reject(Rejection),
    Close(CloseRequest),
}

/// The scripted origin's answer to one step call.
enum Answer {
    Ok(Value),
    Status(u16, &'static str),
    Raw(Vec<u8>),
    Fail(StepFailure),
    /// Answer after this many milliseconds.
    Slow(u64, Box<Answer>),
}

struct Harness {
    session: DispatchSession,
    now: u64,
    seen: Vec<Seen>,
    /// Writes start failing after this many successful writes.
    writes_before_disconnect: Option<usize>,
}

impl Harness {
    fn open(open: Value, limits: DispatchLimits) -> Self {
        let session = DispatchSession::open(open.to_string().as_bytes(), limits, 1_000).unwrap();
        Self {
            session,
            now: 1_000,
            seen: Vec::new(),
            writes_before_disconnect: None,
        }
    }

    /// Runs until `Done` (or `max_actions`), answering steps with `origin`.
    fn run(&mut self, mut origin: impl FnMut(&StepRequest) -> Answer) {
        for _ in 0..100_000 {
            match self.session.next_action(self.now) {
                Action::SendHead(head) => self.seen.push(Seen::Head(head.status)),
                Action::Write(bytes) => {
                    let writes = self
                        .seen
                        .iter()
                        .filter(|s| matches!(s, Seen::Write(_)))
                        .count();
                    if self.writes_before_disconnect.is_some_and(|n| writes >= n) {
                        self.session.client_disconnected(self.now);
                    } else {
                        self.seen
                            .push(Seen::Write(String::from_utf8(bytes).unwrap()));
                    }
                }
                Action::Wait { ms } => {
                    assert!(ms > 0, "a zero wait would spin");
                    self.now += ms;
                    self.seen.push(Seen::Wait(ms));
                }
                Action::Step(call) => {
                    assert_eq!(call.path, "/step");
                    let request: StepRequest = serde_json::from_slice(&call.body).unwrap();
                    self.seen.push(Seen::Step(request.clone()));
                    let mut answer = origin(&request);
                    while let Answer::Slow(ms, inner) = answer {
                        self.now += ms;
                        answer = *inner;
                    }
                    match answer {
                        Answer::Ok(v) => {
                            self.session
                                .step_response(self.now, 200, v.to_string().as_bytes())
                        }
                        Answer::Status(s, body) => {
                            self.session.step_response(self.now, s, body.as_bytes())
                        }
                        Answer::Raw(body) => self.session.step_response(self.now, 200, &body),
                        Answer::Fail(f) => self.session.step_failed(self.now, f),
                        Answer::Slow(..) => unreachable!(),
                    }
                }
                Action::Finish => self.seen.push(Seen::Finish),
                Action::Abort => self.seen.push(Seen::Abort),
                Action::Reject(r) => self.seen.push(Seen::Reject(r)),
                Action::Close(call) => {
                    assert_eq!(call.path, "/close");
                    self.seen
                        .push(Seen::Close(serde_json::from_slice(&call.body).unwrap()));
                }
                Action::Done => return,
            }
        }
        panic!("the session never finished");
    }

    fn body(&self) -> String {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Write(w) => Some(w.as_str()),
                _ => None,
            })
            .collect()
    }

    fn waits(&self) -> Vec<u64> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Wait(ms) => Some(*ms),
                _ => None,
            })
            .collect()
    }

    fn close(&self) -> &CloseRequest {
        self.seen
            .iter()
            .find_map(|s| match s {
                Seen::Close(c) => Some(c),
                _ => None,
            })
            .expect("a close call")
    }

    fn steps(&self) -> Vec<&StepRequest> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Step(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

fn sse_open(state: Value) -> Value {
    json!({"output": "sse", "step_path": "/step", "close_path": "/close", "state": state})
}

fn text_open(state: Value) -> Value {
    json!({"output": "text", "step_path": "/step", "close_path": "/close", "state": state})
}

fn counter_origin(total: u64) -> impl FnMut(&StepRequest) -> Answer {
    move |req| {
        let n = req.state["n"].as_u64().unwrap();
        Answer::Ok(json!({
            "chunks": [{"event": "tick", "id": n.to_string(), "data": n.to_string()}],
            "state": {"n": n + 1},
            "done": n + 1 == total,
        }))
    }
}

fn error_event(class: &str, message: &str) -> String {
    format!(
        "event: error\ndata: {}\n\n",
        json!({"class": class, "message": message})
    )
}

#[test]
fn open_with_done_writes_chunks_and_closes_completed() {
    let mut h = Harness::open(
        json!({"status": 201, "output": "sse", "step_path": "/step", "close_path": "/close",
               "headers": {"x-run": "7"}, "state": {"k": 1},
               "chunks": ["hello", {"event": "e", "id": "1", "data": "a\nb", "retry": 10}, {"id": "2"}],
               "done": true}),
        DispatchLimits::default(),
    );
    let head = h.session.head().clone();
    assert_eq!(
        head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(head.header("x-run"), Some("7"));
    h.run(|_| panic!("no step may be called"));
    let body = "data: hello\n\nevent: e\nid: 1\nretry: 10\ndata: a\ndata: b\n\nid: 2\n\n";
    assert_eq!(
        h.seen,
        [
            Seen::Head(201),
            Seen::Write(body.into()),
            Seen::Finish,
            Seen::Close(CloseRequest {
                reason: CloseReason::Completed,
                state: json!({"k": 1}),
                steps: 0,
                chunks_sent: 3,
                bytes_sent: body.len() as u64,
                elapsed_ms: 0,
                error: None,
            }),
        ]
    );
}

#[test]
fn a_thousand_event_stream_arrives_complete_and_in_order() {
    let mut h = Harness::open(sse_open(json!({"n": 0})), DispatchLimits::default());
    h.run(counter_origin(1000));
    let expected: String = (0..1000)
        .map(|n| format!("event: tick\nid: {n}\ndata: {n}\n\n"))
        .collect();
    assert_eq!(h.body(), expected);
    assert_eq!(
        h.seen
            .iter()
            .filter(|s| matches!(s, Seen::Head(200)))
            .count(),
        1
    );
    assert!(
        h.waits().is_empty(),
        "steps with data are called back to back"
    );
    let close = h.close();
    assert_eq!(close.reason, CloseReason::Completed);
    assert_eq!((close.steps, close.chunks_sent), (1000, 1000));
    assert_eq!(close.state, json!({"n": 1000}));
    assert_eq!(h.seen[h.seen.len() - 2], Seen::Finish);
}

#[test]
fn step_request_body_is_exact() {
    let mut s = DispatchSession::open(
        sse_open(json!({"cursor": "abc"})).to_string().as_bytes(),
        DispatchLimits::default(),
        500,
    )
    .unwrap();
    match s.next_action(750) {
        Action::Step(call) => {
            assert_eq!(
                String::from_utf8(call.body).unwrap(),
                r#"{"state":{"cursor":"abc"},"step":0,"attempt":0,"elapsed_ms":250}"#
            );
            assert_eq!(call.timeout_ms, 10_000);
            assert_eq!(call.max_response_bytes, 1 << 20);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn idle_backoff_doubles_to_two_seconds_and_resets_on_data() {
    let mut h = Harness::open(text_open(json!(0)), DispatchLimits::default());
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        match calls {
            10 => Answer::Ok(json!({"chunks": ["x"]})),
            13 => Answer::Ok(json!({"chunks": ["y"], "done": true})),
            _ => Answer::Ok(json!({"chunks": []})),
        }
    });
    assert_eq!(
        h.waits(),
        [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000, 50, 100]
    );
    assert_eq!(h.body(), "xy");
}

#[test]
fn next_after_ms_overrides_the_backoff() {
    let mut h = Harness::open(
        json!({"output": "text", "step_path": "/step", "next_after_ms": 300}),
        DispatchLimits::default(),
    );
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        match calls {
            1 => Answer::Ok(json!({"chunks": [], "next_after_ms": 1234})),
            2 => Answer::Ok(json!({"chunks": ["a"], "next_after_ms": 5})),
            3 => Answer::Ok(json!({"chunks": []})),
            _ => Answer::Ok(json!({"done": true})),
        }
    });
    // Open delay, hint, hint, then the backoff: the data in step 2 reset
    // it, so the empty step 3 waits the initial 50 ms.
    assert_eq!(h.waits(), [300, 1234, 5, 50]);
}

#[test]
fn keepalive_comments_fill_idle_sse_gaps_only() {
    let limits = DispatchLimits::default().with_keepalive_interval_ms(1_000);
    let mut h = Harness::open(sse_open(json!(0)), limits);
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["a"], "next_after_ms": 3_500}))
        } else {
            Answer::Ok(json!({"chunks": ["b"], "done": true}))
        }
    });
    let ka = ": keep-alive\n\n".to_owned();
    assert_eq!(
        h.seen[..10],
        [
            Seen::Step(StepRequest {
                state: json!(0),
                step: 0,
                attempt: 0,
                elapsed_ms: 0
            }),
            Seen::Head(200),
            Seen::Write("data: a\n\n".into()),
            Seen::Wait(1_000),
            Seen::Write(ka.clone()),
            Seen::Wait(1_000),
            Seen::Write(ka.clone()),
            Seen::Wait(1_000),
            Seen::Write(ka),
            Seen::Wait(500),
        ]
    );
    assert_eq!(h.session.stats().keepalives, 3);

    // Text output never gets comments injected.
    let mut h = Harness::open(text_open(json!(0)), limits);
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["a"], "next_after_ms": 3_500}))
        } else {
            Answer::Ok(json!({"done": true}))
        }
    });
    assert_eq!(h.waits(), [3_500]);
    assert_eq!(h.body(), "a");
}

#[test]
fn keepalive_before_any_data_commits_the_head() {
    let limits = DispatchLimits::default().with_keepalive_interval_ms(1_000);
    let mut h = Harness::open(
        json!({"output": "sse", "step_path": "/step", "next_after_ms": 1_500}),
        limits,
    );
    h.run(|_| Answer::Ok(json!({"done": true})));
    assert_eq!(
        h.seen[..4],
        [
            Seen::Wait(1_000),
            Seen::Head(200),
            Seen::Write(": keep-alive\n\n".into()),
            Seen::Wait(500),
        ]
    );
}

#[test]
fn max_steps_limit_ends_with_the_documented_error() {
    let mut h = Harness::open(
        sse_open(json!({"n": 0})),
        DispatchLimits::default().with_max_steps(3),
    );
    h.run(counter_origin(u64::MAX));
    let message = "the stream exceeded its 3 step limit";
    assert!(h.body().ends_with(&error_event("limit_steps", message)));
    assert_eq!(h.steps().len(), 3);
    let close = h.close();
    assert_eq!(close.reason, CloseReason::Limit);
    assert_eq!(close.error.as_ref().unwrap().class, "limit_steps");
    assert_eq!(close.state, json!({"n": 3}));
}

#[test]
fn duration_limit_ends_the_stream_even_mid_wait() {
    let limits = DispatchLimits::default().with_max_duration_ms(2_500);
    let mut h = Harness::open(sse_open(json!(0)), limits);
    h.run(|_| Answer::Ok(json!({"chunks": ["t"], "next_after_ms": 1_000})));
    assert_eq!(h.waits(), [1_000, 1_000, 500]);
    assert!(h.body().ends_with(&error_event(
        "limit_duration",
        "the stream exceeded its 2500 ms duration limit"
    )));
    assert_eq!(h.close().reason, CloseReason::Limit);
    assert_eq!(h.close().elapsed_ms, 2_500);
}

#[test]
fn step_timeout_is_a_limit_and_text_output_aborts_after_first_byte() {
    let mut h = Harness::open(
        text_open(json!(0)),
        DispatchLimits::default().with_step_timeout_ms(250),
    );
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["partial "]}))
        } else {
            Answer::Slow(250, Box::new(Answer::Fail(StepFailure::Timeout)))
        }
    });
    assert_eq!(h.body(), "partial ");
    assert_eq!(h.seen[h.seen.len() - 2], Seen::Abort);
    let close = h.close();
    assert_eq!(close.reason, CloseReason::Limit);
    assert_eq!(close.error.as_ref().unwrap().class, "limit_step_timeout");
    assert_eq!(
        close.error.as_ref().unwrap().message,
        "a step call exceeded its 250 ms timeout"
    );
}

#[test]
fn failure_before_the_first_byte_is_a_502_with_class() {
    let mut h = Harness::open(sse_open(json!(0)), DispatchLimits::default());
    h.run(|_| Answer::Fail(StepFailure::Timeout));
    assert_eq!(
        h.seen[1],
        Seen::Reject(Rejection {
            class: "limit_step_timeout".into(),
            message: "a step call exceeded its 10000 ms timeout".into()
        })
    );
    assert!(!h
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Head(_) | Seen::Write(_))));
    assert_eq!(h.close().reason, CloseReason::Limit);
}

#[test]
fn oversized_state_in_a_step_ends_with_limit_state_size() {
    let mut h = Harness::open(sse_open(json!({"n": 0})), DispatchLimits::default());
    let big = "x".repeat(64 * 1024);
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["a"], "state": {"n": 1}}))
        } else {
            Answer::Ok(json!({"chunks": ["never"], "state": {"blob": big}}))
        }
    });
    assert_eq!(
        h.body(),
        format!(
            "data: a\n\n{}",
            error_event("limit_state_size", "state is over the 65536-byte limit")
        )
    );
    let close = h.close();
    assert_eq!(close.reason, CloseReason::Limit);
    assert_eq!(
        close.state,
        json!({"n": 1}),
        "the close carries the last good state"
    );
}

#[test]
fn state_cap_is_exact_on_the_compact_serialization() {
    // {"s":"xxx"} is 8 bytes + the string: make it exactly 64 KiB.
    let exact = json!({"s": "x".repeat(64 * 1024 - 8)});
    assert_eq!(exact.to_string().len(), 64 * 1024);
    DispatchSession::open(
        sse_open(exact).to_string().as_bytes(),
        DispatchLimits::default(),
        0,
    )
    .unwrap();
    let over = json!({"s": "x".repeat(64 * 1024 - 7)});
    let err = DispatchSession::open(
        sse_open(over).to_string().as_bytes(),
        DispatchLimits::default(),
        0,
    )
    .unwrap_err();
    assert_eq!(err, PlanError::StateTooLarge { limit: 64 * 1024 });
    assert_eq!(err.class(), ErrorClass::LimitStateSize);
}

#[test]
fn oversized_step_response_is_a_limit() {
    let limits = DispatchLimits::default().with_max_message_bytes(100);
    let mut h = Harness::open(sse_open(json!(0)), limits);
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["a"]}))
        } else {
            Answer::Raw(vec![b' '; 101])
        }
    });
    assert!(h.body().ends_with(&error_event(
        "limit_response_size",
        "a step response exceeded 100 bytes"
    )));
    assert_eq!(h.close().reason, CloseReason::Limit);
}

#[test]
fn connection_refused_is_retried_with_backoff_keeping_step_and_state() {
    let mut h = Harness::open(sse_open(json!({"n": 0})), DispatchLimits::default());
    let mut counter = counter_origin(3);
    let mut calls = 0;
    h.run(|req| {
        calls += 1;
        if (2..=4).contains(&calls) {
            Answer::Fail(StepFailure::Connect("connection refused".into()))
        } else {
            counter(req)
        }
    });
    let steps: Vec<(u64, u32, Value)> = h
        .steps()
        .iter()
        .map(|r| (r.step, r.attempt, r.state.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (0, 0, json!({"n": 0})),
            (1, 0, json!({"n": 1})),
            (1, 1, json!({"n": 1})),
            (1, 2, json!({"n": 1})),
            (1, 3, json!({"n": 1})),
            (2, 0, json!({"n": 2})),
        ]
    );
    assert_eq!(h.waits(), [100, 200, 400]);
    assert_eq!(
        h.body(),
        "event: tick\nid: 0\ndata: 0\n\nevent: tick\nid: 1\ndata: 1\n\nevent: tick\nid: 2\ndata: 2\n\n"
    );
    assert_eq!(h.close().reason, CloseReason::Completed);
    assert_eq!(h.session.stats().retries, 3);
}

#[test]
fn origin_restart_during_idle_backoff_does_not_break_the_stream() {
    // The origin is down from t=3_000 to t=6_000 (absolute clock), while
    // the stream idles between events; 503s and refused connections are
    // both what a restarting origin behind a proxy looks like.
    let limits = DispatchLimits::default();
    let mut h = Harness::open(sse_open(json!({"n": 0})), limits);
    let now = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let mut counter = counter_origin(5);
    let clock = now.clone();
    let mut calls = 0;
    // The harness clock is private to it: track time through the requests.
    h.run(|req| {
        calls += 1;
        clock.set(1_000 + req.elapsed_ms);
        let t = clock.get();
        if (3_000..6_000).contains(&t) {
            if calls % 2 == 0 {
                Answer::Status(503, "restarting")
            } else {
                Answer::Fail(StepFailure::Connect("connection refused".into()))
            }
        } else {
            match counter(req) {
                Answer::Ok(mut v) => {
                    v["next_after_ms"] = json!(1_500);
                    Answer::Ok(v)
                }
                other => other,
            }
        }
    });
    let expected: String = (0..5)
        .map(|n| format!("event: tick\nid: {n}\ndata: {n}\n\n"))
        .collect();
    assert_eq!(h.body(), expected);
    assert_eq!(h.close().reason, CloseReason::Completed);
    assert!(h.session.stats().retries >= 3, "the outage was exercised");
}

#[test]
fn exhausted_retries_end_with_step_unavailable() {
    let limits = DispatchLimits::default()
        .with_max_step_retries(2)
        .with_retry_backoff_ms(10, 1_000);
    let mut h = Harness::open(sse_open(json!(0)), limits);
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        if calls == 1 {
            Answer::Ok(json!({"chunks": ["a"]}))
        } else {
            Answer::Status(502, "bad gateway")
        }
    });
    assert_eq!(h.waits(), [10, 20]);
    assert!(h.body().ends_with(&error_event(
        "step_unavailable",
        "step failed 3 times in a row: step answered 502"
    )));
    assert_eq!(h.close().reason, CloseReason::Error);
}

#[test]
fn client_errors_and_malformed_steps_are_not_retried() {
    for (answer, message_start) in [
        (Answer::Status(404, "nope"), "step answered 404"),
        (
            Answer::Raw(b"{not json".to_vec()),
            "malformed step response",
        ),
        (
            Answer::Ok(json!({"chunks": [], "surprise": 1})),
            "malformed step response",
        ),
        (
            Answer::Ok(json!({"chunks": [{"event": "a\nb", "data": "x"}]})),
            "invalid SSE field",
        ),
        (
            Answer::Ok(json!({"chunks": [{}]})),
            "malformed message: chunk 0 is empty",
        ),
        (
            Answer::Ok(json!({"error": {"class": "has space", "message": "m"}})),
            "error class",
        ),
    ] {
        let mut h = Harness::open(sse_open(json!(0)), DispatchLimits::default());
        let mut first = true;
        let mut answer = Some(answer);
        h.run(|_| {
            if std::mem::take(&mut first) {
                Answer::Ok(json!({"chunks": ["a"]}))
            } else {
                answer.take().expect("no retry")
            }
        });
        let body = h.body();
        let tail = body
            .strip_prefix("data: a\n\nevent: error\ndata: ")
            .unwrap();
        let err: Value = serde_json::from_str(tail.trim_end()).unwrap();
        assert_eq!(err["class"], "step_protocol");
        assert!(
            err["message"].as_str().unwrap().starts_with(message_start),
            "{err}"
        );
        assert_eq!(h.close().reason, CloseReason::Error);
    }
}

#[test]
fn event_objects_in_text_output_are_a_protocol_error() {
    let mut h = Harness::open(text_open(json!(0)), DispatchLimits::default());
    h.run(|_| Answer::Ok(json!({"chunks": ["ok", {"data": "x"}]})));
    assert_eq!(
        h.seen[1],
        Seen::Reject(Rejection {
            class: "step_protocol".into(),
            message: "chunk 1 is not valid for text output".into()
        })
    );
}

#[test]
fn origin_error_is_relayed_after_its_chunks() {
    let mut h = Harness::open(sse_open(json!(0)), DispatchLimits::default());
    h.run(|_| Answer::Ok(json!({"chunks": ["last words"], "error": {"class": "quota.exceeded", "message": "over quota"}})));
    assert_eq!(
        h.body(),
        format!(
            "data: last words\n\n{}",
            error_event("quota.exceeded", "over quota")
        )
    );
    let close = h.close();
    assert_eq!(close.reason, CloseReason::Error);
    assert_eq!(close.error.as_ref().unwrap().class, "quota.exceeded");

    // Before the first byte the origin's class becomes the 502's class.
    let mut h = Harness::open(sse_open(json!(0)), DispatchLimits::default());
    h.run(|_| Answer::Ok(json!({"error": {"class": "not_found", "message": "no such job"}})));
    assert_eq!(
        h.seen[1],
        Seen::Reject(Rejection {
            class: "not_found".into(),
            message: "no such job".into()
        })
    );
}

#[test]
fn client_disconnect_sends_close_with_that_reason() {
    let mut h = Harness::open(sse_open(json!({"n": 0})), DispatchLimits::default());
    h.writes_before_disconnect = Some(2);
    h.run(counter_origin(100));
    assert_eq!(
        h.body(),
        "event: tick\nid: 0\ndata: 0\n\nevent: tick\nid: 1\ndata: 1\n\n"
    );
    assert!(!h
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Finish | Seen::Abort)));
    let close = h.close();
    assert_eq!(close.reason, CloseReason::ClientDisconnect);
    assert_eq!(close.state, json!({"n": 3}));
    assert_eq!(
        h.session.close_reason(),
        Some(CloseReason::ClientDisconnect)
    );
}

#[test]
fn state_absent_keeps_previous_and_null_sets_null() {
    let mut h = Harness::open(sse_open(json!({"keep": true})), DispatchLimits::default());
    let mut calls = 0;
    h.run(|_| {
        calls += 1;
        match calls {
            1 => Answer::Ok(json!({"chunks": ["a"]})),
            2 => Answer::Ok(json!({"chunks": ["b"], "state": null})),
            _ => Answer::Ok(json!({"done": true})),
        }
    });
    let states: Vec<Value> = h.steps().iter().map(|r| r.state.clone()).collect();
    assert_eq!(
        states,
        [json!({"keep": true}), json!({"keep": true}), Value::Null]
    );
}

#[test]
fn misuse_by_the_adapter_is_an_internal_error_not_a_panic() {
    let mut s = DispatchSession::open(
        sse_open(json!(0)).to_string().as_bytes(),
        DispatchLimits::default(),
        0,
    )
    .unwrap();
    assert!(matches!(s.next_action(0), Action::Step(_)));
    // Asking again without reporting the step.
    assert_eq!(
        s.next_action(0),
        Action::Reject(Rejection {
            class: "internal".into(),
            message: "next_action called before the step was reported".into()
        })
    );
    assert!(matches!(s.next_action(0), Action::Close(_)));
    assert_eq!(s.next_action(0), Action::Done);
    assert_eq!(s.next_action(0), Action::Done);
    // Reporting a step nobody asked for.
    let mut s = DispatchSession::open(
        sse_open(json!(0)).to_string().as_bytes(),
        DispatchLimits::default(),
        0,
    )
    .unwrap();
    s.step_response(0, 200, b"{}");
    assert!(matches!(s.next_action(0), Action::Reject(r) if r.class == "internal"));
}

#[test]
fn open_message_validation() {
    let open = |v: Value| {
        DispatchSession::open(v.to_string().as_bytes(), DispatchLimits::default(), 0).map(|_| ())
    };
    for status in [100, 204, 205, 304, 600, 99] {
        assert_eq!(
            open(json!({"status": status, "output": "sse", "step_path": "/s"})),
            Err(PlanError::InvalidStatus(status))
        );
    }
    open(json!({"status": 429, "output": "text", "step_path": "/s"})).unwrap();
    assert_eq!(
        open(json!({"output": "sse", "step_path": "http://evil/"})),
        Err(PlanError::InvalidPath("http://evil/".into()))
    );
    assert_eq!(
        open(json!({"output": "sse", "step_path": "/s", "close_path": "//evil/c"})),
        Err(PlanError::InvalidPath("//evil/c".into()))
    );
    assert_eq!(
        open(
            json!({"output": "sse", "step_path": "/s", "headers": {"Transfer-Encoding": "chunked"}})
        ),
        Err(PlanError::ForbiddenHeader("transfer-encoding".into()))
    );
    assert_eq!(
        open(json!({"output": "sse", "step_path": "/s", "version": 9})),
        Err(PlanError::UnsupportedVersion(9))
    );
    assert!(matches!(
        open(json!({"output": "sse"})),
        Err(PlanError::Malformed(_))
    ));
    assert!(matches!(
        open(json!({"output": "sse", "step_path": "/s", "steps": 1})),
        Err(PlanError::Malformed(_))
    ));
    assert_eq!(
        open(json!({"output": "text", "step_path": "/s", "chunks": [{"data": "x"}]})),
        Err(PlanError::ChunkKind {
            index: 0,
            output: "text"
        })
    );
    let err = DispatchSession::open(
        &[b' '; 33],
        DispatchLimits::default().with_max_message_bytes(32),
        0,
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(
        err,
        PlanError::TooLarge {
            size: 33,
            limit: 32
        }
    );
    assert_eq!(err.class(), ErrorClass::PlanInvalid);
}

#[test]
fn no_close_path_means_no_close_call() {
    let mut h = Harness::open(
        json!({"output": "text", "step_path": "/step", "chunks": ["x"], "done": true}),
        DispatchLimits::default(),
    );
    h.run(|_| unreachable!());
    assert_eq!(
        h.seen,
        [Seen::Head(200), Seen::Write("x".into()), Seen::Finish]
    );
}

#[test]
fn limits_defaults_are_documented_values() {
    let l = DispatchLimits::default();
    assert_eq!(
        (
            l.max_steps,
            l.step_timeout_ms,
            l.max_duration_ms,
            l.max_state_bytes,
            l.max_message_bytes
        ),
        (10_000, 10_000, 900_000, 65_536, 1_048_576)
    );
    assert_eq!(
        (
            l.idle_backoff_initial_ms,
            l.idle_backoff_max_ms,
            l.keepalive_interval_ms
        ),
        (50, 2_000, 15_000)
    );
    assert_eq!(
        (
            l.max_step_retries,
            l.retry_backoff_initial_ms,
            l.retry_backoff_max_ms
        ),
        (8, 100, 2_000)
    );
}

proptest! {
    #[test]
    fn idle_delay_follows_the_backoff_rule(batches in proptest::collection::vec(any::<bool>(), 1..40)) {
        let mut h = Harness::open(text_open(json!(0)), DispatchLimits::default());
        let mut i = 0;
        let script = batches.clone();
        h.run(|_| {
            let has_data = script.get(i).copied();
            i += 1;
            match has_data {
                Some(true) => Answer::Ok(json!({"chunks": ["d"]})),
                Some(false) => Answer::Ok(json!({"chunks": []})),
                None => Answer::Ok(json!({"done": true})),
            }
        });
        let mut expected = Vec::new();
        let mut empties = 0u32;
        for has_data in batches {
            if has_data {
                empties = 0;
            } else {
                expected.push((50u64 << empties.min(10)).min(2_000));
                empties += 1;
            }
        }
        prop_assert_eq!(h.waits(), expected);
    }
}
