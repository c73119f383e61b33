//! Edge cache benchmark through Viceroy (issue 18).
//!
//! On the 10 largest corpus pages, in one run, it measures per request the
//! guest's `vcpu_ms` (access line), the client's time from sending the
//! request to the last body byte, and the WebAssembly heap Viceroy reports
//! (`-v`), for three kinds of request:
//!
//! - **MISS**: a cold URL (a fresh `r=` in the query) of a cacheable page
//!   (`Cache-Control: max-age=3600` from the origin): fetched, rewritten
//!   and stored while it streams;
//! - **HIT**: the same URL again, served from the cache's body handle;
//! - **floor**: the same page through a second edge with rewriting off
//!   (`publisher.rewrite_hosts` unset) and the cache off: the origin's
//!   body handle passed to the host, the cheapest thing the edge can do.
//!
//! Rounds interleave the three for every page so machine noise hits all
//! alike. Targets: a HIT costs at most 5% of a MISS's vCPU, its client
//! time is within 1.2x of the floor, and the heap stays under 8 MiB.
//! Access-line vCPU is whole milliseconds, so the vCPU ratio is pooled
//! (all hits' vCPU over all misses'); client times are compared as the
//! median over pages of each page's median ratio.
//!
//! `cargo run --release -p sluice-bench --bin cache -- [rounds]`
// Test and benchmark code: a failed unwrap or expect stops it, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_bench::{heap_mib_lines, median};
use sluice_e2e::bigbody::download;
use sluice_e2e::{corpus_listing, Edge, EdgeConfig, ListedPage, Stack};

/// One request's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    vcpu_ms: f64,
    client_ms: f64,
    heap_mib: f64,
}

/// The samples of one kind of request for one page.
#[derive(Debug, Default)]
struct Series(Vec<Sample>);

impl Series {
    fn med(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        median(&mut self.0.iter().map(f).collect::<Vec<_>>())
    }
    fn sum(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        self.0.iter().map(f).sum()
    }
    fn max(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        self.0.iter().map(f).fold(0f64, f64::max)
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let mut pages = corpus_listing();
    pages.sort_by_key(|p| std::cmp::Reverse(p.size));
    pages.truncate(10);
    let hosts: Vec<String> = pages.iter().filter_map(|p| p.host.clone()).collect();
    let cached =
        Stack::start_with(|c: EdgeConfig| c.set("publisher.rewrite_hosts", &hosts.join(",")));
    let floor = Stack::start_with(|c: EdgeConfig| {
        c.unset("publisher.rewrite_hosts")
            .set("cache.enabled", "false")
    });

    // Warm both edges (first-request costs are not what is measured).
    let warm = "/pages/aclu.html?warm=1";
    measure(&cached.edge, warm, None, "stream");
    measure(&floor.edge, warm, None, "passthrough");

    let mut miss: Vec<Series> = pages.iter().map(|_| Series::default()).collect();
    let mut hit: Vec<Series> = pages.iter().map(|_| Series::default()).collect();
    let mut pass: Vec<Series> = pages.iter().map(|_| Series::default()).collect();
    for round in 0..rounds {
        for (i, ListedPage { name, .. }) in pages.iter().enumerate() {
            let path = format!("/pages/{name}?r={round}&h=Cache-Control:max-age=3600");
            miss[i]
                .0
                .push(measure(&cached.edge, &path, Some("MISS"), "stream"));
            hit[i]
                .0
                .push(measure(&cached.edge, &path, Some("HIT"), "cache"));
            pass[i]
                .0
                .push(measure(&floor.edge, &path, None, "passthrough"));
        }
    }

    println!("### Edge cache through Viceroy ({rounds} rounds per page, medians)\n");
    println!("| page | KiB | vCPU ms MISS | vCPU ms HIT | vCPU ms floor | client ms MISS | client ms HIT | client ms floor | HIT / floor time | heap MiB max (MISS / HIT / floor) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let vcpu = |s: &Sample| s.vcpu_ms;
    let client = |s: &Sample| s.client_ms;
    let heap = |s: &Sample| s.heap_mib;
    let mut time_ratios = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let ratio = hit[i].med(client) / pass[i].med(client);
        time_ratios.push(ratio);
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {ratio:.2} | {:.0} / {:.0} / {:.0} |",
            p.name,
            p.size / 1024,
            miss[i].med(vcpu),
            hit[i].med(vcpu),
            pass[i].med(vcpu),
            miss[i].med(client),
            hit[i].med(client),
            pass[i].med(client),
            miss[i].max(heap),
            hit[i].max(heap),
            pass[i].max(heap),
        );
    }
    let total = |series: &[Series], f: &dyn Fn(&Sample) -> f64| -> f64 {
        series.iter().map(|s| s.sum(f)).sum()
    };
    let vcpu_ratio = total(&hit, &vcpu) / total(&miss, &vcpu);
    let time_ratio = median(&mut time_ratios.clone());
    let pooled_time_ratio = total(&hit, &client) / total(&pass, &client);
    let max_heap = [&miss, &hit, &pass]
        .iter()
        .flat_map(|k| k.iter().map(|s| s.max(heap)))
        .fold(0f64, f64::max);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!(
        "- HIT / MISS guest vCPU (pooled: {:.0} ms over {:.0} ms): {:.1}% (target <= 5%: {})",
        total(&hit, &vcpu),
        total(&miss, &vcpu),
        vcpu_ratio * 100.0,
        verdict(vcpu_ratio <= 0.05)
    );
    println!(
        "- HIT / floor client time: median over pages {time_ratio:.2}x, worst page {:.2}x, pooled {pooled_time_ratio:.2}x (target <= 1.2x: {})",
        time_ratios.iter().cloned().fold(0f64, f64::max),
        verdict(time_ratio <= 1.2)
    );
    println!(
        "- heap: max {max_heap:.0} MiB over every request (target < 8 MiB: {})",
        verdict(max_heap < 8.0)
    );
}

/// One GET through `edge`, timed by the client, with the access line's
/// vCPU and Viceroy's heap line for it (requests on an edge are
/// sequential, so the next line of each is this request's). `x_cache`
/// and `mode` are what the request must have been.
fn measure(edge: &Edge, path: &str, x_cache: Option<&str>, mode: &str) -> Sample {
    let records_before = edge.access_records().len();
    let heaps_before = heap_mib_lines(&edge.proc.lines()).len();
    let got = download(edge.addr, "GET", path, &[]).expect("request");
    assert_eq!(got.head.status, 200, "{path}");
    assert!(got.complete, "{path}: incomplete body");
    if let Some(want) = x_cache {
        assert_eq!(got.head.header("x-cache"), Some(want), "{path}");
    }
    let records = edge.wait_access_records(records_before + 1, Duration::from_secs(10));
    let record = &records[records_before];
    assert_eq!(record["mode"], mode, "{path}: {record}");
    let heap = wait_heap_line(edge, heaps_before);
    Sample {
        vcpu_ms: record["vcpu_ms"].as_f64().expect("vcpu_ms"),
        client_ms: got.secs * 1000.0,
        heap_mib: heap,
    }
}

/// Viceroy's heap line number `index` (printed when the request ends).
fn wait_heap_line(edge: &Edge, index: usize) -> f64 {
    for _ in 0..500 {
        if let Some(h) = heap_mib_lines(&edge.proc.lines()).get(index) {
            return *h;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no heap line {index} from viceroy");
}
