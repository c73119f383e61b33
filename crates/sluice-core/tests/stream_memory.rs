//! Memory stays flat: streaming many megabytes through the decoders and an
//! upstream session never holds more than a small, fixed amount of heap,
//! whatever the stream length. A counting global allocator measures the
//! live heap; this file has one test so no other test pollutes the count.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
use sluice_core::stream::sse;
use sluice_core::stream::DownstreamStep;
use support::alloc::{peak_growth, CountingAlloc};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn ollama_session_peak(chunk_src: &[u8], rounds: usize) -> (usize, usize) {
    let plan = ValidatedPlan::parse(
        br#"{"backend":"ollama","method":"POST","path":"/api/chat","codec":"ndjson",
             "mapper":{"kind":"text_field","pointers":["/message/content"]},
             "done":{"kind":"pointer_equals","pointer":"/done","value":true},
             "output":"sse","sse":{"token_event":"token"}}"#,
        &PlanPolicy::new(["ollama"]),
    )
    .unwrap();
    let mut written = 0usize;
    let growth = peak_growth(|| {
        let mut session = plan.session();
        for _ in 0..rounds {
            for chunk in chunk_src.chunks(4096) {
                let out = session.feed(chunk);
                written += out.bytes.len();
                assert_eq!(out.next, DownstreamStep::Continue);
            }
        }
        let out = session.feed(b"{\"done\":true}\n");
        assert_eq!(out.next, DownstreamStep::Finish);
    });
    (growth, written)
}

fn sse_decoder_peak(sse_src: &[u8], rounds: usize) -> (usize, usize) {
    let mut events_seen = 0usize;
    let growth = peak_growth(|| {
        let mut dec = sse::SseDecoder::new();
        let mut out = Vec::with_capacity(256);
        for _ in 0..rounds {
            for chunk in sse_src.chunks(4096) {
                dec.feed(chunk, &mut out).unwrap();
                events_seen += out.len();
                out.clear();
            }
        }
    });
    (growth, events_seen)
}

#[test]
fn decoders_and_sessions_hold_flat_memory_over_long_streams() {
    // NDJSON in 4 KiB chunks through an Ollama → SSE session: the peak heap
    // depends on the chunk size (the records of one chunk), never on the
    // stream length. 32 KiB × 10 rounds vs × 1000 rounds (~32 MB).
    let record = b"{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"token \\u00e9\\n\"},\"done\":false}\n";
    let mut chunk_src = Vec::new();
    while chunk_src.len() < 4096 * 8 {
        chunk_src.extend_from_slice(record);
    }
    let (short, _) = ollama_session_peak(&chunk_src, 10);
    let (long, written) = ollama_session_peak(&chunk_src, 1000);
    assert!(
        written > 8_000_000,
        "the stream was long: {written} bytes out"
    );
    assert!(
        long <= short + 4096,
        "peak heap grew with length: {short} -> {long} bytes"
    );
    assert!(long < 256 * 1024, "peak heap grew by {long} bytes");

    // SSE through the decoder, one event in flight at a time.
    let event = b"event: token\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    let mut sse_src = Vec::new();
    while sse_src.len() < 4096 * 8 {
        sse_src.extend_from_slice(event);
    }
    let (short, _) = sse_decoder_peak(&sse_src, 5);
    let (long, events) = sse_decoder_peak(&sse_src, 500);
    assert!(events > 200_000);
    assert!(
        long <= short + 4096,
        "peak heap grew with length: {short} -> {long} bytes"
    );
    assert!(long < 64 * 1024, "peak heap grew by {long} bytes");
}
