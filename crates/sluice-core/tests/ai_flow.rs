//! The gateway's phases driven together the way the Fastly adapter drives
//! them, against scripted upstream behaviour: fallback before the first
//! byte for every failure kind, never after it, and the in-stream error
//! tail that ends a broken stream cleanly.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::ai::errors::ApiError;
use sluice_core::ai::fallback::{Backend, Failure, GiveUp, RetryDecision, RetryPolicy};
use sluice_core::ai::relay::{error_tail, RelayConfig, SseRelay, StreamEnd};
use sluice_core::ai::request::{prepare, RequestLimits};
use sluice_core::ai::routes::Route;
use std::time::Duration;

/// What one scripted upstream attempt does.
#[derive(Clone)]
enum Attempt {
    /// Fails before any response body (connect error, timeout, status).
    Fails(Failure),
    /// Answers 200 and sends these chunks, then ends cleanly or resets.
    Streams(Vec<&'static str>, bool),
}

/// What the client saw.
#[derive(Debug, PartialEq)]
struct Client {
    status: u16,
    body: String,
    backends: Vec<Backend>,
    waits: Vec<Duration>,
}

const EV1: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
const EV2: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n";
const DONE: &str = "data: [DONE]\n\n";

/// A minimal adapter: the real one does the same with Fastly bodies.
fn drive(policy: RetryPolicy, fallback_configured: bool, script: &[Attempt]) -> Client {
    let body = br#"{"model":"m","stream":true,"messages":[]}"#;
    let prepared = prepare(body, Route::ChatCompletions, &RequestLimits::default()).unwrap();
    let mut client = Client {
        status: 0,
        body: String::new(),
        backends: Vec::new(),
        waits: Vec::new(),
    };
    let mut attempt = 1;
    loop {
        client.backends.push(policy.backend_for(attempt));
        let mut relay = SseRelay::new(RelayConfig::for_request(&prepared));
        let failure = match &script[attempt as usize - 1] {
            Attempt::Fails(failure) => Some(*failure),
            Attempt::Streams(chunks, clean) => {
                let mut failure = None;
                for chunk in chunks {
                    let fed = relay.feed_each(chunk.as_bytes(), |piece| {
                        // Headers go out with the first piece only.
                        if client.status == 0 {
                            client.status = 200;
                        }
                        client.body.push_str(std::str::from_utf8(piece).unwrap());
                        Ok::<(), ()>(())
                    });
                    if let Err(e) = fed {
                        failure = Some(match e {
                            sluice_core::ai::relay::FeedError::Upstream(e) => e.failure(),
                            sluice_core::ai::relay::FeedError::Downstream(()) => unreachable!(),
                        });
                        break;
                    }
                }
                match (failure, clean) {
                    (Some(f), _) => Some(f),
                    (None, true) => match relay.finish() {
                        StreamEnd::Complete => None,
                        _ => Some(Failure::Read),
                    },
                    (None, false) => Some(Failure::Read),
                }
            }
        };
        let Some(failure) = failure else {
            return client;
        };
        if relay.has_written() {
            // After the first byte: end the stream with the error tail.
            let mut tail = Vec::new();
            relay.fail(&ApiError::stream_interrupted(), &mut tail);
            client.body.push_str(std::str::from_utf8(&tail).unwrap());
            return client;
        }
        match policy.decide(attempt, failure, relay.has_written(), fallback_configured) {
            RetryDecision::Retry {
                attempt: next,
                backoff,
                ..
            } => {
                client.waits.push(backoff);
                attempt = next;
            }
            RetryDecision::GiveUp(_) => {
                let error = failure.api_error();
                client.status = error.status();
                client.body = String::from_utf8(error.to_json()).unwrap();
                return client;
            }
        }
    }
}

fn good_stream() -> Attempt {
    Attempt::Streams(vec![EV1, EV2, USAGE, DONE], true)
}

#[test]
fn every_failure_kind_before_the_first_byte_falls_back() {
    for failure in [
        Failure::Connect,
        Failure::Timeout,
        Failure::Status(429),
        Failure::Status(500),
        Failure::Status(503),
        Failure::Read,
    ] {
        let client = drive(
            RetryPolicy::default(),
            true,
            &[Attempt::Fails(failure), good_stream()],
        );
        assert_eq!(client.status, 200, "{failure:?}");
        assert_eq!(client.body, [EV1, EV2, DONE].concat(), "{failure:?}");
        assert_eq!(client.backends, [Backend::Primary, Backend::Fallback]);
        assert_eq!(client.waits, [Duration::from_millis(100)]);
    }
}

#[test]
fn a_stream_that_resets_before_its_first_event_still_falls_back() {
    let client = drive(
        RetryPolicy::default(),
        true,
        &[
            Attempt::Streams(vec!["data: {\"choices\":[{\"del"], false),
            good_stream(),
        ],
    );
    assert_eq!(client.backends, [Backend::Primary, Backend::Fallback]);
    assert_eq!(client.body, [EV1, EV2, DONE].concat());
}

#[test]
fn no_fallback_after_the_first_byte_but_a_clean_in_stream_error() {
    let client = drive(
        RetryPolicy::default(),
        true,
        &[
            Attempt::Streams(vec![EV1, "data: {\"cho"], false),
            good_stream(),
        ],
    );
    assert_eq!(client.status, 200);
    assert_eq!(client.backends, [Backend::Primary]);
    let mut expected = EV1.as_bytes().to_vec();
    error_tail(&ApiError::stream_interrupted(), &mut expected);
    assert_eq!(client.body.as_bytes(), expected);
    assert!(client.body.ends_with("\n\ndata: [DONE]\n\n"));
}

#[test]
fn a_malformed_stream_after_the_first_byte_also_ends_cleanly() {
    let client = drive(
        RetryPolicy::default(),
        true,
        &[Attempt::Streams(vec![EV1, "data: oops\n\n", EV2], true)],
    );
    assert_eq!(client.backends, [Backend::Primary]);
    assert!(client.body.starts_with(EV1));
    assert!(client.body.contains("upstream_stream_error"));
    assert!(!client.body.contains("Hello"));
}

#[test]
fn giving_up_answers_the_mapped_status() {
    let cases = [
        (Failure::Timeout, 504),
        (Failure::Status(429), 429),
        (Failure::Status(503), 503),
        (Failure::Connect, 502),
    ];
    for (failure, status) in cases {
        let client = drive(
            RetryPolicy::default(),
            true,
            &[Attempt::Fails(failure), Attempt::Fails(failure)],
        );
        assert_eq!(client.status, status, "{failure:?}");
        assert_eq!(client.backends, [Backend::Primary, Backend::Fallback]);
        let v: serde_json::Value = serde_json::from_str(&client.body).unwrap();
        assert_eq!(v["error"]["type"], failure.api_error().kind());
    }
    // Without a fallback backend there is a single attempt.
    let client = drive(
        RetryPolicy::default(),
        false,
        &[Attempt::Fails(Failure::Connect)],
    );
    assert_eq!((client.status, client.backends.len()), (502, 1));
    assert_eq!(
        RetryPolicy::default().decide(1, Failure::Connect, false, false),
        RetryDecision::GiveUp(GiveUp::NoFallback)
    );
}
