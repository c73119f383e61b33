//! Bounded memory: a counting global allocator watches the live heap while
//! a 1 GiB generated HTML body and a 1 GiB generated CSS body stream through
//! the pipeline gzip-in/gzip-out. Neither body is ever stored: a generator
//! produces it, gzip compresses it on the fly, and the output is gunzipped
//! on the fly and checked as it streams. Peak live heap (everything in this
//! process: generator, test codecs and the pipeline) must stay under 8 MiB.
//!
//! Size: 1 GiB per body by default. Set `SLUICE_MEMORY_TEST_MIB` to change
//! it (CI runs this in release: `cargo test -p sluice-core --release --test
//! memory_pipeline`).

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Read, Write};

mod support;

use sluice_core::{
    ContentEncoding, ContentKind, Pipeline, PipelineConfig, PipelineLimits, RewriteRules,
};
use support::alloc::{CountingAlloc, PeakWatch};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const HOST: &str = "origin.example";
const EDGE: &str = "edge.test:8443";
const LIMIT: usize = 8 << 20;

fn body_bytes() -> u64 {
    let mib: u64 = std::env::var("SLUICE_MEMORY_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    mib << 20
}

/// Generates a body of at least `total` bytes by repeating a numbered
/// template (whole units only, so every URL is complete); each unit holds
/// `urls_per_unit` origin URLs. No `Vec` grows with the body.
struct Generator {
    total: u64,
    produced: u64,
    unit: Vec<u8>,
    pos: usize,
    n: u64,
    make: fn(u64) -> String,
    urls_per_unit: u64,
    urls: u64,
}

impl Generator {
    fn new(total: u64, make: fn(u64) -> String, urls_per_unit: u64) -> Self {
        Self {
            total,
            produced: 0,
            unit: Vec::with_capacity(8 << 10),
            pos: 0,
            n: 0,
            make,
            urls_per_unit,
            urls: 0,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.unit.len() {
            if self.produced >= self.total {
                return Ok(0);
            }
            self.unit.clear();
            self.unit.extend_from_slice((self.make)(self.n).as_bytes());
            self.n += 1;
            self.pos = 0;
            self.urls += self.urls_per_unit;
        }
        let n = buf.len().min(self.unit.len() - self.pos);
        buf[..n].copy_from_slice(&self.unit[self.pos..self.pos + n]);
        self.pos += n;
        self.produced += n as u64;
        Ok(n)
    }
}

fn html_unit(n: u64) -> String {
    // 4 origin URLs per unit: two attributes, one in a script, one in a
    // style element; plus text with a URL that must NOT be rewritten.
    format!(
        "<div class=\"item\" id=\"i{n}\"><a href=\"https://{HOST}/article/{n}?ref=home\">Story {n}</a>\
<img src='//{HOST}/img/{n}.jpg' alt=\"picture {n}\" loading=lazy>\
<p>Plain text mentioning {HOST}/{n} is left alone.</p>\
<script>window.__d{n}={{\"u\":\"https:\\/\\/{HOST}\\/api\\/{n}\"}};</script>\
<style>.i{n}{{background:url(https://{HOST}/bg/{n}.png)}}</style></div>\n"
    )
}

fn css_unit(n: u64) -> String {
    // 3 origin URLs per unit, one split by no boundary in particular.
    format!(
        ".c{n}{{background:url(https://{HOST}/a/{n}.png)}}\
.d{n}::after{{content:\"//{HOST}/b/{n}\";border-image:url(HTTP://ORIGIN.EXAMPLE/c/{n}.svg)}}\
/* not a URL: {HOST}.evil.com/{n} */\n"
    )
}

/// Gunzips the pipeline's output as it streams and checks it.
struct Checker {
    bytes: u64,
    edges: u64,
    origin_urls_left: u64,
    carry: Vec<u8>,
}

impl Write for Checker {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        // Count across chunk boundaries with a small carry.
        // Count across chunk boundaries: keep the last 32 bytes (longer than
        // both needles) and count only matches starting before them.
        let keep = 32;
        self.carry.extend_from_slice(buf);
        let scan_to = self.carry.len().saturating_sub(keep);
        let carry = &self.carry;
        let starts = |needle: &[u8]| {
            memchr::memmem::find_iter(carry, needle)
                .filter(|&i| i < scan_to)
                .count() as u64
        };
        self.edges += starts(EDGE.as_bytes());
        self.origin_urls_left += starts(format!("//{HOST}/").as_bytes());
        self.carry.drain(..scan_to);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Checker {
    fn finish(&mut self) {
        let tail = std::mem::take(&mut self.carry);
        self.edges += memchr::memmem::find_iter(&tail, EDGE.as_bytes()).count() as u64;
        self.origin_urls_left +=
            memchr::memmem::find_iter(&tail, format!("//{HOST}/").as_bytes()).count() as u64;
    }
}

/// The heap counters are process-wide: run one body at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn stream(kind: ContentKind, make: fn(u64) -> String, urls_per_unit: u64) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let total = body_bytes();
    let rules = RewriteRules::new([HOST], "https", EDGE).unwrap();
    let config = PipelineConfig::new(ContentEncoding::Gzip, ContentEncoding::Gzip, kind, rules);
    let generator = Generator::new(total, make, urls_per_unit);
    let mut input = flate2::read::GzEncoder::new(generator, flate2::Compression::fast());
    let checker = flate2::write::GzDecoder::new(Checker {
        bytes: 0,
        edges: 0,
        origin_urls_left: 0,
        carry: Vec::with_capacity(64 << 10),
    });

    let watch = PeakWatch::start();
    let mut pipeline = Pipeline::new(config, checker).unwrap();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = input.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        pipeline.write_chunk(&buf[..n]).unwrap();
    }
    let (checker, stats) = pipeline.finish_with_stats().unwrap();
    let mut checker = checker.finish().unwrap();
    checker.finish();
    let peak = watch.peak_growth();

    let urls = input.get_ref().urls;
    let produced = input.get_ref().produced;
    eprintln!(
        "{kind:?}: {} MiB streamed, peak live heap {:.2} MiB, {} URLs rewritten",
        total >> 20,
        peak as f64 / (1 << 20) as f64,
        stats.urls_rewritten
    );
    assert!(produced >= total);
    assert_eq!(stats.bytes_decoded, produced);
    // Every generated origin URL is rewritten (the edge authority has the
    // same length as the origin's `host`+scheme here only by accident, so
    // compare counts, not lengths).
    assert_eq!(stats.urls_rewritten, urls, "{kind:?}");
    assert_eq!(checker.edges, urls, "{kind:?}");
    assert_eq!(checker.origin_urls_left, 0, "{kind:?}");
    assert!(
        peak < LIMIT,
        "{kind:?}: peak live heap {peak} bytes >= {LIMIT}"
    );
}

#[test]
fn a_gigabyte_of_html_streams_in_constant_memory() {
    stream(ContentKind::Html, html_unit, 4);
}

#[test]
fn a_gigabyte_of_css_streams_in_constant_memory() {
    stream(ContentKind::Css, css_unit, 3);
}

#[test]
fn the_counter_sees_a_growing_buffer() {
    // Control: the same measurement notices a body that *is* buffered.
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let watch = PeakWatch::start();
    let mut held = Vec::new();
    for _ in 0..(LIMIT >> 16) + 1 {
        held.extend_from_slice(&[1u8; 1 << 16]);
    }
    let peak = watch.peak_growth();
    assert!(
        peak >= LIMIT,
        "counter missed {} buffered bytes (peak {peak})",
        held.len()
    );
}

/// `prefix` followed by `unit` repeated up to `total` bytes: a body with no
/// `>` and no newline anywhere after the prefix. Never stored.
struct Endless {
    prefix: &'static [u8],
    unit: &'static [u8],
    total: u64,
    produced: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.produced >= self.total {
            return Ok(0);
        }
        let mut n = 0;
        while n < buf.len() && self.produced < self.total {
            let pos = self.produced as usize;
            let byte = if pos < self.prefix.len() {
                self.prefix[pos]
            } else {
                self.unit[(pos - self.prefix.len()) % self.unit.len()]
            };
            buf[n] = byte;
            n += 1;
            self.produced += 1;
        }
        Ok(n)
    }
}

