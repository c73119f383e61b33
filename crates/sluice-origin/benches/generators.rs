//! Throughput of the content generators, so the origin is never the
//! bottleneck of a multi-GB benchmark: `/bytes` fill and `/gen` documents,
//! against a plain memcpy floor.

// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A bench has no API to document; criterion_group! defines an undocumented
// `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_origin::content::{fill, GenDoc, GenKind};
use std::hint::black_box;

const PIECE: usize = 128 * 1024;
const TOTAL: usize = 16 << 20;

fn generators(c: &mut Criterion) {
    let mut g = c.benchmark_group("generators");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    let src = vec![1u8; PIECE];
    let mut buf = vec![0u8; PIECE];
    g.bench_function("memcpy_floor", |b| {
        b.iter(|| {
            for _ in 0..TOTAL / PIECE {
                buf.copy_from_slice(black_box(&src));
            }
            black_box(&buf);
        })
    });
    g.bench_function("bytes_fill", |b| {
        b.iter(|| {
            for i in 0..TOTAL / PIECE {
                fill(0, (i * PIECE) as u64, &mut buf);
            }
            black_box(&buf);
        })
    });
    for kind in [GenKind::Html, GenKind::Css, GenKind::Js] {
        let doc = GenDoc::new(kind, "origin.example", TOTAL as u64);
        g.bench_function(format!("gen_{}", kind.as_str()), |b| {
            b.iter(|| {
                let mut r = doc.reader();
                while r.fill(&mut buf) > 0 {}
                black_box(&buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, generators);
criterion_main!(benches);
