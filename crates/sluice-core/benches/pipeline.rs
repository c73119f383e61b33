//! Throughput of the rewrite pipeline over the shared corpus, measured in
//! one run against its two cost floors.
//!
//! Groups:
//! - `pipeline_top10` / `pipeline_all`: the 10 largest corpus pages, and all
//!   130 pages, each fed in 16 KiB chunks (what an edge body read yields):
//!   - `floor_io_copy`: `io::copy` of the decoded bytes into a reused `Vec`
//!     (the copy floor);
//!   - `floor_lol_html_noop`: lol_html alone with the pipeline's selectors
//!     (`*` elements, `script, style, noscript`, document comments, and
//!     lol_html's own `<meta>` charset watch, since these bodies declare no
//!     charset), no-op handlers and the same settings (the HTML parser's
//!     floor);
//!   - `html_identity`, `html_gzip`, `html_br`: the HTML rewrite, identity
//!     in/out, gzip in/out, br in/out (inputs pre-compressed as an origin
//!     would: gzip level 6, brotli quality 5);
//!   - `replacer`: the same bytes through the CSS/JS byte replacer;
//!   - `passthrough`, `passthrough_gzip`: `ContentKind::Other`, identity
//!     and gzip in/out (the codec cost alone).
//! - `replacer_no_match`: the replacer on text without a rewritable URL
//!   (target >= 1 GiB/s).
//! - `page_1mib`: one ~1 MiB page, gzip in and out (target <= 15 ms), and
//!   the output encoder settings around the defaults.
//! - `ratio ...` lines (printed first): the HTML rewrite against the
//!   lol_html floor on thread CPU time over interleaved rounds, as the
//!   best round of each and summed over all rounds, which a noisy shared
//!   machine distorts far less than two criterion runs.
//!
//! Throughput is always counted in *decoded* (HTML) bytes so the rows are
//! comparable. Run (kept short on a shared machine):
//! `cargo bench -p sluice-core --bench pipeline -- --warm-up-time 1 --measurement-time 3`

// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A bench has no API to document; criterion_group! defines an undocumented
// `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use sluice_core::rewrite::lol_html_floor;
use sluice_core::{
    ContentEncoding, ContentKind, Pipeline, PipelineConfig, PipelineLimits, RewriteRules,
};

// The corpus, the edge authority and the origin-style encoders (gzip level
// 6, brotli quality 5) the integration tests use.
#[path = "../tests/support/pipeline.rs"]
#[allow(dead_code)]
mod pipeline_support;

/// Chunk size fed to every processor.
const CHUNK: usize = 16 << 10;

struct Page {
    bytes: Vec<u8>,
    gzip: Vec<u8>,
    br: Vec<u8>,
    rules: RewriteRules,
}

fn rules(host: &str) -> RewriteRules {
    RewriteRules::new([host], pipeline_support::SCHEME, pipeline_support::EDGE)
        .expect("valid rules")
}

/// All corpus pages, each with its own origin host (pages without one get
/// a host that never occurs, so they still pay for the search), encoded
/// the way an origin would.
fn corpus() -> Vec<Page> {
    pipeline_support::corpus()
        .iter()
        .map(|p| Page {
            gzip: pipeline_support::encode(ContentEncoding::Gzip, &p.bytes),
            br: pipeline_support::encode(ContentEncoding::Brotli, &p.bytes),
            rules: p.rules(),
            bytes: p.bytes.clone(),
        })
        .collect()
}

fn run(config: PipelineConfig, body: &[u8]) -> u64 {
    // The pipeline counts its own output, so nothing is optimised away.
    let mut p = Pipeline::new(config, io::sink()).expect("valid config");
    for c in body.chunks(CHUNK) {
        p.write_chunk(c).expect("corpus page processes");
    }
    p.finish_with_stats()
        .expect("corpus page processes")
        .1
        .bytes_out
}

fn pipeline(page: &Page, kind: ContentKind, enc: ContentEncoding) -> u64 {
    let body = match enc {
        ContentEncoding::Identity => &page.bytes,
        ContentEncoding::Gzip => &page.gzip,
        ContentEncoding::Brotli => &page.br,
        ContentEncoding::Deflate => unreachable!("not benched"),
    };
    run(
        PipelineConfig::new(enc, enc, kind, page.rules.clone()),
        body,
    )
}

