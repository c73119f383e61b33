//! Throughput of the stream codecs and of a full upstream plan session
//! (Ollama NDJSON → SSE), fed in 4 KiB chunks as an edge would see them.

// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A bench has no API to document; criterion_group! defines an undocumented
// `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_core::ai::relay::{RelayConfig, SseRelay};
use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
use sluice_core::stream::{ndjson, sse};
use std::hint::black_box;

const CHUNK: usize = 4096;

fn ollama_body(records: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..records {
        body.extend_from_slice(
            format!(
                "{{\"model\":\"llama3.2\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"tok{i} \"}},\"done\":false}}\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(b"{\"message\":{\"content\":\"\"},\"done\":true}\n");
    body
}

fn openai_body(events: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..events {
        body.extend_from_slice(
            format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}}}}]}}\n\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"data: [DONE]\n\n");
    body
}

fn codecs(c: &mut Criterion) {
    let nd = ollama_body(10_000);
    let ev = openai_body(10_000);
    let mut group = c.benchmark_group("stream_decode");
    group.throughput(Throughput::Bytes(ev.len() as u64));
    group.bench_function(BenchmarkId::new("sse", ev.len()), |b| {
        b.iter(|| {
            let mut dec = sse::SseDecoder::new();
            let mut out = Vec::new();
            let mut n = 0;
            for chunk in ev.chunks(CHUNK) {
                dec.feed(chunk, &mut out).unwrap();
                n += out.len();
                out.clear();
            }
            black_box(n)
        })
    });
    group.throughput(Throughput::Bytes(nd.len() as u64));
    group.bench_function(BenchmarkId::new("ndjson", nd.len()), |b| {
        b.iter(|| {
            let mut dec = ndjson::NdjsonDecoder::new();
            let mut out = Vec::new();
            let mut n = 0;
            for chunk in nd.chunks(CHUNK) {
                dec.feed(chunk, &mut out).unwrap();
                n += out.len();
                out.clear();
            }
            black_box(n)
        })
    });
    group.finish();

    let policy = PlanPolicy::new(["ollama", "openai"]);
    let ollama = ValidatedPlan::parse(
        br#"{"backend":"ollama","method":"POST","path":"/api/chat","codec":"ndjson",
             "mapper":{"kind":"text_field","pointers":["/message/content","/response"]},
             "done":{"kind":"pointer_equals","pointer":"/done","value":true},
             "output":"sse","sse":{"token_event":"token","final":{"event":"done","data":"[DONE]"}}}"#,
        &policy,
    )
    .unwrap();
    let openai = ValidatedPlan::parse(
        br#"{"backend":"openai","method":"POST","path":"/v1/chat/completions","codec":"sse",
             "mapper":{"kind":"text_field","pointers":["/choices/0/delta/content"]},
             "done":{"kind":"sentinel","data":"[DONE]"},"output":"sse","sse":{"final":{"data":"[DONE]"}}}"#,
        &policy,
    )
    .unwrap();
    let mut group = c.benchmark_group("upstream_session");
    for (name, plan, body) in [
        ("ollama_ndjson_to_sse", &ollama, &nd),
        ("openai_sse_to_sse", &openai, &ev),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut s = plan.session();
                let mut written = 0;
                for chunk in body.chunks(CHUNK) {
                    written += s.feed(chunk).bytes.len();
                }
                black_box(written)
            })
        });
    }
    group.finish();
}

/// The mock LLM's chat event, one per upstream read as the gateway sees it.
fn mock_event(i: usize) -> Vec<u8> {
    format!(
        "data: {{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"system_fingerprint\":\"fp_sluice_mock\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
    )
    .into_bytes()
}

/// The AI gateway's per-event cost: the relay (framing, SSE parse, chunk
/// inspection, usage stripping) against a plain copy of the same reads,
/// which is what the relay floor does.
fn ai_relay(c: &mut Criterion) {
    let mut reads: Vec<Vec<u8>> = (0..1_000).map(mock_event).collect();
    reads.push(
        b"data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1000,\"total_tokens\":1002}}\n\n"
            .to_vec(),
    );
    reads.push(b"data: [DONE]\n\n".to_vec());
    let mut group = c.benchmark_group("ai_relay");
    group.throughput(Throughput::Elements(reads.len() as u64));
    group.bench_function("copy_floor", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(512);
            let mut n = 0;
            for read in &reads {
                out.clear();
                out.extend_from_slice(read);
                n += black_box(&out).len();
            }
            n
        })
    });
    group.bench_function("relay", |b| {
        b.iter(|| {
            let mut relay = SseRelay::new(RelayConfig::default().with_strip_usage(true));
            let mut n = 0;
            for read in &reads {
                relay
                    .feed_each(read, |event| {
                        n += black_box(event).len();
                        Ok::<(), ()>(())
                    })
                    .unwrap();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, codecs, ai_relay);
criterion_main!(benches);