/// Streams one endless body gzip-in/gzip-out; returns the result, the
/// URLs rewritten and the peak live heap.
fn stream_endless(
    kind: ContentKind,
    limits: PipelineLimits,
    prefix: &'static [u8],
    unit: &'static [u8],
) -> (Result<(), sluice_core::PipelineError>, u64, usize) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let total = (body_bytes() / 10).max(1 << 20);
    let rules = RewriteRules::new([HOST], "https", EDGE).unwrap();
    let mut config = PipelineConfig::new(ContentEncoding::Gzip, ContentEncoding::Gzip, kind, rules);
    config.limits = limits;
    let body = Endless {
        prefix,
        unit,
        total,
        produced: 0,
    };
    let mut input = flate2::read::GzEncoder::new(body, flate2::Compression::fast());
    let sink = flate2::write::GzDecoder::new(io::sink());
    let watch = PeakWatch::start();
    let mut pipeline = Pipeline::new(config, sink).unwrap();
    let mut buf = vec![0u8; 16 << 10];
    let result = loop {
        let n = input.read(&mut buf).unwrap();
        if n == 0 {
            break pipeline.finish_with_stats().map(|(_, s)| s.urls_rewritten);
        }
        if let Err(e) = pipeline.write_chunk(&buf[..n]) {
            break Err(e);
        }
    };
    let peak = watch.peak_growth();
    eprintln!(
        "{kind:?} {:?}: {} MiB, {result:?}, peak live heap {:.2} MiB",
        String::from_utf8_lossy(prefix),
        total >> 20,
        peak as f64 / (1 << 20) as f64
    );
    let urls = *result.as_ref().unwrap_or(&0);
    (result.map(drop), urls, peak)
}