/// lol_html with the pipeline's handler set and settings, doing nothing.
fn lol_html_noop(body: &[u8]) -> u64 {
    lol_html_floor(body, CHUNK, None, &PipelineLimits::default()).expect("corpus page parses")
}

fn corpus_group(c: &mut Criterion, name: &str, pages: &[&Page]) {
    let total: u64 = pages.iter().map(|p| p.bytes.len() as u64).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(total));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let mut copy_buf: Vec<u8> = Vec::with_capacity(2 << 20);
    group.bench_function("floor_io_copy", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in pages {
                copy_buf.clear();
                n += io::copy(&mut &p.bytes[..], &mut copy_buf).expect("Vec write");
            }
            black_box(n)
        })
    });
    group.bench_function("floor_lol_html_noop", |b| {
        b.iter(|| black_box(pages.iter().map(|p| lol_html_noop(&p.bytes)).sum::<u64>()))
    });
    let cases = [
        (
            "html_identity",
            ContentKind::Html,
            ContentEncoding::Identity,
        ),
        ("html_gzip", ContentKind::Html, ContentEncoding::Gzip),
        ("html_br", ContentKind::Html, ContentEncoding::Brotli),
        ("replacer", ContentKind::Css, ContentEncoding::Identity),
        ("passthrough", ContentKind::Other, ContentEncoding::Identity),
        (
            "passthrough_gzip",
            ContentKind::Other,
            ContentEncoding::Gzip,
        ),
    ];
    for (label, kind, enc) in cases {
        group.bench_function(label, |b| {
            b.iter(|| black_box(pages.iter().map(|p| pipeline(p, kind, enc)).sum::<u64>()))
        });
    }
    group.finish();
}

/// Text with no rewritable URL: prose without `//` (the common case for
/// most of a CSS/JS body), and the corpus bytes with a host that never
/// occurs (every `//` is a candidate that must be rejected).
fn replacer_no_match(c: &mut Criterion, pages: &[Page]) {
    let sentence = b"The quick brown fox jumps over the lazy dog; origin.example is plain prose here, not a URL. \
.c{margin:0 auto;color:#333} function f(a,b){return a+b}\n";
    let prose: Vec<u8> = sentence.iter().copied().cycle().take(16 << 20).collect();
    let corpus: Vec<u8> = pages.iter().flat_map(|p| p.bytes.iter().copied()).collect();
    let absent = rules("no-origin-host.invalid");
    let mut group = c.benchmark_group("replacer_no_match");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (label, body, rules) in [
        ("prose_16mib", &prose, rules("origin.example")),
        ("corpus_absent_host", &corpus, absent),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(run(
                    PipelineConfig::new(
                        ContentEncoding::Identity,
                        ContentEncoding::Identity,
                        ContentKind::Css,
                        rules.clone(),
                    ),
                    body,
                ))
            })
        });
    }
    group.finish();
}

/// One ~1 MiB page, gzip in and gzip out with the default output level,
/// plus the encoder settings around the defaults (gzip levels 1, 3, 4, 6,
/// brotli qualities 2-5, same coding in and out) so the choice of
/// defaults is documented with numbers; output sizes are printed once.
fn page_1mib(c: &mut Criterion, pages: &[Page]) {
    let page = pages
        .iter()
        .min_by_key(|p| p.bytes.len().abs_diff(1 << 20))
        .expect("non-empty corpus");
    let mut group = c.benchmark_group("page_1mib");
    group.throughput(Throughput::Bytes(page.bytes.len() as u64));
    group.bench_function("html_gzip_in_out", |b| {
        b.iter(|| black_box(pipeline(page, ContentKind::Html, ContentEncoding::Gzip)))
    });
    let settings = [
        ("gzip_level_1", ContentEncoding::Gzip, 1, 0),
        ("gzip_level_3", ContentEncoding::Gzip, 3, 0),
        ("gzip_level_4", ContentEncoding::Gzip, 4, 0),
        ("gzip_level_6", ContentEncoding::Gzip, 6, 0),
        ("br_quality_2", ContentEncoding::Brotli, 0, 2),
        ("br_quality_3", ContentEncoding::Brotli, 0, 3),
        ("br_quality_4", ContentEncoding::Brotli, 0, 4),
        ("br_quality_5", ContentEncoding::Brotli, 0, 5),
    ];
    for (label, enc, level, quality) in settings {
        let body = if enc == ContentEncoding::Gzip {
            &page.gzip
        } else {
            &page.br
        };
        let config = || {
            let mut c = PipelineConfig::new(enc, enc, ContentKind::Html, page.rules.clone());
            if level > 0 {
                c.gzip_level = level;
            }
            if quality > 0 {
                c.brotli_quality = quality;
            }
            c
        };
        println!(
            "size page_1mib/{label}: {} bytes in, {} bytes out ({} bytes decoded)",
            body.len(),
            run(config(), body),
            page.bytes.len()
        );
        group.bench_function(label, |b| b.iter(|| black_box(run(config(), body))));
    }
    group.finish();
}

