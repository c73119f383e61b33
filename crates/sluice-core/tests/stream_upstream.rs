//! Upstream plans end to end at the sans-IO level: NDJSON/SSE/lines in,
//! exact SSE or text bytes out, done conditions, failures before and after
//! the first token, and chunk-boundary invariance.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
use sluice_core::stream::{DownstreamStep, ResponseHead, UpstreamFailure, UpstreamSession};
use support::chunks::split_at_points;

fn policy() -> PlanPolicy {
    PlanPolicy::new(["ollama", "openai"])
}

fn plan(json: &str) -> ValidatedPlan {
    ValidatedPlan::parse(json.as_bytes(), &policy()).unwrap()
}

const OLLAMA_CHAT_SSE: &str = r#"{
  "backend": "ollama", "method": "POST", "path": "/api/chat",
  "body": {"json": {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": true}},
  "codec": "ndjson",
  "mapper": {"kind": "text_field", "pointers": ["/message/content", "/response"]},
  "done": {"kind": "pointer_equals", "pointer": "/done", "value": true},
  "output": "sse",
  "sse": {"token_event": "token", "final": {"event": "done", "data": "[DONE]"}},
  "response_headers": {"x-model": "llama3.2"}
}"#;

const OLLAMA_CHAT_TEXT: &str = r#"{
  "backend": "ollama", "method": "POST", "path": "/api/chat",
  "codec": "ndjson",
  "mapper": {"kind": "text_field", "pointers": ["/message/content", "/response"]},
  "done": {"kind": "pointer_equals", "pointer": "/done", "value": true},
  "output": "text"
}"#;

const OPENAI_SSE: &str = r#"{
  "backend": "openai", "method": "POST", "path": "/v1/chat/completions",
  "codec": "sse",
  "mapper": {"kind": "text_field", "pointers": ["/choices/0/delta/content"]},
  "done": {"kind": "sentinel", "data": "[DONE]"},
  "output": "sse",
  "sse": {"final": {"data": "[DONE]"}}
}"#;

/// Ollama `/api/chat` NDJSON with tokens containing newlines, unicode and an
/// empty token, then the done record (which carries an empty token).
const OLLAMA_BODY: &str = concat!(
    r#"{"model":"llama3.2","message":{"role":"assistant","content":"Hel"},"done":false}"#,
    "\n",
    r#"{"model":"llama3.2","message":{"role":"assistant","content":"lo\nwor\r\nld"},"done":false}"#,
    "\n",
    r#"{"model":"llama3.2","message":{"role":"assistant","content":""},"done":false}"#,
    "\n",
    r#"{"model":"llama3.2","message":{"role":"assistant","content":" h\u00e9 \ud83d\ude00"},"done":false}"#,
    "\n",
    r#"{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"eval_count":4}"#,
    "\n",
);

/// Everything an adapter would do with the outputs of one run.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    head: Option<ResponseHead>,
    heads_sent: usize,
    bytes: Vec<u8>,
    next: DownstreamStep,
    /// Byte offset in `bytes` at which the head was sent (must be 0).
    head_before_bytes: bool,
}

fn drive(session: &mut UpstreamSession, chunks: &[&[u8]]) -> Run {
    let mut run = Run {
        head: None,
        heads_sent: 0,
        bytes: Vec::new(),
        next: DownstreamStep::Continue,
        head_before_bytes: true,
    };
    let mut outputs = vec![session.response_status(200)];
    for chunk in chunks {
        if outputs.last().unwrap().next.is_terminal() {
            break;
        }
        outputs.push(session.feed(chunk));
    }
    if !outputs.last().unwrap().next.is_terminal() {
        outputs.push(session.finish());
    }
    for out in outputs {
        if let Some(head) = out.head {
            run.heads_sent += 1;
            run.head_before_bytes &= run.bytes.is_empty();
            run.head = Some(head);
        }
        if !out.bytes.is_empty() && run.head.is_none() {
            run.head_before_bytes = false;
        }
        run.bytes.extend_from_slice(&out.bytes);
        run.next = out.next;
    }
    run
}

fn text(run: &Run) -> &str {
    std::str::from_utf8(&run.bytes).unwrap()
}

