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
//! With `--baseline-wasm PATH` (or `SLUICE_BASELINE_WASM`) it compares two
//! builds instead: the baseline (for example `scripts/build-baseline main`)
//! and the wasm under test (`SLUICE_WASM`, else the release build) run side
//! by side on `--pairs` (default 6) fresh pairs of Viceroy processes, each
//! request of a page alternating which build goes first, and every figure
//! is given for both with the ratio new / baseline (see [`compare`]).
//! Viceroy's vCPU is the wall time of the guest's polls, so the load of a
//! shared machine lands in it: only ratios measured in one run mean
//! anything, and the same wasm on both sides (an A/A run) shows how far
//! they stray.
//!
//! `cargo run --release -p sluice-bench --bin publisher -- [rounds] [--baseline-wasm PATH] [--pairs N]`
#![forbid(unsafe_code)]
// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use sluice_bench::{heap_mib_lines, median, percentile};
use sluice_e2e::http::Timed;
use sluice_e2e::{corpus_listing, default_wasm, Edge, EdgeConfig, ListedPage, Origin, Stack};

fn main() {
    let mut rounds = 7;
    let mut pairs = 6;
    let mut baseline = std::env::var_os("SLUICE_BASELINE_WASM").map(PathBuf::from);
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--baseline-wasm" => baseline = argv.next().map(PathBuf::from),
            "--pairs" => pairs = argv.next().and_then(|n| n.parse().ok()).expect("--pairs N"),
            n => {
                rounds = n.parse().unwrap_or_else(|_| {
                    panic!("usage: publisher [rounds] [--baseline-wasm PATH] [--pairs N]")
                })
            }
        }
    }
    let mut pages = corpus_listing();
    pages.sort_by_key(|p| std::cmp::Reverse(p.size));
    pages.truncate(10);
    let hosts: Vec<String> = pages.iter().filter_map(|p| p.host.clone()).collect();
    let wasms = baseline.map(|b| [b, default_wasm()]);
    if let Some([base, new]) = &wasms {
        println!("baseline: {}\nnew:      {}", base.display(), new.display());
    }
    let mut summary = Vec::new();
    for (mode, level) in [("identity", "1"), ("origin", "1"), ("origin", "3")] {
        let origin = Origin::start(&[]);
        let config = EdgeConfig::for_origin(&origin)
            .set("publisher.rewrite_hosts", &hosts.join(","))
            .set("publisher.output_encoding", mode)
            .set("publisher.gzip_level", level);
        let name = if mode == "identity" {
            "publisher.output_encoding = identity (default: x-compress-hint, the host compresses)"
                .to_owned()
        } else {
            format!("publisher.output_encoding = origin, publisher.gzip_level = {level}")
        };
        println!("\n### {name}\n");
        match &wasms {
            None => {
                let edge = Edge::start(&config);
                measure(&Stack { edge, origin }, &pages, rounds);
            }
            Some(wasms) => {
                let tallies = compare(&config, wasms, &pages, rounds, pairs);
                summary.push((name, tallies));
            }
        }
    }
    if !summary.is_empty() {
        print_summary(&summary, &pages, rounds);
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

/// One build's figures over one configuration.
struct Tally {
    /// vCPU ms summed per page (in `pages` order) and per Viceroy pair.
    page_vcpu: Vec<f64>,
    pair_vcpu: Vec<f64>,
    /// Heap max per page.
    page_heap: Vec<f64>,
    ttfb: Vec<f64>,
}

impl Tally {
    fn new(pages: usize, pairs: usize) -> Tally {
        Tally {
            page_vcpu: vec![0.0; pages],
            pair_vcpu: vec![0.0; pairs],
            page_heap: vec![0.0; pages],
            ttfb: Vec::new(),
        }
    }

    fn vcpu(&self) -> f64 {
        self.page_vcpu.iter().sum()
    }

    fn heap_max(&self) -> f64 {
        self.page_heap.iter().copied().fold(0.0, f64::max)
    }
}

/// Every page `rounds` times through a baseline edge and a new one, on
/// `pairs` fresh pairs of Viceroy processes. Within a pair each round sends
/// one request to each build, the first of the two alternating, so a drift
/// in the machine's load hits both alike. Fresh pairs because one Viceroy
/// process keeps a page's cost for most of its life: with the same wasm on
/// both sides, every request for `wikipedia-2.html` took 13 ms in one
/// process and 9 ms in the other, so one pair is one sample, however many
/// rounds it runs.
fn compare(
    config: &EdgeConfig,
    wasms: &[PathBuf; 2],
    pages: &[ListedPage],
    rounds: usize,
    pairs: usize,
) -> [Tally; 2] {
    let mut tallies = [0, 1].map(|_| Tally::new(pages.len(), pairs));
    for pair in 0..pairs {
        // The start order alternates too.
        let mut started: [Option<Edge>; 2] = [None, None];
        for i in if pair % 2 == 0 { [0, 1] } else { [1, 0] } {
            started[i] = Some(Edge::start_wasm(config, &wasms[i]));
        }
        let edges = started.map(|e| e.expect("both started"));
        // Warm-up: the first request pays one-time costs in Viceroy.
        for edge in &edges {
            first_byte(&edge.url(&format!("/pages/{}?enc=gzip", pages[0].name)));
            // Its access line may follow the body's end.
            edge.wait_access_records(1, Duration::from_secs(10));
        }
        for (p, page) in pages.iter().enumerate() {
            let path = format!("/pages/{}?enc=gzip", page.name);
            let records_before = edges.each_ref().map(|e| e.access_records().len());
            let heap_before = edges.each_ref().map(|e| e.heap_mib().len());
            for round in 0..rounds {
                let order = if (pair + round) % 2 == 0 {
                    [0, 1]
                } else {
                    [1, 0]
                };
                for i in order {
                    tallies[i].ttfb.push(first_byte(&edges[i].url(&path)));
                }
            }
            // Viceroy prints the heap line as each request completes.
            std::thread::sleep(Duration::from_millis(200));
            for (tally, (edge, (records, heaps))) in tallies
                .iter_mut()
                .zip(edges.iter().zip(records_before.iter().zip(heap_before)))
            {
                let lines = edge.wait_access_records(records + rounds, Duration::from_secs(10));
                assert_eq!(
                    lines.len(),
                    records + rounds,
                    "{}: one access line per request",
                    page.name
                );
                let vcpu: Vec<f64> = lines[*records..]
                    .iter()
                    .filter_map(|r| r["vcpu_ms"].as_f64())
                    .collect();
                assert_eq!(
                    vcpu.len(),
                    rounds,
                    "{}: vcpu_ms in every access line",
                    page.name
                );
                let vcpu: f64 = vcpu.iter().sum();
                tally.page_vcpu[p] += vcpu;
                tally.pair_vcpu[pair] += vcpu;
                let heap = edge.heap_mib()[heaps..].iter().copied().fold(0.0, f64::max);
                tally.page_heap[p] = tally.page_heap[p].max(heap);
            }
        }
    }
    println!("| page | KiB | vCPU ms/MiB baseline | vCPU ms/MiB new | new / baseline | heap MiB (max) baseline / new |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let requests = (rounds * pairs) as f64;
    let [base, new] = &tallies;
    for (p, page) in pages.iter().enumerate() {
        let mib = page.size as f64 / (1024.0 * 1024.0) * requests;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.0} / {:.0} |",
            page.name,
            page.size / 1024,
            base.page_vcpu[p] / mib,
            new.page_vcpu[p] / mib,
            new.page_vcpu[p] / base.page_vcpu[p],
            base.page_heap[p],
            new.page_heap[p],
        );
    }
    tallies
}

