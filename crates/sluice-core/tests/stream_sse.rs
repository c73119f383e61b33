//! SSE decoder and encoder: WHATWG behaviour, limits, chunk-boundary
//! invariance and the encode → decode round trip.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::stream::sse::{
    encode_comment, encode_error, encode_event, encode_fields, Event, SseDecoder, SseLimits,
};
use sluice_core::stream::{DecodeError, FrameError};
use support::chunks::split_at_points;

/// Decodes `chunks` one after another; returns the events and the first error.
fn decode_chunks(limits: SseLimits, chunks: &[&[u8]]) -> (Vec<Event>, Option<DecodeError>) {
    let mut dec = SseDecoder::with_limits(limits);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    dec.finish();
    (out, None)
}

fn decode(input: &[u8]) -> Vec<Event> {
    let (events, err) = decode_chunks(SseLimits::default(), &[input]);
    assert_eq!(err, None);
    events
}

#[test]
fn joins_data_lines_and_names_events() {
    let events = decode(b"event: add\ndata: 1\ndata:2\n\ndata: x\n\n");
    assert_eq!(
        events,
        [Event::data("1\n2").with_event("add"), Event::data("x")]
    );
}

#[test]
fn crlf_cr_and_lf_are_equivalent_line_endings() {
    let lf = decode(b"data: a\ndata: b\n\nevent: e\ndata: c\n\n");
    let crlf = decode(b"data: a\r\ndata: b\r\n\r\nevent: e\r\ndata: c\r\n\r\n");
    let cr = decode(b"data: a\rdata: b\r\revent: e\rdata: c\r\r");
    assert_eq!(lf, [Event::data("a\nb"), Event::data("c").with_event("e")]);
    assert_eq!(crlf, lf);
    assert_eq!(cr, lf);
}

#[test]
fn crlf_split_across_chunks_is_one_line_break() {
    // "\r" ends one chunk and "\n" starts the next: not an empty line, so
    // the event is dispatched only by the real blank line that follows.
    let (events, err) = decode_chunks(
        SseLimits::default(),
        &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
    );
    assert_eq!(err, None);
    assert_eq!(events, [Event::data("a\nb")]);
}

#[test]
fn strips_exactly_one_space_after_the_colon() {
    let events = decode(b"data:  two\ndata:none\ndata: \n\n");
    assert_eq!(events, [Event::data(" two\nnone\n")]);
}

#[test]
fn field_without_colon_has_empty_value() {
    assert_eq!(decode(b"data\n\n"), [Event::data("")]);
    assert_eq!(decode(b"data\ndata\n\n"), [Event::data("\n")]);
}

#[test]
fn comments_and_unknown_fields_are_ignored() {
    let events = decode(b": hello\nfoo: bar\n:\ndata: x\n: between\n\n");
    assert_eq!(events, [Event::data("x")]);
}

