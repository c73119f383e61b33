//! The HTML rewrite and its lol_html no-op floor over the corpus, one of
//! them per run, for counting instructions under callgrind.
//!
//! Timings on the shared 2-core machine move by +-10% between runs of the
//! same code, which hides the few-percent effects an optimisation of the
//! HTML stage has. Instruction counts are deterministic, so they decide
//! whether a change made the stage cheaper; they are a proxy (memory and
//! branch behaviour differ, and valgrind counts each byte of a
//! `rep movsb` copy as one instruction), not the throughput target itself,
//! which stays with the criterion bench (`crates/sluice-core/benches`).
//!
//! ```sh
//! cargo build --release -p sluice-bench --bin html_instructions
//! for mode in none floor html; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/html_instructions $mode top10   # or: all, or one PAGE.html
//! done
//! ```
//!
//! `none` only loads the pages (subtract it from the others); `floor` is
//! `sluice_core::rewrite::lol_html_floor`, the same floor as in the
//! criterion bench; `html` is the pipeline, identity in
//! and out, 16 KiB chunks, each page with its origin host from
//! `pages.tsv`.
#![forbid(unsafe_code)]
// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::rewrite::lol_html_floor;
use sluice_core::{
    ContentEncoding, ContentKind, Pipeline, PipelineConfig, PipelineLimits, RewriteRules,
};
use sluice_e2e::corpus_listing;

const CHUNK: usize = 16 << 10;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let set = args.next().unwrap_or_else(|| "top10".to_owned());
    // Optional repeat count, for sampling profilers (`perf record`).
    let rounds: u32 = args.next().map_or(1, |r| r.parse().expect("rounds"));
    assert!(
        matches!(mode.as_str(), "none" | "floor" | "html")
            && (matches!(set.as_str(), "top10" | "all") || set.ends_with(".html")),
        "usage: html_instructions none|floor|html [top10|all|PAGE.html] [rounds]"
    );
    let mut pages: Vec<(Vec<u8>, String)> = corpus_listing()
        .into_iter()
        .filter(|p| !set.ends_with(".html") || p.name == set)
        .map(|p| {
            let bytes = p.read();
            let host = p
                .host
                .unwrap_or_else(|| "no-origin-host.invalid".to_owned());
            (bytes, host)
        })
        .collect();
    pages.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    if set == "top10" {
        pages.truncate(10);
    }
    let mut total = 0u64;
    for _ in 0..rounds {
        for (page, host) in &pages {
            total += match mode.as_str() {
                "floor" => floor(page),
                "html" => rewrite(page, host),
                _ => page.len() as u64,
            };
        }
    }
    println!("{mode} {set}: {} pages, {total} bytes out", pages.len());
}

fn floor(page: &[u8]) -> u64 {
    lol_html_floor(page, CHUNK, None, &PipelineLimits::default()).expect("corpus page parses")
}

fn rewrite(page: &[u8], host: &str) -> u64 {
    let rules = RewriteRules::new([host], "https", "edge.sluice.test:8443").expect("valid rules");
    let config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    // The pipeline counts its own output, so nothing is optimised away.
    let mut p = Pipeline::new(config, std::io::sink()).expect("valid config");
    for c in page.chunks(CHUNK) {
        p.write_chunk(c).expect("corpus page processes");
    }
    p.finish_with_stats()
        .expect("corpus page processes")
        .1
        .bytes_out
}
