//! The AI gateway's SSE relay: byte-exact output on a realistic OpenAI
//! stream, chunk-boundary invariance (including 1-byte chunks), usage
//! stripping exactly when the client did not ask, milestones, caps, typed
//! errors and the in-stream error tail.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::ai::errors::ApiError;
use sluice_core::ai::relay::{error_tail, RelayConfig, RelayError, SseRelay, StreamEnd};
use sluice_core::ai::request::{prepare, RequestLimits};
use sluice_core::ai::routes::Route;
use sluice_core::ai::usage::TokenUsage;
use sluice_core::stream::DecodeError;
use support::chunks::split_at_points;

const ROLE: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

"#;
const CONTENT_1: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"Grüße, "},"logprobs":null,"finish_reason":null}],"usage":null}

"#;
const CONTENT_2: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"世界 🌍\n\nline two\t\"quoted\""},"logprobs":null,"finish_reason":null}],"usage":null}

"#;
const CONTENT_3: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"\u00e9nd."},"logprobs":null,"finish_reason":null}],"usage":null}

"#;
const FINISH: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

"#;
const USAGE: &str = r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}

"#;
const DONE: &str = "data: [DONE]\n\n";

fn openai_stream() -> String {
    [ROLE, CONTENT_1, CONTENT_2, CONTENT_3, FINISH, USAGE, DONE].concat()
}

const USAGE_29: TokenUsage = TokenUsage {
    prompt_tokens: 19,
    completion_tokens: 10,
    total_tokens: 29,
};

/// Everything observable about one relayed stream.
#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<u8>,
    error: Option<RelayError>,
    usage: Option<TokenUsage>,
    end: StreamEnd,
    first_token_seen: bool,
    forwarded: u64,
    dropped: u64,
}

fn relay_chunks(config: RelayConfig, chunks: &[&[u8]]) -> Outcome {
    let mut relay = SseRelay::new(config);
    let mut out = Vec::new();
    let mut error = None;
    for chunk in chunks {
        if let Err(e) = relay.feed(chunk, &mut out) {
            error = Some(e);
            break;
        }
    }
    Outcome {
        out,
        error,
        usage: relay.usage(),
        first_token_seen: relay.first_token_seen(),
        forwarded: relay.events_forwarded(),
        dropped: relay.events_dropped(),
        end: relay.finish(),
    }
}

fn relay_whole(config: RelayConfig, input: &[u8]) -> Outcome {
    relay_chunks(config, &[input])
}

fn strip() -> RelayConfig {
    RelayConfig::default().with_strip_usage(true)
}

#[test]
fn realistic_stream_is_forwarded_byte_for_byte_when_the_client_asked_for_usage() {
    let input = openai_stream();
    let outcome = relay_whole(RelayConfig::default(), input.as_bytes());
    assert_eq!(String::from_utf8(outcome.out).unwrap(), input);
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.usage, Some(USAGE_29));
    assert_eq!(outcome.end, StreamEnd::Complete);
    assert!(outcome.first_token_seen);
    assert_eq!((outcome.forwarded, outcome.dropped), (7, 0));
}

#[test]
fn realistic_stream_loses_exactly_the_usage_chunk_when_the_client_did_not_ask() {
    let outcome = relay_whole(strip(), openai_stream().as_bytes());
    let expected = [ROLE, CONTENT_1, CONTENT_2, CONTENT_3, FINISH, DONE].concat();
    assert_eq!(String::from_utf8(outcome.out).unwrap(), expected);
    // Usage is recorded even though the chunk was removed.
    assert_eq!(outcome.usage, Some(USAGE_29));
    assert_eq!(outcome.end, StreamEnd::Complete);
    assert_eq!((outcome.forwarded, outcome.dropped), (6, 1));
}

#[test]
fn one_byte_chunks_give_the_same_output_for_both_modes() {
    let input = openai_stream();
    let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
    for config in [RelayConfig::default(), strip()] {
        assert_eq!(
            relay_chunks(config, &bytes),
            relay_whole(config, input.as_bytes())
        );
    }
}

