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
//! by side, each request of a page alternating which build goes first, and
//! every figure is given for both with the ratio new / baseline. Viceroy's
//! vCPU is the wall time of the guest's polls, so the load of a shared
//! machine lands in it: only ratios measured in one run mean anything, and
//! the same wasm on both sides (an A/A run) shows how far they stray.
//!
//! `cargo run --release -p sluice-bench --bin publisher -- [rounds] [--baseline-wasm PATH]`
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
    let mut baseline = std::env::var_os("SLUICE_BASELINE_WASM").map(PathBuf::from);
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--baseline-wasm" => baseline = argv.next().map(PathBuf::from),
            n => {
                rounds = n
                    .parse()
                    .unwrap_or_else(|_| panic!("usage: publisher [rounds] [--baseline-wasm PATH]"))
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
                let tallies = compare(&config, wasms, &pages, rounds);
                summary.push((name, tallies));
            }
        }
    }
    if !summary.is_empty() {
        print_summary(&summary, rounds);
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
    /// vCPU ms and MiB summed over the pages, per round: the ratio of each
    /// round shows the spread within the run.
    round_vcpu: Vec<f64>,
    round_mib: Vec<f64>,
    heap_max: f64,
    ttfb: Vec<f64>,
}

impl Tally {
    fn new(rounds: usize) -> Tally {
        Tally {
            round_vcpu: vec![0.0; rounds],
            round_mib: vec![0.0; rounds],
            heap_max: 0.0,
            ttfb: Vec::new(),
        }
    }

    /// All requests' vCPU over all their MiB: whole milliseconds per
    /// request average out over many requests, a median of them does not.
    fn pooled(&self) -> f64 {
        self.round_vcpu.iter().sum::<f64>() / self.round_mib.iter().sum::<f64>()
    }
}

/// Every page `rounds` times through a baseline edge and a new one, one
/// request each per round, the first of the pair alternating by round so
/// a drift in the machine's load hits both builds alike.
fn compare(
    config: &EdgeConfig,
    wasms: &[PathBuf; 2],
    pages: &[ListedPage],
    rounds: usize,
) -> [Tally; 2] {
    let edges = wasms.each_ref().map(|w| Edge::start_wasm(config, w));
    // Warm-up: the first request pays one-time costs in Viceroy.
    for edge in &edges {
        first_byte(&edge.url(&format!("/pages/{}?enc=gzip", pages[0].name)));
    }
    let mut tallies = [Tally::new(rounds), Tally::new(rounds)];
    println!("| page | KiB | vCPU ms/MiB baseline | vCPU ms/MiB new | new / baseline | heap MiB (max) baseline / new |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for page in pages {
        let path = format!("/pages/{}?enc=gzip", page.name);
        let mib = page.size as f64 / (1024.0 * 1024.0);
        let records_before = edges.each_ref().map(|e| e.access_records().len());
        let heap_before = edges.each_ref().map(|e| e.heap_mib().len());
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                tallies[i].ttfb.push(first_byte(&edges[i].url(&path)));
            }
        }
        // Viceroy prints the heap line as each request completes.
        std::thread::sleep(Duration::from_millis(200));
        let mut per_mib = [0.0; 2];
        let mut heap = [0.0; 2];
        for (i, edge) in edges.iter().enumerate() {
            let records =
                edge.wait_access_records(records_before[i] + rounds, Duration::from_secs(10));
            let vcpu: Vec<f64> = records[records_before[i]..]
                .iter()
                .filter_map(|r| r["vcpu_ms"].as_f64())
                .collect();
            assert_eq!(vcpu.len(), rounds, "{}: one vcpu_ms per request", page.name);
            // Requests to one edge run one after another, so records come
            // in round order.
            for (round, v) in vcpu.iter().enumerate() {
                tallies[i].round_vcpu[round] += v;
                tallies[i].round_mib[round] += mib;
            }
            per_mib[i] = vcpu.iter().sum::<f64>() / (mib * rounds as f64);
            heap[i] = edge.heap_mib()[heap_before[i]..]
                .iter()
                .copied()
                .fold(0.0, f64::max);
            tallies[i].heap_max = tallies[i].heap_max.max(heap[i]);
        }
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.2} | {:.0} / {:.0} |",
            page.name,
            page.size / 1024,
            per_mib[0],
            per_mib[1],
            per_mib[1] / per_mib[0],
            heap[0],
            heap[1],
        );
    }
    let [base, new] = &tallies;
    println!(
        "\nvCPU ms per MiB (pooled): baseline {:.2}, new {:.2}, new / baseline {:.3}; heap max {:.0} / {:.0} MiB ({rounds} rounds per page)",
        base.pooled(),
        new.pooled(),
        new.pooled() / base.pooled(),
        base.heap_max,
        new.heap_max,
    );
    tallies
}

/// The comparison over every configuration, the table to quote.
fn print_summary(summary: &[(String, [Tally; 2])], rounds: usize) {
    println!("\n### new / baseline ({rounds} rounds per page and build)\n");
    println!("| configuration | vCPU ms/MiB baseline | vCPU ms/MiB new | new / baseline | per round (min-max) | heap max MiB baseline / new | edge TTFB p50 ms baseline / new |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for (name, [base, new]) in summary {
        let mut rounds: Vec<f64> = new
            .round_vcpu
            .iter()
            .zip(&base.round_vcpu)
            .map(|(n, b)| n / b)
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.2} | {:.2} | {:.3} | {:.2}-{:.2} | {:.0} / {:.0} | {:.2} / {:.2} |",
            base.pooled(),
            new.pooled(),
            new.pooled() / base.pooled(),
            rounds.first().copied().unwrap_or(f64::NAN),
            rounds.last().copied().unwrap_or(f64::NAN),
            base.heap_max,
            new.heap_max,
            median(&mut base.ttfb.clone()),
            median(&mut new.ttfb.clone()),
        );
    }
}
