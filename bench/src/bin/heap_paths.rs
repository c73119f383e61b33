//! Guest heap per output path through Viceroy.
//!
//! For the 10 largest corpus pages, each origin encoding (identity, gzip,
//! deflate, br) is requested through the edge with the default output
//! (`publisher.output_encoding = identity`: the guest decodes and rewrites,
//! the host compresses) and with `origin` (the guest re-encodes in the
//! origin's encoding for a client that takes it). Per path it prints the
//! largest WebAssembly heap Viceroy reports for a request ("request
//! completed using N MiB of WebAssembly heap", `viceroy serve -v`) and the
//! page that needed it, so every path can be checked against the 8 MiB
//! goal. Heap is deterministic per request, so one request per page and
//! path is enough.
//!
//! `cargo run --release -p sluice-bench --bin heap_paths [-- PATH [KEY=VALUE...]]`
//! (for example `origin/br publisher.brotli_quality=3`: that path alone,
//! with a setting changed)
// Benchmark code: a failed unwrap or expect stops it, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_bench::heap_mib_lines;
use sluice_e2e::http::get;
use sluice_e2e::{corpus_listing, EdgeConfig, Stack};

fn main() {
    let mut pages = corpus_listing();
    pages.sort_by_key(|p| std::cmp::Reverse(p.size));
    pages.truncate(10);
    let hosts: Vec<String> = pages.iter().filter_map(|p| p.host.clone()).collect();
    println!("| output | origin | client accepts | heap MiB (max over 10 pages) | page | heap MiB per page |");
    println!("| --- | --- | --- | ---: | --- | --- |");
    let only = std::env::args().nth(1);
    // Further `key=value` arguments are Config Store settings.
    let extra: Vec<(String, String)> = std::env::args()
        .skip(2)
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    for mode in ["identity", "origin"] {
        let stack = Stack::start_with(|c: EdgeConfig| {
            let c = c
                .set("publisher.rewrite_hosts", &hosts.join(","))
                .set("publisher.output_encoding", mode);
            extra.iter().fold(c, |c, (k, v)| c.set(k, v))
        });
        for enc in ["identity", "gzip", "deflate", "br"] {
            if only
                .as_deref()
                .is_some_and(|o| o != format!("{mode}/{enc}"))
            {
                continue;
            }
            let mut per_page = Vec::new();
            for page in &pages {
                let before = heap_mib_lines(&stack.edge.proc.lines()).len();
                let resp = get(
                    &stack.edge.url(&format!("/pages/{}?enc={enc}", page.name)),
                    &[("accept-encoding", "gzip, deflate, br")],
                );
                assert_eq!(resp.status, 200, "{} {enc}", page.name);
                assert!(resp.body_error.is_none(), "{} {enc}", page.name);
                let heap = wait_heap(&stack, before);
                per_page.push((page.name.clone(), heap));
            }
            let (page, max) = per_page
                .iter()
                .cloned()
                .fold((String::new(), 0f64), |a, b| if b.1 > a.1 { b } else { a });
            let all: Vec<String> = per_page.iter().map(|(_, h)| format!("{h:.0}")).collect();
            let accepts = "gzip, deflate, br";
            println!(
                "| {mode} | {enc} | {accepts} | {max:.0} | {page} | {} |",
                all.join(" ")
            );
        }
    }
}

/// Waits for Viceroy's heap line of the request just made.
fn wait_heap(stack: &Stack, before: usize) -> f64 {
    for _ in 0..250 {
        let heaps = heap_mib_lines(&stack.edge.proc.lines());
        if let Some(h) = heaps.get(before) {
            return *h;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no heap line from Viceroy");
}
