//! `lines` and NDJSON decoders: framing, limits, typed errors and
//! chunk-boundary invariance.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::stream::{lines, ndjson, DecodeError};
use support::chunks::split_at_points;

fn lines_chunks(max: usize, chunks: &[&[u8]]) -> (Vec<lines::Line>, Option<DecodeError>) {
    let mut dec = lines::LineDecoder::with_max_record_bytes(max);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    let err = dec.finish(&mut out).err();
    (out, err)
}

fn ndjson_chunks(max: usize, chunks: &[&[u8]]) -> (Vec<ndjson::Record>, Option<DecodeError>) {
    let mut dec = ndjson::NdjsonDecoder::with_max_record_bytes(max);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    let err = dec.finish(&mut out).err();
    (out, err)
}

fn texts(lines: &[lines::Line]) -> Vec<(u64, &str)> {
    lines.iter().map(|l| (l.index, l.text.as_str())).collect()
}

#[test]
fn lines_split_on_lf_and_tolerate_crlf() {
    let (out, err) = lines_chunks(1 << 20, &[b"a\r\nb\n\nc\rd\ne"]);
    assert_eq!(err, None);
    assert_eq!(
        texts(&out),
        [(0, "a"), (1, "b"), (2, ""), (3, "c\rd"), (4, "e")]
    );
}

#[test]
fn lines_final_unterminated_record_is_emitted_at_finish_only() {
    let mut dec = lines::LineDecoder::new();
    let mut out = Vec::new();
    dec.feed(b"first\nsecond", &mut out).unwrap();
    assert_eq!(texts(&out), [(0, "first")]);
    dec.finish(&mut out).unwrap();
    assert_eq!(texts(&out), [(0, "first"), (1, "second")]);
    // A stream ending in "\n" has no extra empty record, and a trailing
    // "\r" at the very end is dropped like the "\r" of a CRLF.
    let (out, _) = lines_chunks(100, &[b"x\n"]);
    assert_eq!(texts(&out), [(0, "x")]);
    let (out, _) = lines_chunks(100, &[b"x\r"]);
    assert_eq!(texts(&out), [(0, "x")]);
}

#[test]
fn lines_finish_twice_does_not_repeat_the_tail() {
    let mut dec = lines::LineDecoder::new();
    let mut out = Vec::new();
    dec.feed(b"tail", &mut out).unwrap();
    dec.finish(&mut out).unwrap();
    assert_eq!(dec.finish(&mut out), Err(DecodeError::Poisoned));
    assert_eq!(out.len(), 1);
}

#[test]
fn record_limit_is_exact_and_excludes_the_terminator() {
    // 4 content bytes with a CRLF is within a 4-byte limit, split or not.
    assert_eq!(lines_chunks(4, &[b"abcd\r\n"]).1, None);
    assert_eq!(lines_chunks(4, &[b"abcd\r", b"\n"]).1, None);
    assert_eq!(lines_chunks(4, &[b"abcd"]).1, None);
    assert_eq!(
        lines_chunks(4, &[b"ok\nabcde\n"]),
        (
            vec![lines::Line {
                index: 0,
                text: "ok".into()
            }],
            Some(DecodeError::LineTooLong { line: 1, limit: 4 })
        )
    );
    // Detected before the line ends, so an endless line never buffers more
    // than limit + 1 bytes.
    let mut dec = lines::LineDecoder::with_max_record_bytes(4);
    assert_eq!(
        dec.feed(b"abcdef", &mut Vec::new()),
        Err(DecodeError::LineTooLong { line: 0, limit: 4 })
    );
}

#[test]
fn default_record_limit_is_one_mebibyte() {
    let mut dec = ndjson::NdjsonDecoder::new();
    let big = vec![b' '; (1 << 20) + 2];
    assert_eq!(
        dec.feed(&big, &mut Vec::new()),
        Err(DecodeError::LineTooLong {
            line: 0,
            limit: 1 << 20
        })
    );
    let mut dec = lines::LineDecoder::new();
    let mut exact = vec![b'x'; 1 << 20];
    exact.push(b'\n');
    let mut out = Vec::new();
    dec.feed(&exact, &mut out).unwrap();
    assert_eq!(out[0].text.len(), 1 << 20);
}

#[test]
fn invalid_utf8_names_the_line() {
    assert_eq!(
        lines_chunks(100, &[b"ok\n\xc3(\n"]).1,
        Some(DecodeError::InvalidUtf8 { line: 1 })
    );
    assert_eq!(
        ndjson_chunks(100, &[b"{}\n\"\xff\"\n"]).1,
        Some(DecodeError::InvalidUtf8 { line: 1 })
    );
}