#[test]
fn ollama_chat_ndjson_to_sse_exact_bytes() {
    let p = plan(OLLAMA_CHAT_SSE);
    let run = drive(&mut p.session(), &[OLLAMA_BODY.as_bytes()]);
    assert_eq!(
        text(&run),
        concat!(
            "event: token\ndata: Hel\n\n",
            "event: token\ndata: lo\ndata: wor\ndata: ld\n\n",
            "event: token\ndata:  h\u{e9} \u{1f600}\n\n",
            "event: done\ndata: [DONE]\n\n",
        )
    );
    assert_eq!(run.next, DownstreamStep::Finish);
    assert_eq!(run.heads_sent, 1);
    assert!(run.head_before_bytes);
    let head = run.head.unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers,
        [
            (
                "content-type".to_owned(),
                "text/event-stream; charset=utf-8".to_owned()
            ),
            ("cache-control".to_owned(), "no-cache".to_owned()),
            ("x-model".to_owned(), "llama3.2".to_owned()),
        ]
    );
}

#[test]
fn ollama_chat_ndjson_to_text_exact_bytes() {
    let p = plan(OLLAMA_CHAT_TEXT);
    let run = drive(&mut p.session(), &[OLLAMA_BODY.as_bytes()]);
    assert_eq!(text(&run), "Hello\nwor\r\nld h\u{e9} \u{1f600}");
    assert_eq!(run.next, DownstreamStep::Finish);
    assert_eq!(
        run.head.unwrap().header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn first_token_is_emitted_before_the_upstream_ends() {
    let p = plan(OLLAMA_CHAT_SSE);
    let mut s = p.session();
    assert!(!s.first_byte_sent());
    let out = s.feed(b"{\"message\":{\"content\":\"A\"},\"done\":false}\n{\"mess");
    assert_eq!(out.bytes, b"event: token\ndata: A\n\n");
    assert_eq!(out.next, DownstreamStep::Continue);
    assert!(out.head.is_some());
    assert!(s.first_byte_sent());
    // A record without a matching field produces nothing and no head again.
    let out = s.feed(b"age\":{\"role\":\"assistant\"},\"done\":false}\n");
    assert_eq!(
        (out.head, out.bytes, out.next),
        (None, vec![], DownstreamStep::Continue)
    );
}

#[test]
fn generate_endpoint_uses_the_fallback_pointer() {
    let p = plan(OLLAMA_CHAT_TEXT);
    let body = "{\"response\":\"The\",\"done\":false}\n{\"response\":\" sky\",\"done\":false}\n{\"response\":\"\",\"done\":true,\"context\":[1,2]}\n";
    let run = drive(&mut p.session(), &[body.as_bytes()]);
    assert_eq!(text(&run), "The sky");
    assert_eq!(run.next, DownstreamStep::Finish);
}

#[test]
fn done_record_is_mapped_before_ending_and_later_records_are_ignored() {
    let p = plan(OLLAMA_CHAT_TEXT);
    let body = "{\"response\":\"a\"}\n{\"response\":\"b\",\"done\":true}\n{\"response\":\"c\"}\nnot json\n";
    let mut s = p.session();
    let run = drive(&mut s, &[body.as_bytes()]);
    assert_eq!(text(&run), "ab");
    assert_eq!(run.next, DownstreamStep::Finish);
    // After the end every call repeats the terminal state with no bytes.
    let again = s.feed(b"{\"response\":\"d\"}\n");
    assert_eq!(
        (again.head, again.bytes, again.next),
        (None, vec![], DownstreamStep::Finish)
    );
    assert_eq!(s.finish().next, DownstreamStep::Finish);
}

#[test]
fn openai_sse_to_sse_with_done_sentinel() {
    let p = plan(OPENAI_SSE);
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\" there\\nfriend\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"ignored\"}}]}\n\n",
    );
    let run = drive(&mut p.session(), &[body.as_bytes()]);
    assert_eq!(
        text(&run),
        "data: Hi\n\ndata:  there\ndata: friend\n\ndata: [DONE]\n\n"
    );
    assert_eq!(run.next, DownstreamStep::Finish);
}

#[test]
fn sse_field_relays_structured_values_as_compact_json() {
    let p = plan(
        r#"{"backend":"openai","method":"POST","path":"/v1/chat/completions","codec":"sse",
            "mapper":{"kind":"sse_field","pointers":["/choices/0/delta"]},
            "done":{"kind":"sentinel","data":"[DONE]"},"output":"sse",
            "sse":{"token_event":"delta"}}"#,
    );
    let body = "data: {\"choices\":[{\"delta\":{ \"content\" : \"x\" }}]}\n\ndata: {\"choices\":[{\"delta\":null}]}\n\ndata: [DONE]\n\n";
    let run = drive(&mut p.session(), &[body.as_bytes()]);
    assert_eq!(text(&run), "event: delta\ndata: {\"content\":\"x\"}\n\n");
}