/// The comparison over every configuration, the table to quote: vCPU
/// pooled over all requests (whole milliseconds per request average out
/// over many requests, a median of them does not), and each Viceroy
/// pair's own ratio, whose spread is the run's noise.
fn print_summary(summary: &[(String, [Tally; 2])], pages: &[ListedPage], rounds: usize) {
    let mib = pages.iter().map(|p| p.size as f64).sum::<f64>() / (1024.0 * 1024.0);
    let pairs = summary.first().map_or(0, |(_, t)| t[0].pair_vcpu.len());
    println!("\n### new / baseline ({pairs} Viceroy pairs x {rounds} rounds per page and build)\n");
    println!("| configuration | vCPU ms/MiB baseline | vCPU ms/MiB new | new / baseline | per pair: mean ± sd (min-max) | heap max MiB baseline / new | edge TTFB p50 ms baseline / new |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for (name, [base, new]) in summary {
        let requests_mib = mib * (rounds * pairs) as f64;
        let ratios: Vec<f64> = new
            .pair_vcpu
            .iter()
            .zip(&base.pair_vcpu)
            .map(|(n, b)| n / b)
            .collect();
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
            / (ratios.len().max(2) - 1) as f64)
            .sqrt();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        println!(
            "| {name} | {:.2} | {:.2} | {:.3} | {mean:.3} ± {sd:.3} ({lo:.2}-{hi:.2}) | {:.0} / {:.0} | {:.2} / {:.2} |",
            base.vcpu() / requests_mib,
            new.vcpu() / requests_mib,
            new.vcpu() / base.vcpu(),
            base.heap_max(),
            new.heap_max(),
            median(&mut base.ttfb.clone()),
            median(&mut new.ttfb.clone()),
        );
    }
}
