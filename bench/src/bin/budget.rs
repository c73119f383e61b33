//! CPU budget benchmark through Viceroy (`publisher.cpu_budget_ms`).
//!
//! How much HTML each path rewrites before the default 40 ms budget stops
//! it, and what finishing the response costs after the switch. A 24 MiB
//! generated page (`/gen/html/…`: every line carries origin URLs in
//! attributes, inline script and CSS) is requested from an identity, a
//! gzip and a brotli origin, with the client output the default
//! (identity, for the host to compress) and guest gzip
//! (`publisher.output_encoding = origin`, a client taking gzip). Per
//! request the access line gives the decoded byte where rewriting stopped
//! (`cpu_budget.at_byte`), the vCPU then, and the request's vCPU at its
//! end: the last minus the first is what the remainder cost.
//!
//! `cargo run --release -p sluice-bench --bin budget -- [rounds]`
// Benchmark code: a failed unwrap or expect stops it, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_bench::median;
use sluice_e2e::http::get;
use sluice_e2e::{EdgeConfig, Stack};

/// The generated page's size.
const PAGE_BYTES: u64 = 12 << 20;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    // The service's default budget (the test harness turns it off).
    let budget = |c: EdgeConfig| c.set("publisher.cpu_budget_ms", "40");
    let default = Stack::start_with(budget);
    let guest_gzip =
        Stack::start_with(|c: EdgeConfig| budget(c).set("publisher.output_encoding", "origin"));
    println!("### CPU budget through Viceroy (default 40 ms; {rounds} rounds, medians)\n");
    println!("| origin | client output | rewritten before the switch (MiB) | vCPU at the switch (ms) | vCPU at the end (ms) | remainder (MiB) | remainder's vCPU per MiB (ms) | how the rest went |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for (enc, out, stack, accept) in [
        ("identity", "identity", &default, "identity"),
        ("gzip", "identity", &default, "identity"),
        ("gzip&length=known", "identity", &default, "identity"),
        ("br", "identity", &default, "identity"),
        ("br&length=known", "identity", &default, "identity"),
        ("gzip", "guest gzip", &guest_gzip, "gzip"),
        ("gzip&length=known", "guest gzip", &guest_gzip, "gzip"),
    ] {
        let (mut at, mut switch, mut end, mut how) = (vec![], vec![], vec![], String::new());
        for round in 0..rounds {
            let url = stack
                .edge
                .url(&format!("/gen/html/{PAGE_BYTES}?enc={enc}&r={round}"));
            let before = stack.edge.access_records().len();
            let resp = get(&url, &[("accept-encoding", accept)]);
            assert_eq!(resp.status, 200);
            let records = stack
                .edge
                .wait_access_records(before + 1, Duration::from_secs(30));
            let rec = records.last().unwrap();
            let Some(stop) = rec.get("cpu_budget").filter(|s| s.is_object()) else {
                println!("| {enc} | {out} | whole page rewritten: {rec} |");
                continue;
            };
            at.push(stop["at_byte"].as_f64().unwrap() / f64::from(1 << 20));
            switch.push(stop["vcpu_ms"].as_f64().unwrap());
            end.push(rec["vcpu_ms"].as_f64().unwrap_or(f64::NAN));
            how = stop["rest"].as_str().unwrap_or("?").to_owned();
        }
        if at.is_empty() {
            continue;
        }
        let (at, switch, end) = (median(&mut at), median(&mut switch), median(&mut end));
        let rest = PAGE_BYTES as f64 / f64::from(1 << 20) - at;
        println!(
            "| {enc} | {out} | {at:.2} | {switch:.0} | {end:.0} | {rest:.1} | {:.2} | {how} |",
            (end - switch) / rest
        );
    }
}