/// 100 MiB bodies (a tenth of `SLUICE_MEMORY_TEST_MIB`) without a single
/// `>` or newline: either they stream in the same 8 MiB as any body (text,
/// raw text, CSS) or they fail with the typed HTML memory error (an
/// attribute value or comment that never ends) within a bound set by
/// [`PipelineLimits::with_html_memory`].
#[test]
fn bodies_without_a_gt_or_newline_stay_bounded() {
    let url_unit: &[u8] = b"https://origin.example/a?b=c ";
    let streams: [(ContentKind, &[u8]); 3] = [
        (ContentKind::Css, b""),
        (ContentKind::Html, b"<script>"),
        (ContentKind::Html, b""),
    ];
    for (kind, prefix) in streams {
        let (result, urls, peak) =
            stream_endless(kind, PipelineLimits::default(), prefix, url_unit);
        assert!(result.is_ok(), "{kind:?} {prefix:?}: {result:?}");
        let expected = if kind == ContentKind::Html && prefix.is_empty() {
            0 // Text is never rewritten.
        } else {
            // One URL per unit.
            (body_bytes() / 10).max(1 << 20) / url_unit.len() as u64
        };
        // The last unit may be cut before its URL ends.
        assert!(
            urls + 1 >= expected && urls <= expected + 1,
            "{kind:?} {prefix:?}: {urls} URLs, expected about {expected}"
        );
        assert!(peak < LIMIT, "{kind:?} {prefix:?}: peak {peak} >= {LIMIT}");
    }
    // A construct that never ends is held twice — by lol_html (up to
    // `html_memory`) and in the rewriter's source window (up to
    // `html_memory + max_pending`) — until the cap fails it. So the bound
    // scales with the configured cap; 1 MiB covers the codecs and the test.
    for html_memory in [PipelineLimits::default().html_memory(), 1 << 20] {
        let limits = PipelineLimits::default().with_html_memory(html_memory);
        let bound = 2 * html_memory + limits.max_pending() + (1 << 20);
        for prefix in [&b"<a href=\""[..], b"<!-- ", b"<div data-x='"] {
            let (result, _, peak) = stream_endless(ContentKind::Html, limits, prefix, url_unit);
            assert!(
                matches!(
                    result,
                    Err(sluice_core::PipelineError::HtmlMemoryLimit { limit }) if limit == html_memory
                ),
                "{prefix:?}: {result:?}"
            );
            assert!(peak < bound, "{prefix:?}: peak {peak} >= {bound}");
        }
    }
}