#[test]
fn passthrough_keeps_records_and_sse_metadata() {
    // NDJSON → text: each record's exact text plus a newline.
    let p = plan(
        r#"{"backend":"ollama","method":"GET","path":"/feed","codec":"ndjson",
            "mapper":{"kind":"passthrough"},"output":"text"}"#,
    );
    let run = drive(&mut p.session(), &[b"{ \"a\" : 1 }\r\n\n[2]"]);
    assert_eq!(text(&run), "{ \"a\" : 1 }\n[2]\n");
    assert_eq!(run.next, DownstreamStep::Finish);

    // lines → SSE: empty lines are records too; a sentinel line ends it.
    let p = plan(
        r#"{"backend":"ollama","method":"GET","path":"/log","codec":"lines",
            "mapper":{"kind":"passthrough"},"done":{"kind":"sentinel","data":"EOF"},"output":"sse"}"#,
    );
    let run = drive(&mut p.session(), &[b"one\r\n\nthree\nEOF\nlater\n"]);
    assert_eq!(text(&run), "data: one\n\ndata:\n\ndata: three\n\n");

    // SSE → SSE passthrough keeps event names, ids and retry.
    let p = plan(
        r#"{"backend":"openai","method":"GET","path":"/events","codec":"sse",
            "mapper":{"kind":"passthrough"},"output":"sse"}"#,
    );
    let run = drive(
        &mut p.session(),
        &[b"event: tick\nid: 1\nretry: 500\ndata: a\ndata: b\n\ndata: plain\n\n"],
    );
    assert_eq!(
        text(&run),
        "event: tick\nid: 1\nretry: 500\ndata: a\ndata: b\n\ndata: plain\n\n"
    );
}

#[test]
fn without_a_done_condition_end_of_body_completes() {
    let p = plan(
        r#"{"backend":"ollama","method":"POST","path":"/api/generate","codec":"ndjson",
            "mapper":{"kind":"text_field","pointers":["/response"]},"output":"sse",
            "sse":{"final":{"event":"end","data":""}}}"#,
    );
    let run = drive(&mut p.session(), &[b"{\"response\":\"x\"}"]);
    assert_eq!(text(&run), "data: x\n\nevent: end\ndata:\n\n");
    assert_eq!(run.next, DownstreamStep::Finish);
    // An empty upstream body completes too: head, final event, clean end.
    let run = drive(&mut p.session(), &[]);
    assert_eq!(text(&run), "event: end\ndata:\n\n");
    assert_eq!(run.heads_sent, 1);
}