/// CPU time this thread has run, in ns. Time the thread spent preempted by
/// other processes is excluded, which removes most of the noise of a
/// shared machine. `CLOCK_THREAD_CPUTIME_ID` is read to the nanosecond
/// (the kernel adds the running slice), unlike `/proc/thread-self/schedstat`,
/// which only moves at scheduler ticks and so cannot time one short round.
#[cfg(unix)]
fn thread_cpu_ns() -> u128 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u128::try_from(ts.tv_sec).expect("non-negative") * 1_000_000_000
        + u128::try_from(ts.tv_nsec).expect("non-negative")
}

/// Wall time where no thread CPU clock exists.
#[cfg(not(unix))]
fn thread_cpu_ns() -> u128 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos()
}

/// Thread CPU time of one processor over one round, summed and at best.
#[derive(Clone, Copy)]
struct Spent {
    sum: u128,
    min: u128,
}

/// The HTML rewrite's share of the parser floor, measured to resist a
/// noisy shared machine: the floor, the HTML rewrite and the replacer run
/// alternately, each round timed on this thread's CPU clock. Two
/// estimators are printed as `ratio ...` lines before criterion's output:
/// - `best round`: the fastest round of each. The work is deterministic,
///   so noise (cache and frequency effects of other processes, interrupts)
///   only ever adds time; the minimum is the least disturbed measurement.
/// - `summed`: all rounds added up, which still carries that noise.
fn interleaved_ratio(name: &str, pages: &[&Page], rounds: usize) {
    let total: u64 = pages.iter().map(|p| p.bytes.len() as u64).sum();
    let mut spent = [Spent {
        sum: 0,
        min: u128::MAX,
    }; 3];
    let mut timed = |slot: usize, f: &dyn Fn() -> u64| {
        let t = thread_cpu_ns();
        black_box(f());
        let d = thread_cpu_ns() - t;
        spent[slot].sum += d;
        spent[slot].min = spent[slot].min.min(d);
    };
    for _ in 0..rounds {
        timed(0, &|| pages.iter().map(|p| lol_html_noop(&p.bytes)).sum());
        timed(1, &|| {
            pages
                .iter()
                .map(|p| pipeline(p, ContentKind::Html, ContentEncoding::Identity))
                .sum()
        });
        timed(2, &|| {
            pages
                .iter()
                .map(|p| pipeline(p, ContentKind::Css, ContentEncoding::Identity))
                .sum()
        });
    }
    let best = |s: Spent| total as f64 / (s.min as f64 / 1e9) / f64::from(1 << 20);
    println!(
        "ratio {name}: best round: lol_html_noop {:.1} MiB/s, html_identity {:.1} MiB/s, \
         replacer {:.1} MiB/s; html_identity / floor = {:.1}% ({rounds} interleaved rounds, \
         thread CPU time); summed: html_identity / floor = {:.1}%",
        best(spent[0]),
        best(spent[1]),
        best(spent[2]),
        100.0 * spent[0].min as f64 / spent[1].min as f64,
        100.0 * spent[0].sum as f64 / spent[1].sum as f64,
    );
}

fn benches(c: &mut Criterion) {
    let pages = corpus();
    let mut by_size: Vec<&Page> = pages.iter().collect();
    by_size.sort_by_key(|p| std::cmp::Reverse(p.bytes.len()));
    interleaved_ratio("top10", &by_size[..10], 60);
    interleaved_ratio("all", &by_size, 25);
    corpus_group(c, "pipeline_top10", &by_size[..10]);
    corpus_group(c, "pipeline_all", &by_size);
    replacer_no_match(c, &pages);
    page_1mib(c, &pages);
}

criterion_group!(pipeline_benches, benches);
criterion_main!(pipeline_benches);