#[test]
fn usage_is_stripped_exactly_when_the_client_did_not_ask_for_it() {
    let input = openai_stream();
    let cases = [
        (r#"{"model":"m","stream":true,"messages":[]}"#, false),
        (
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#,
            false,
        ),
        (
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
            true,
        ),
    ];
    for (body, client_asked) in cases {
        let prepared = prepare(
            body.as_bytes(),
            Route::ChatCompletions,
            &RequestLimits::default(),
        )
        .unwrap();
        let outcome = relay_whole(RelayConfig::for_request(&prepared), input.as_bytes());
        let out = String::from_utf8(outcome.out).unwrap();
        assert_eq!(out.contains(USAGE), client_asked, "{body}");
        assert_eq!(
            out.len() + if client_asked { 0 } else { USAGE.len() },
            input.len()
        );
        assert_eq!(outcome.usage, Some(USAGE_29), "{body}");
    }
}

#[test]
fn per_event_pieces_let_the_adapter_flush_each_event() {
    let input = openai_stream();
    let mut relay = SseRelay::new(strip());
    let mut pieces: Vec<String> = Vec::new();
    let progress = relay
        .feed_each(input.as_bytes(), |piece| {
            pieces.push(String::from_utf8(piece.to_vec()).unwrap());
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(
        pieces,
        [ROLE, CONTENT_1, CONTENT_2, CONTENT_3, FINISH, DONE]
    );
    assert_eq!(progress.events_forwarded, 6);
    assert_eq!(progress.events_dropped, 1);
    assert!(progress.first_byte && progress.first_token && progress.done);
}

#[test]
fn first_byte_and_first_token_are_reported_by_the_call_that_wrote_them() {
    let mut relay = SseRelay::new(strip());
    let mut out = Vec::new();
    let p = relay.feed(&ROLE.as_bytes()[..40], &mut out).unwrap();
    assert!(!p.first_byte && !relay.has_written() && out.is_empty());
    let p = relay.feed(&ROLE.as_bytes()[40..], &mut out).unwrap();
    assert!(p.first_byte && !p.first_token);
    assert!(relay.has_written() && !relay.first_token_seen());
    let p = relay.feed(CONTENT_1.as_bytes(), &mut out).unwrap();
    assert!(!p.first_byte && p.first_token);
    let p = relay.feed(CONTENT_2.as_bytes(), &mut out).unwrap();
    assert!(!p.first_byte && !p.first_token && !p.done);
    let p = relay
        .feed([FINISH, USAGE].concat().as_bytes(), &mut out)
        .unwrap();
    assert_eq!((p.events_forwarded, p.events_dropped), (1, 1));
    let p = relay.feed(DONE.as_bytes(), &mut out).unwrap();
    assert!(p.done && relay.is_done());
    assert_eq!(p.bytes_written, DONE.len());
    assert_eq!(relay.bytes_written(), out.len() as u64);
}

#[test]
fn legacy_completions_text_counts_as_a_token() {
    let input = "data: {\"choices\":[{\"text\":\"\",\"index\":0}]}\n\ndata: {\"choices\":[{\"text\":\"Hi\",\"index\":0}]}\n\n";
    let mut relay = SseRelay::new(RelayConfig::default());
    let mut out = Vec::new();
    let split = input.find("\n\n").unwrap() + 2;
    assert!(
        !relay
            .feed(&input.as_bytes()[..split], &mut out)
            .unwrap()
            .first_token
    );
    assert!(
        relay
            .feed(&input.as_bytes()[split..], &mut out)
            .unwrap()
            .first_token
    );
}

#[test]
fn error_tail_bytes_are_exact() {
    let mut out = Vec::new();
    error_tail(&ApiError::stream_interrupted(), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        concat!(
            r#"data: {"error":{"message":"The upstream stream failed before it completed.","type":"server_error","param":null,"code":"upstream_stream_error"}}"#,
            "\n\ndata: [DONE]\n\n"
        )
    );
}

#[test]
fn truncated_stream_ends_with_the_error_tail_and_never_half_an_event() {
    let input = openai_stream();
    let cut = input.find(CONTENT_3).unwrap() + 30;
    let mut relay = SseRelay::new(strip());
    let mut out = Vec::new();
    relay.feed(&input.as_bytes()[..cut], &mut out).unwrap();
    assert_eq!(
        relay.finish(),
        StreamEnd::Truncated {
            discarded_bytes: 30
        }
    );
    assert!(relay.fail(&ApiError::stream_interrupted(), &mut out));
    let mut expected = [ROLE, CONTENT_1, CONTENT_2].concat().into_bytes();
    error_tail(&ApiError::stream_interrupted(), &mut expected);
    assert_eq!(out, expected);
    assert!(relay.is_done());
    // A second failure writes nothing: the client's stream already ended.
    assert!(!relay.fail(&ApiError::stream_interrupted(), &mut out));
    assert_eq!(out, expected);
    assert_eq!(
        relay.feed(b"data: {}\n\n", &mut out),
        Err(RelayError::Poisoned)
    );
}

#[test]
fn no_error_tail_after_done() {
    let mut relay = SseRelay::new(RelayConfig::default());
    let mut out = Vec::new();
    relay.feed(openai_stream().as_bytes(), &mut out).unwrap();
    let len = out.len();
    assert!(!relay.fail(&ApiError::stream_interrupted(), &mut out));
    assert_eq!(out.len(), len);
}

#[test]
fn a_stream_without_done_is_truncated_even_on_an_event_boundary() {
    let input = [ROLE, CONTENT_1].concat();
    let outcome = relay_whole(RelayConfig::default(), input.as_bytes());
    assert_eq!(outcome.out, input.as_bytes());
    assert_eq!(outcome.end, StreamEnd::Truncated { discarded_bytes: 0 });
    // `data: [DONE]` without its blank line is not a dispatched event.
    let outcome = relay_whole(RelayConfig::default(), b"data: {}\n\ndata: [DONE]\n");
    assert_eq!(outcome.out, b"data: {}\n\n");
    assert_eq!(
        outcome.end,
        StreamEnd::Truncated {
            discarded_bytes: 13
        }
    );
}

#[test]
fn events_after_the_first_token_are_still_validated() {
    // Past the first token the relay skips the typed read of plain events,
    // not their validation: each of these still stops the stream.
    let valid = [ROLE, CONTENT_1, CONTENT_2].concat();
    for (bad, event) in [
        ("data: not json\n\n", 3),
        ("data: {\"choices\":[],\"usage\":null\n\n", 3),
        ("data: {\"a\":1} trailing\n\n", 3),
        ("data: [1,2]\n\n", 3),
        ("data: \"usage\"\n\n", 3),
    ] {
        let input = format!("{valid}{bad}{FINISH}{USAGE}{DONE}");
        let outcome = relay_whole(RelayConfig::default(), input.as_bytes());
        assert!(outcome.first_token_seen);
        assert_eq!(outcome.out, valid.as_bytes(), "{bad}");
        match outcome.error {
            Some(
                RelayError::InvalidJson { event: e, .. } | RelayError::NotAnObject { event: e },
            ) => {
                assert_eq!(e, event, "{bad}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn non_json_data_is_a_typed_error_after_the_valid_events() {
    let input = format!("{ROLE}data: not json\n\n{CONTENT_1}");
    let outcome = relay_whole(RelayConfig::default(), input.as_bytes());
    assert_eq!(outcome.out, ROLE.as_bytes());
    match outcome.error {
        Some(RelayError::InvalidJson { event: 1, detail }) => {
            assert!(!detail.contains("not json"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let outcome = relay_whole(RelayConfig::default(), b"data: [1,2]\n\n");
    assert_eq!(outcome.error, Some(RelayError::NotAnObject { event: 0 }));
    let outcome = relay_whole(RelayConfig::default(), b"data: {\"a\":\"\xff\"}\n\n");
    assert_eq!(
        outcome.error,
        Some(RelayError::Decode(DecodeError::InvalidUtf8 { line: 0 }))
    );
    assert_eq!(
        outcome.error.unwrap().class(),
        sluice_core::stream::ErrorClass::UpstreamProtocol
    );
}

#[test]
fn huge_lines_fail_at_the_default_one_mib_cap_without_buffering_more() {
    let mut relay = SseRelay::new(RelayConfig::default());
    let mut out = Vec::new();
    relay.feed(b"data: ", &mut out).unwrap();
    let block = vec![b'x'; 64 << 10];
    let mut fed = 6usize;
    let err = loop {
        match relay.feed(&block, &mut out) {
            Ok(_) => fed += block.len(),
            Err(e) => break e,
        }
        assert!(fed <= 1 << 20, "the cap did not trigger");
    };
    assert_eq!(err, RelayError::LineTooLong { limit: 1 << 20 });
    assert!(fed > (1 << 20) - block.len());
    assert!(out.is_empty());
}

#[test]
fn line_cap_is_configurable_and_exact() {
    let config = RelayConfig::default().with_max_line_bytes(13);
    // `data: {"a":1}` is exactly 13 bytes: accepted.
    let ok = relay_whole(config, b"data: {\"a\":1}\r\n\r\ndata: [DONE]\n\n");
    assert_eq!(ok.error, None);
    assert_eq!(ok.out, b"data: {\"a\":1}\r\n\r\ndata: [DONE]\n\n");
    let bad = relay_whole(config, b"data: {\"a\":12}\n\n");
    assert_eq!(bad.error, Some(RelayError::LineTooLong { limit: 13 }));
    assert_eq!(bad.end, StreamEnd::Failed);
}

#[test]
fn memory_stays_flat_over_a_long_stream_and_after_a_big_event() {
    let mut relay = SseRelay::new(strip());
    let mut out = Vec::new();
    let mut peak = 0;
    for i in 0..20_000 {
        out.clear();
        let event = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"tok{i}\"}}}}]}}\n\n");
        for piece in event.as_bytes().chunks(7) {
            relay.feed(piece, &mut out).unwrap();
            peak = peak.max(relay.buffered_capacity());
        }
        assert_eq!(out, event.as_bytes());
    }
    assert!(peak <= 256, "peak buffer {peak} bytes for ~60-byte events");
    // One 512 KiB event is buffered while in flight, then released.
    let big = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(512 << 10)
    );
    out.clear();
    relay.feed(big.as_bytes(), &mut out).unwrap();
    assert_eq!(out, big.as_bytes());
    assert!(relay.buffered_capacity() <= 16 << 10);
}

// ---------------------------------------------------------------------
// Property tests over generated streams.
// ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Piece {
    Content(String),
    Comment,
    Usage(u64, u64),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        6 => any::<String>().prop_map(Piece::Content),
        1 => Just(Piece::Comment),
        1 => (0u64..100_000, 0u64..100_000).prop_map(|(p, c)| Piece::Usage(p, c)),
    ]
}

/// Renders a stream with the given line ending; returns the input, the
/// expected output with and without usage stripping, and the last usage.
fn render(pieces: &[Piece], eol: &str) -> (String, String, String, Option<TokenUsage>) {
    let mut input = String::new();
    let mut kept = String::new();
    let mut stripped = String::new();
    let mut usage = None;
    let mut push = |text: String, is_usage: bool| {
        input.push_str(&text);
        kept.push_str(&text);
        if !is_usage {
            stripped.push_str(&text);
        }
    };
    for piece in pieces {
        match piece {
            Piece::Content(text) => {
                let json = serde_json::json!({
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
                });
                push(format!("data: {json}{eol}{eol}"), false);
            }
            Piece::Comment => push(format!(": keep-alive{eol}{eol}"), false),
            Piece::Usage(p, c) => {
                let u = TokenUsage {
                    prompt_tokens: *p,
                    completion_tokens: *c,
                    total_tokens: p + c,
                };
                usage = Some(u);
                let json = serde_json::json!({"choices": [], "usage": u});
                push(format!("data: {json}{eol}{eol}"), true);
            }
        }
    }
    push(format!("data: [DONE]{eol}{eol}"), false);
    (input, kept, stripped, usage)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn output_is_independent_of_chunk_boundaries(
        pieces in prop::collection::vec(piece(), 0..12),
        eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        points in prop::collection::vec(any::<usize>(), 0..24),
        strip_usage in any::<bool>(),
    ) {
        let (input, kept, stripped, usage) = render(&pieces, eol);
        let config = RelayConfig::default().with_strip_usage(strip_usage);
        let whole = relay_whole(config, input.as_bytes());
        let expected = if strip_usage { &stripped } else { &kept };
        prop_assert_eq!(String::from_utf8(whole.out.clone()).unwrap(), expected.clone());
        prop_assert_eq!(whole.usage, usage);
        prop_assert_eq!(whole.end, StreamEnd::Complete);
        prop_assert_eq!(whole.error.clone(), None);
        let has_token = pieces.iter().any(|p| matches!(p, Piece::Content(t) if !t.is_empty()));
        prop_assert_eq!(whole.first_token_seen, has_token);
        let chunks = split_at_points(input.as_bytes(), &points);
        prop_assert_eq!(&relay_chunks(config, &chunks), &whole);
    }

    #[test]
    fn one_byte_chunks_match_whole_input(
        pieces in prop::collection::vec(piece(), 0..6),
        eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        strip_usage in any::<bool>(),
    ) {
        let (input, ..) = render(&pieces, eol);
        let config = RelayConfig::default().with_strip_usage(strip_usage);
        let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
        prop_assert_eq!(relay_chunks(config, &bytes), relay_whole(config, input.as_bytes()));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_do_not_depend_on_boundaries(
        input in prop::collection::vec(any::<u8>(), 0..300),
        points in prop::collection::vec(any::<usize>(), 0..8),
        strip_usage in any::<bool>(),
    ) {
        let config = RelayConfig::default().with_strip_usage(strip_usage).with_max_line_bytes(64);
        let whole = relay_whole(config, &input);
        let split = relay_chunks(config, &split_at_points(&input, &points));
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn output_is_always_a_prefix_of_whole_events_of_the_input(
        pieces in prop::collection::vec(piece(), 0..8),
        cut in any::<usize>(),
    ) {
        // Whatever point the upstream dies at, the client received only
        // complete events, ending on an event boundary of the input.
        let (input, ..) = render(&pieces, "\n");
        let cut = cut % (input.len() + 1);
        let outcome = relay_whole(RelayConfig::default(), &input.as_bytes()[..cut]);
        prop_assert!(input.as_bytes().starts_with(&outcome.out));
        prop_assert!(outcome.out.is_empty() || outcome.out.ends_with(b"\n\n"));
        if let StreamEnd::Truncated { discarded_bytes } = outcome.end {
            prop_assert_eq!(outcome.out.len() + discarded_bytes, cut);
        } else {
            prop_assert_eq!(cut, input.len());
        }
    }
}