#[test]
fn leading_bom_is_stripped_once_even_when_split() {
    let (events, err) = decode_chunks(SseLimits::default(), &[b"\xEF\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(err, None);
    assert_eq!(events, [Event::data("a")]);
    // A second BOM is part of the field name, which makes it unknown.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), []);
    // A BOM later in the stream is content.
    assert_eq!(
        decode("data: a\n\ndata: \u{feff}b\n\n".as_bytes()),
        [Event::data("a"), Event::data("\u{feff}b")]
    );
}

#[test]
fn blank_line_without_data_dispatches_nothing_and_resets_the_type() {
    let events = decode(b"event: a\n\ndata: x\n\n");
    assert_eq!(events, [Event::data("x")]);
    let events = decode(b"event: a\nid: 7\n\ndata: x\n\n");
    assert_eq!(events, [Event::data("x")]);
}

#[test]
fn id_rules_follow_the_standard() {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.feed(
        b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n",
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        [
            Event::data("a").with_id("1"),
            Event::data("b"),
            Event::data("c"),
            Event::data("d").with_id(""),
        ]
    );
    assert_eq!(dec.last_event_id(), "");
    let mut dec = SseDecoder::new();
    dec.feed(b"id: 5\ndata: a\n\ndata: b\n\n", &mut out)
        .unwrap();
    assert_eq!(dec.last_event_id(), "5");
}

#[test]
fn retry_accepts_only_ascii_digits() {
    let events = decode(b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\nretry: -1\ndata: c\n\nretry:\ndata: d\n\nretry: 99999999999999999999999\ndata: e\n\n");
    assert_eq!(
        events,
        [
            Event::data("a").with_retry(1500),
            Event::data("b"),
            Event::data("c"),
            Event::data("d"),
            Event::data("e"),
        ]
    );
}

#[test]
fn event_type_and_empty_name() {
    assert_eq!(decode(b"event:\ndata: a\n\n"), [Event::data("a")]);
    assert_eq!(
        decode(b"event: one\nevent: two\ndata: a\n\n"),
        [Event::data("a").with_event("two")]
    );
}

#[test]
fn incomplete_event_at_end_is_discarded_and_reported() {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.feed(b"data: a\n\ndata: b\n", &mut out).unwrap();
    assert!(
        dec.finish(),
        "a pending event must be reported as discarded"
    );
    assert_eq!(out, [Event::data("a")]);

    let mut dec = SseDecoder::new();
    dec.feed(b"data: a\n\n", &mut out).unwrap();
    assert!(!dec.finish());
}

#[test]
fn line_over_the_limit_is_a_typed_error() {
    let limits = SseLimits::default().with_max_line_bytes(8);
    // Exactly 8 bytes is fine.
    let (events, err) = decode_chunks(limits, &[b"data: ab\n\n"]);
    assert_eq!((events, err), (vec![Event::data("ab")], None));
    // 9 bytes fails on the line's index, even before the line ends.
    let (events, err) = decode_chunks(limits, &[b"data: a\n\n", b"data: abc"]);
    assert_eq!(events, [Event::data("a")]);
    assert_eq!(err, Some(DecodeError::LineTooLong { line: 2, limit: 8 }));
}

#[test]
fn default_line_limit_is_one_mebibyte() {
    let mut line = b"data: ".to_vec();
    line.resize((1 << 20) + 1, b'x');
    let mut dec = SseDecoder::new();
    let err = dec.feed(&line, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::LineTooLong {
            line: 0,
            limit: 1 << 20
        }
    );
}

#[test]
fn event_data_over_the_limit_is_a_typed_error() {
    let limits = SseLimits::default().with_max_data_bytes(6);
    // "ab\ncd" plus the pending '\n' is 6 bytes: allowed.
    let (events, err) = decode_chunks(limits, &[b"data: ab\ndata: cd\n\n"]);
    assert_eq!((events, err), (vec![Event::data("ab\ncd")], None));
    let (_, err) = decode_chunks(limits, &[b"data: ab\ndata: cde\n\n"]);
    assert_eq!(err, Some(DecodeError::EventTooLarge { line: 1, limit: 6 }));
}

#[test]
fn invalid_utf8_is_a_typed_error_and_poisons() {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    let err = dec
        .feed(b"data: ok\n\ndata: \xff\n\n", &mut out)
        .unwrap_err();
    assert_eq!(err, DecodeError::InvalidUtf8 { line: 2 });
    assert_eq!(out, [Event::data("ok")]);
    assert_eq!(
        dec.feed(b"data: more\n\n", &mut out),
        Err(DecodeError::Poisoned)
    );
}

#[test]
fn utf8_split_inside_a_character_decodes() {
    let text = "data: h\u{e9}llo \u{1f600}\n\n".as_bytes();
    for cut in 0..text.len() {
        let (events, err) = decode_chunks(SseLimits::default(), &[&text[..cut], &text[cut..]]);
        assert_eq!(err, None);
        assert_eq!(events, [Event::data("h\u{e9}llo \u{1f600}")]);
    }
}

#[test]
fn encoder_exact_bytes() {
    let mut out = Vec::new();
    encode_event(
        &Event::data("line1\nline2\r\nline3\rline4")
            .with_event("token")
            .with_id("42")
            .with_retry(3000),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "event: token\nid: 42\nretry: 3000\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n"
    );

    let mut out = Vec::new();
    encode_event(&Event::data(""), &mut out).unwrap();
    encode_event(&Event::data("\n"), &mut out).unwrap();
    encode_event(&Event::data(" lead"), &mut out).unwrap();
    assert_eq!(out, b"data:\n\ndata:\ndata:\n\ndata:  lead\n\n");
}

#[test]
fn encoder_rejects_unframeable_names_and_ids() {
    let mut out = Vec::new();
    assert_eq!(
        encode_event(&Event::data("x").with_event("a\nb"), &mut out),
        Err(FrameError::EventNameHasNewline)
    );
    assert_eq!(
        encode_event(&Event::data("x").with_id("a\rb"), &mut out),
        Err(FrameError::InvalidId)
    );
    assert_eq!(
        encode_event(&Event::data("x").with_id("a\0b"), &mut out),
        Err(FrameError::InvalidId)
    );
    assert!(out.is_empty(), "a rejected event writes nothing");
}

#[test]
fn fields_only_block_dispatches_nothing_but_sets_the_id() {
    let mut out = Vec::new();
    encode_fields(None, Some("9"), Some(500), None, &mut out).unwrap();
    assert_eq!(out, b"id: 9\nretry: 500\n\n");
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.feed(&out, &mut events).unwrap();
    assert!(events.is_empty());
    assert_eq!(dec.last_event_id(), "9");
}

#[test]
fn comments_and_error_event_framing() {
    let mut out = Vec::new();
    encode_comment("keep\nalive", &mut out);
    encode_comment("", &mut out);
    assert_eq!(out, b": keep\n: alive\n:\n");

    let mut out = Vec::new();
    encode_error("upstream_status", "bad \"gateway\"\nline", &mut out);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "event: error\ndata: {\"class\":\"upstream_status\",\"message\":\"bad \\\"gateway\\\"\\nline\"}\n\n"
    );
    let events = decode(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.as_deref(), Some("error"));
    let body: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(body["message"], "bad \"gateway\"\nline");
}

/// SSE-ish input: mostly protocol fragments so fields, CR/LF mixes, BOMs,
/// NULs and invalid bytes all occur often.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"id: ".to_vec()),
        Just(b"retry: ".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\0".to_vec()),
        Just("\u{e9}\u{1f600}".as_bytes().to_vec()),
        Just(b"123".to_vec()),
        Just(b"\xff".to_vec()),
        "[a-z]{0,6}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

fn event_strategy() -> impl Strategy<Value = Event> {
    (
        proptest::option::of("[^\r\n]{0,12}"),
        any::<String>(),
        proptest::option::of("[^\r\n\0]{0,12}"),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(event, data, id, retry)| Event {
            event,
            data,
            id,
            retry,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_is_independent_of_chunk_boundaries(
        input in sse_bytes(),
        points in proptest::collection::vec(any::<usize>(), 0..12),
        max_line in 4usize..64,
    ) {
        let limits = SseLimits::default().with_max_line_bytes(max_line).with_max_data_bytes(96);
        let whole = decode_chunks(limits, &[&input]);
        let split = decode_chunks(limits, &split_at_points(&input, &points));
        prop_assert_eq!(&whole, &split);
        // Byte at a time is the most adversarial split.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&whole, &decode_chunks(limits, &bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_are_split_invariant(
        input in proptest::collection::vec(any::<u8>(), 0..300),
        points in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = decode_chunks(SseLimits::default(), &[&input]);
        let split = decode_chunks(SseLimits::default(), &split_at_points(&input, &points));
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn encode_then_decode_round_trips(events in proptest::collection::vec(event_strategy(), 0..8)) {
        let mut wire = Vec::new();
        for event in &events {
            encode_event(event, &mut wire).unwrap();
        }
        let decoded = decode(&wire);
        let expected: Vec<Event> = events
            .into_iter()
            .map(|e| Event {
                event: e.event.filter(|n| !n.is_empty()),
                data: e.data.replace("\r\n", "\n").replace('\r', "\n"),
                id: e.id,
                retry: e.retry,
            })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn decode_encode_decode_is_stable(input in sse_bytes()) {
        // Whatever an upstream sends, re-framing what we decoded yields the
        // same events: the property `passthrough` relies on.
        let (events, _) = decode_chunks(SseLimits::default(), &[&input]);
        let mut wire = Vec::new();
        for event in &events {
            encode_event(event, &mut wire).unwrap();
        }
        prop_assert_eq!(decode(&wire), events);
    }
}

#[test]
fn recycled_events_lend_their_buffer_to_the_next_event_without_changing_it() {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    let long = format!("data: {}\n\n", "a".repeat(1_000));
    dec.feed(long.as_bytes(), &mut out).unwrap();
    let first = out.pop().unwrap();
    assert_eq!(first.data.len(), 1_000);
    dec.recycle(first);
    dec.feed(b"event: x\ndata: two\ndata: lines\n\n", &mut out)
        .unwrap();
    assert_eq!(out, [Event::data("two\nlines").with_event("x")]);
    // A fresh buffer for 9 bytes would be far smaller.
    assert!(
        out[0].data.capacity() >= 1_000,
        "{}",
        out[0].data.capacity()
    );

    // A large event's buffer is kept, but shrunk to 16 KiB.
    let big = format!("data: {}\n\n", "x".repeat(100_000));
    out.clear();
    dec.feed(big.as_bytes(), &mut out).unwrap();
    dec.recycle(out.pop().unwrap());
    dec.feed(b"data: small\n\n", &mut out).unwrap();
    assert_eq!(out, [Event::data("small")]);
    assert!(
        out[0].data.capacity() <= 16 << 10,
        "{}",
        out[0].data.capacity()
    );
}
