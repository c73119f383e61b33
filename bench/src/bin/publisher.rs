//! Publisher CPU, heap and first-byte benchmark through Viceroy.
//!
//! For the 10 largest corpus pages, gzip in and gzip out, it records per
//! request the guest's `elapsed_vcpu_ms` (from the access line), the
//! WebAssembly heap Viceroy reports, and time to first byte through the
//! edge versus directly from the origin, interleaved in the same run so
//! machine noise hits both alike.
//!
//! Three configurations are measured in the same run: the default
//! `publisher.output_encoding = identity` (the guest writes identity plus
//! `x-compress-hint: on`, so Fastly's host compresses the stream; Viceroy
//! ignores the hint), and `origin` (gzip re-encoded in the guest) at gzip
//! levels 1 and 3.
//!
//! The summary line gives the median and max over the pages of each page's
//! median vCPU ms per MiB, and the pooled figure: all requests' vCPU over
//! all their MiB.
//!
//! `cargo run --release -p sluice-bench --bin publisher -- [rounds]`
#![forbid(unsafe_code)]
// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_bench::{heap_mib_lines, median, percentile};
use sluice_e2e::http::Timed;
use sluice_e2e::{corpus_listing, EdgeConfig, ListedPage, Stack};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let mut pages = corpus_listing();
    pages.sort_by_key(|p| std::cmp::Reverse(p.size));
    pages.truncate(10);
    let hosts: Vec<String> = pages.iter().filter_map(|p| p.host.clone()).collect();
    for (mode, level) in [("identity", "1"), ("origin", "1"), ("origin", "3")] {
        let stack = Stack::start_with(|c: EdgeConfig| {
            c.set("publisher.rewrite_hosts", &hosts.join(","))
                .set("publisher.output_encoding", mode)
                .set("publisher.gzip_level", level)
        });
        if mode == "identity" {
            println!("\n### publisher.output_encoding = identity (default: x-compress-hint, the host compresses)\n");
        } else {
            println!("\n### publisher.output_encoding = origin, publisher.gzip_level = {level}\n");
        }
        measure(&stack, &pages, rounds);
    }
}

/// One table: every page `rounds` times through the edge and directly.
fn measure(stack: &Stack, pages: &[ListedPage], rounds: usize) {
    println!("| page | KiB | vCPU ms (median) | vCPU ms/MiB | heap MiB (max) | TTFB edge ms (p50) | TTFB origin ms (p50) | edge overhead ms (p50) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut all_per_mib = Vec::new();
    let mut all_overhead = Vec::new();
    let mut max_heap = 0f64;
    // Every request's vCPU and HTML bytes, for the pooled ms per MiB (whole
    // milliseconds per request average out over many requests).
    let (mut vcpu_sum, mut mib_sum) = (0f64, 0f64);
    for ListedPage {
        name, size: bytes, ..
    } in pages
    {
        let path = format!("/pages/{name}?enc=gzip");
        let mut edge_ttfb = Vec::new();
        let mut origin_ttfb = Vec::new();
        let mut overhead = Vec::new();
        let before = stack.edge.access_records().len();
        let heap_before = heap_mib_lines(&stack.edge.proc.lines()).len();
        for _ in 0..rounds {
            let o = first_byte(&stack.origin.url(&path));
            let e = first_byte(&stack.edge.url(&path));
            origin_ttfb.push(o);
            edge_ttfb.push(e);
            overhead.push(e - o);
        }
        let records = stack
            .edge
            .wait_access_records(before + rounds, Duration::from_secs(10));
        let mut vcpu: Vec<f64> = records[before..]
            .iter()
            .filter_map(|r| r["vcpu_ms"].as_f64())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let heaps = heap_mib_lines(&stack.edge.proc.lines());
        let heap = heaps[heap_before..].iter().cloned().fold(0f64, f64::max);
        max_heap = max_heap.max(heap);
        let mib = *bytes as f64 / (1024.0 * 1024.0);
        vcpu_sum += vcpu.iter().sum::<f64>();
        mib_sum += mib * vcpu.len() as f64;
        let v = median(&mut vcpu);
        all_per_mib.push(v / mib);
        let oh = median(&mut overhead);
        all_overhead.extend(overhead.iter().copied());
        println!(
            "| {name} | {} | {v:.1} | {:.1} | {heap:.0} | {:.2} | {:.2} | {oh:.2} |",
            bytes / 1024,
            v / mib,
            median(&mut edge_ttfb),
            median(&mut origin_ttfb),
        );
    }
    println!();
    println!(
        "vCPU ms per MiB: median {:.1}, max {:.1}, pooled {:.1}; heap max {max_heap:.0} MiB; edge TTFB overhead p50 {:.2} ms, p90 {:.2} ms ({} rounds per page)",
        median(&mut all_per_mib.clone()),
        all_per_mib.iter().cloned().fold(0f64, f64::max),
        vcpu_sum / mib_sum,
        median(&mut all_overhead.clone()),
        percentile(&mut all_overhead, 90.0),
        rounds
    );
}

/// Milliseconds from sending the request to the first body byte.
fn first_byte(url: &str) -> f64 {
    let mut t = Timed::get(url, &[("accept-encoding", "gzip")]);
    let (first, at) = t.read_some().expect("body");
    assert!(!first.is_empty(), "empty body from {url}");
    let ms = at.duration_since(t.sent_at).as_secs_f64() * 1000.0;
    while let Ok((b, _)) = t.read_some() {
        if b.is_empty() {
            break;
        }
    }
    ms
}