#[test]
fn truncated_upstream_before_first_token_is_a_502() {
    let p = plan(OLLAMA_CHAT_SSE);
    let run = drive(
        &mut p.session(),
        &[b"{\"message\":{\"content\":\"\"},\"done\":false}\n"],
    );
    assert_eq!(run.bytes, b"");
    assert_eq!(run.heads_sent, 0);
    match run.next {
        DownstreamStep::Reject(r) => assert_eq!(r.class, "upstream_truncated"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn truncated_upstream_after_first_token_ends_with_an_error_event() {
    let p = plan(OLLAMA_CHAT_SSE);
    let run = drive(
        &mut p.session(),
        &[b"{\"message\":{\"content\":\"a\"},\"done\":false}\n"],
    );
    assert_eq!(
        text(&run),
        "event: token\ndata: a\n\nevent: error\ndata: {\"class\":\"upstream_truncated\",\"message\":\"upstream ended before its done condition\"}\n\n"
    );
    assert_eq!(run.next, DownstreamStep::Finish);
    // The same in text output aborts after the token.
    let p = plan(OLLAMA_CHAT_TEXT);
    let run = drive(
        &mut p.session(),
        &[b"{\"message\":{\"content\":\"a\"},\"done\":false}\n"],
    );
    assert_eq!((text(&run), &run.next), ("a", &DownstreamStep::Abort));
}

#[test]
fn sse_upstream_cut_inside_an_event_is_truncated() {
    let p = plan(OPENAI_SSE);
    let run = drive(
        &mut p.session(),
        &[b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho"],
    );
    assert!(text(&run).ends_with(
        "event: error\ndata: {\"class\":\"upstream_truncated\",\"message\":\"upstream ended inside an SSE event\"}\n\n"
    ));
}

#[test]
fn non_json_record_before_first_token_is_a_502_with_class() {
    let p = plan(OLLAMA_CHAT_SSE);
    let run = drive(&mut p.session(), &[b"<html>502 Bad Gateway</html>\n"]);
    assert_eq!(run.heads_sent, 0);
    assert_eq!(run.bytes, b"");
    match run.next {
        DownstreamStep::Reject(r) => {
            assert_eq!(r.class, "upstream_protocol");
            assert!(r.message.contains("record 0"), "{}", r.message);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn non_json_record_after_first_token_becomes_an_error_event_never_a_panic() {
    let p = plan(OLLAMA_CHAT_SSE);
    let body = b"{\"message\":{\"content\":\"ok\"}}\nnot json at all\n{\"message\":{\"content\":\"never\"}}\n";
    let run = drive(&mut p.session(), &[body]);
    let t = text(&run);
    assert!(t.starts_with("event: token\ndata: ok\n\nevent: error\ndata: {\"class\":\"upstream_protocol\",\"message\":\"NDJSON record 1 is not JSON: "), "{t}");
    assert!(t.ends_with("\"}\n\n") && !t.contains("never"));
    assert_eq!(run.next, DownstreamStep::Finish);

    let p = plan(OLLAMA_CHAT_TEXT);
    let run = drive(&mut p.session(), &[body]);
    assert_eq!((text(&run), &run.next), ("ok", &DownstreamStep::Abort));
}

#[test]
fn openai_non_json_data_is_an_error() {
    let p = plan(OPENAI_SSE);
    let run = drive(
        &mut p.session(),
        &[b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: oops\n\n"],
    );
    assert!(text(&run).contains("event: error\ndata: {\"class\":\"upstream_protocol\",\"message\":\"SSE event 1 data is not JSON"));
}

#[test]
fn record_over_the_plan_limit_is_an_error() {
    let p = plan(
        r#"{"backend":"ollama","method":"POST","path":"/api/generate","codec":"ndjson",
            "mapper":{"kind":"text_field","pointers":["/response"]},"output":"sse",
            "limits":{"max_record_bytes":32}}"#,
    );
    let run = drive(
        &mut p.session(),
        &[b"{\"response\":\"short\"}\n{\"response\":\"this record is far too long\"}\n"],
    );
    assert_eq!(
        text(&run),
        "data: short\n\nevent: error\ndata: {\"class\":\"upstream_protocol\",\"message\":\"line 1 is longer than 32 bytes\"}\n\n"
    );
}

#[test]
fn upstream_status_and_io_failures() {
    let p = plan(OLLAMA_CHAT_SSE);
    let mut s = p.session();
    match s.response_status(503).next {
        DownstreamStep::Reject(r) => assert_eq!(
            (r.class.as_str(), r.message.as_str()),
            ("upstream_status", "upstream answered 503")
        ),
        other => panic!("{other:?}"),
    }
    let mut s = p.session();
    match s.fail(UpstreamFailure::Connect("refused".into())).next {
        DownstreamStep::Reject(r) => assert_eq!(r.class, "upstream_connect"),
        other => panic!("{other:?}"),
    }
    let mut s = p.session();
    match s.fail(UpstreamFailure::Timeout).next {
        DownstreamStep::Reject(r) => assert_eq!(r.class, "upstream_timeout"),
        other => panic!("{other:?}"),
    }
    // After the first token a reset becomes an error event and a clean end.
    let mut s = p.session();
    let first = s.feed(b"{\"message\":{\"content\":\"a\"}}\n");
    assert!(first.head.is_some());
    let out = s.fail(UpstreamFailure::Read("connection reset".into()));
    assert_eq!(out.head, None, "the head was already sent");
    assert_eq!(
        out.bytes,
        b"event: error\ndata: {\"class\":\"upstream_read\",\"message\":\"connection reset\"}\n\n"
    );
    assert_eq!(out.next, DownstreamStep::Finish);
    // Text output aborts instead.
    let p = plan(OLLAMA_CHAT_TEXT);
    let mut s = p.session();
    s.feed(b"{\"message\":{\"content\":\"a\"}}\n");
    let out = s.fail(UpstreamFailure::Timeout);
    assert_eq!((out.bytes, out.next), (vec![], DownstreamStep::Abort));
}

#[test]
fn stats_count_records_tokens_and_bytes() {
    let p = plan(OLLAMA_CHAT_TEXT);
    let mut s = p.session();
    drive(&mut s, &[OLLAMA_BODY.as_bytes()]);
    let stats = s.stats();
    assert_eq!((stats.records, stats.tokens), (5, 3));
    assert_eq!(
        stats.bytes_out,
        "Hello\nwor\r\nld h\u{e9} \u{1f600}".len() as u64
    );
}

fn token_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\r".to_owned()),
        Just("\u{1f600}".to_owned()),
        Just("data: x".to_owned()),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn session_output_is_independent_of_chunk_boundaries(
        tokens in proptest::collection::vec(token_strategy(), 0..12),
        garbage in proptest::option::of("[a-z{]{1,5}"),
        points in proptest::collection::vec(any::<usize>(), 0..16),
        sse in any::<bool>(),
    ) {
        let mut body = String::new();
        for t in &tokens {
            body.push_str(&serde_json::json!({"message": {"content": t}, "done": false}).to_string());
            body.push('\n');
        }
        if let Some(g) = garbage {
            body.push_str(&g);
            body.push('\n');
        }
        body.push_str("{\"message\":{\"content\":\"\"},\"done\":true}\n");
        let p = plan(if sse { OLLAMA_CHAT_SSE } else { OLLAMA_CHAT_TEXT });
        let whole = drive(&mut p.session(), &[body.as_bytes()]);
        let split = drive(&mut p.session(), &split_at_points(body.as_bytes(), &points));
        prop_assert_eq!(&whole, &split);
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        prop_assert_eq!(&whole, &drive(&mut p.session(), &bytes));
        prop_assert!(whole.head_before_bytes);
        prop_assert!(whole.heads_sent <= 1);
    }

    #[test]
    fn sse_output_round_trips_every_token_through_a_decoder(
        tokens in proptest::collection::vec(token_strategy(), 0..12),
    ) {
        let mut body = String::new();
        for t in &tokens {
            body.push_str(&serde_json::json!({"message": {"content": t}}).to_string());
            body.push('\n');
        }
        body.push_str("{\"done\":true}\n");
        let run = drive(&mut plan(OLLAMA_CHAT_SSE).session(), &[body.as_bytes()]);
        let mut dec = sluice_core::stream::sse::SseDecoder::new();
        let mut events = Vec::new();
        dec.feed(&run.bytes, &mut events).unwrap();
        let (last, tokens_out) = events.split_last().unwrap();
        prop_assert_eq!(last.event.as_deref(), Some("done"));
        let got: Vec<String> = tokens_out.iter().map(|e| e.data.clone()).collect();
        let want: Vec<String> = tokens
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.replace("\r\n", "\n").replace('\r', "\n"))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn text_output_is_the_exact_concatenation(tokens in proptest::collection::vec(token_strategy(), 0..12)) {
        let mut body = String::new();
        for t in &tokens {
            body.push_str(&serde_json::json!({"response": t}).to_string());
            body.push('\n');
        }
        body.push_str("{\"done\":true}\n");
        let run = drive(&mut plan(OLLAMA_CHAT_TEXT).session(), &[body.as_bytes()]);
        prop_assert_eq!(run.bytes, tokens.concat().into_bytes());
    }
}