#[test]
fn ndjson_parses_records_and_keeps_their_text() {
    let (out, err) = ndjson_chunks(
        1 << 20,
        &[b"{\"a\": 1}\r\n\n  \n{\"b\":\"x\\ny\"}\n[1,2]\n\"s\"\n7"],
    );
    assert_eq!(err, None);
    let summary: Vec<(u64, &str)> = out.iter().map(|r| (r.index, r.text.as_str())).collect();
    assert_eq!(
        summary,
        [
            (0, "{\"a\": 1}"),
            (3, "{\"b\":\"x\\ny\"}"),
            (4, "[1,2]"),
            (5, "\"s\""),
            (6, "7")
        ]
    );
    assert_eq!(out[1].value["b"], "x\ny");
}

#[test]
fn ndjson_non_json_record_is_a_typed_error_with_its_index() {
    let (out, err) = ndjson_chunks(1 << 20, &[b"{\"ok\":1}\n\nnot json\n{\"never\":1}\n"]);
    assert_eq!(out.len(), 1, "records before the bad one are kept");
    match err {
        Some(DecodeError::InvalidJson { line, message }) => {
            assert_eq!(line, 2);
            assert!(!message.is_empty());
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    // Two values on one line are not one record.
    assert!(matches!(
        ndjson_chunks(100, &[b"{} {}\n"]).1,
        Some(DecodeError::InvalidJson { line: 0, .. })
    ));
    // A truncated final record fails at finish().
    let mut dec = ndjson::NdjsonDecoder::new();
    let mut out = Vec::new();
    dec.feed(b"{\"a\":1}\n{\"a\":", &mut out).unwrap();
    assert!(matches!(
        dec.finish(&mut out),
        Err(DecodeError::InvalidJson { line: 1, .. })
    ));
}

#[test]
fn ndjson_is_poisoned_after_an_error() {
    let mut dec = ndjson::NdjsonDecoder::new();
    let mut out = Vec::new();
    assert!(dec.feed(b"nope\n", &mut out).is_err());
    assert_eq!(dec.feed(b"{}\n", &mut out), Err(DecodeError::Poisoned));
    assert_eq!(dec.finish(&mut out), Err(DecodeError::Poisoned));
    assert!(out.is_empty());
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let mut line = "[".repeat(100_000);
    line.push('\n');
    assert!(matches!(
        ndjson_chunks(1 << 20, &[line.as_bytes()]).1,
        Some(DecodeError::InvalidJson { line: 0, .. })
    ));
}

fn ndjson_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{\"response\":\"hi\",\"done\":false}".to_vec()),
        Just(b"{\"message\":{\"content\":\"\\u00e9\\n\"}}".to_vec()),
        Just(b"[1,2,3]".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"  ".to_vec()),
        Just(b"{\"a\":".to_vec()),
        Just("\"\u{1f600}\"".as_bytes().to_vec()),
        Just(b"\xff".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lines_are_independent_of_chunk_boundaries(
        input in ndjson_bytes(),
        points in proptest::collection::vec(any::<usize>(), 0..12),
        max in 1usize..64,
    ) {
        let whole = lines_chunks(max, &[&input]);
        prop_assert_eq!(&whole, &lines_chunks(max, &split_at_points(&input, &points)));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&whole, &lines_chunks(max, &bytes));
    }

    #[test]
    fn ndjson_is_independent_of_chunk_boundaries(
        input in ndjson_bytes(),
        points in proptest::collection::vec(any::<usize>(), 0..12),
        max in 1usize..96,
    ) {
        let whole = ndjson_chunks(max, &[&input]);
        prop_assert_eq!(&whole, &ndjson_chunks(max, &split_at_points(&input, &points)));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&whole, &ndjson_chunks(max, &bytes));
    }

    #[test]
    fn lines_round_trip_any_text_without_newlines(
        records in proptest::collection::vec("[^\n]*", 0..10),
        crlf in any::<bool>(),
        points in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        // A record ending in '\r' would be ambiguous with CRLF; exclude it.
        let records: Vec<String> = records.into_iter().map(|r| r.trim_end_matches('\r').to_owned()).collect();
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut wire = String::new();
        for r in &records {
            wire.push_str(r);
            wire.push_str(sep);
        }
        let (out, err) = lines_chunks(1 << 20, &split_at_points(wire.as_bytes(), &points));
        prop_assert_eq!(err, None);
        let got: Vec<String> = out.into_iter().map(|l| l.text).collect();
        prop_assert_eq!(got, records);
    }
}
