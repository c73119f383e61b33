//! The CPU budget (`publisher.cpu_budget_ms`): set to a few milliseconds,
//! the largest corpus page cannot be rewritten inside it, so the edge stops
//! rewriting part-way and sends the rest as the origin sent it. The
//! response is complete (never aborted), everything before the switch is
//! exactly the start of the full rewrite, everything after it is the
//! origin's bytes, and the access line says where the switch came.
//!
//! vCPU readings move with the machine's load, so where the switch lands is
//! not fixed: the budget is raised until it lands inside the page, and the
//! assertions hold wherever it does.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_core::content_kind::ContentKind;
use sluice_core::encoding::ContentEncoding;
use sluice_core::pipeline::{Pipeline, PipelineConfig};
use sluice_core::rewrite::RewriteRules;
use sluice_e2e::http::{decode, get};
use sluice_e2e::{corpus_listing, EdgeConfig, Stack};

/// Budgets tried in turn (1 ms apart: the page's body costs only a few
/// milliseconds on a quiet machine) until the switch lands inside it.
const BUDGETS_MS: std::ops::RangeInclusive<u64> = 3..=40;

struct Largest {
    name: String,
    host: String,
    bytes: Vec<u8>,
}

fn largest_page() -> Largest {
    let page = corpus_listing()
        .into_iter()
        .filter(|p| p.host.is_some())
        .max_by_key(|p| p.size)
        .expect("a corpus page");
    Largest {
        bytes: page.read(),
        host: page.host.clone().unwrap().to_ascii_lowercase(),
        name: page.name,
    }
}

fn full_rewrite(page: &Largest, authority: &str) -> Vec<u8> {
    let rules = RewriteRules::new([page.host.as_str()], "http", authority).unwrap();
    let config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    let mut p = Pipeline::new(config, Vec::new()).unwrap();
    p.write_chunk(&page.bytes).unwrap();
    p.finish().unwrap()
}

/// What one budgeted request gave.
struct Switched {
    body: Vec<u8>,
    at: usize,
    rest: String,
    edge: String,
    cache: Option<String>,
}

/// Requests the page with the budget, raising it until the switch lands
/// strictly inside the page.
fn switched(page: &Largest, query: &str, stack_for: impl Fn(u64) -> Stack) -> (Stack, Switched) {
    for budget in BUDGETS_MS {
        let stack = stack_for(budget);
        let url = stack.edge.url(&format!("/pages/{}?{query}", page.name));
        let resp = get(&url, &[]);
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("content-encoding"),
            None,
            "identity to the client"
        );
        // `get` fails on a broken chunked stream: the response is complete.
        let body = decode(None, &resp.body).unwrap();
        let records = stack.edge.wait_access_records(1, Duration::from_secs(10));
        let rec = records.last().expect("access line").clone();
        let Some(stop) = rec.get("cpu_budget").filter(|s| s.is_object()) else {
            panic!(
                "a {budget} ms budget did not stop the rewrite of {}: {rec}",
                page.name
            );
        };
        let at = stop["at_byte"].as_u64().unwrap() as usize;
        if at == 0 {
            // The request had spent the budget before the body: try more.
            continue;
        }
        assert!(at < page.bytes.len(), "{rec}");
        let out = Switched {
            body,
            at,
            rest: stop["rest"].as_str().unwrap().to_owned(),
            edge: stack.edge.addr.to_string(),
            cache: rec["cache"].as_str().map(str::to_owned),
        };
        return (stack, out);
    }
    panic!("no budget in {BUDGETS_MS:?} let the rewrite start");
}

/// The switch's contract: rewritten prefix, then the origin's bytes.
fn assert_switch(page: &Largest, s: &Switched) {
    let tail = &page.bytes[s.at..];
    assert!(s.body.len() >= tail.len(), "body shorter than the tail");
    let (head, rest) = s.body.split_at(s.body.len() - tail.len());
    assert!(rest == tail, "after the switch the bytes are the origin's");
    let full = full_rewrite(page, &s.edge);
    assert!(
        full.starts_with(head),
        "before the switch the bytes are the start of the full rewrite"
    );
    let edge_urls = head
        .windows(s.edge.len())
        .filter(|w| *w == s.edge.as_bytes())
        .count();
    assert!(edge_urls > 0, "the beginning is rewritten");
    // The origin's prefix swapped to the edge is the rewritten prefix: the
    // switch neither lost nor doubled a byte.
    assert!(head.len() >= s.at, "{} < {}", head.len(), s.at);
}

fn stack_with(page: &Largest, budget: u64) -> Stack {
    Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", &page.host)
            .set("publisher.cpu_budget_ms", &budget.to_string())
    })
}

#[test]
fn identity_origin_splices_the_rest_to_the_client() {
    let page = largest_page();
    let (_stack, s) = switched(&page, "enc=identity", |b| stack_with(&page, b));
    assert_eq!(s.rest, "splice");
    assert_switch(&page, &s);
}

#[test]
fn gzip_origin_decodes_the_rest_without_rewriting() {
    let page = largest_page();
    let (_stack, s) = switched(&page, "enc=gzip&chunk=random&seed=7", |b| {
        stack_with(&page, b)
    });
    assert_eq!(s.rest, "decode");
    assert_switch(&page, &s);
}

#[test]
fn a_cache_fill_copies_the_rest_and_the_next_visitor_gets_the_same_bytes() {
    let page = largest_page();
    let query = "enc=identity&h=Cache-Control%3Amax-age%3D60";
    let (stack, s) = switched(&page, query, |b| stack_with(&page, b));
    assert_eq!(s.cache.as_deref(), Some("MISS"));
    assert_eq!(s.rest, "copy");
    assert_switch(&page, &s);
    let url = stack.edge.url(&format!("/pages/{}?{query}", page.name));
    let hit = get(&url, &[]);
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert!(
        hit.body == s.body,
        "the stored entry is the complete response"
    );
}

#[test]
fn a_zero_budget_rewrites_the_whole_page() {
    let page = largest_page();
    let stack = stack_with(&page, 0);
    let resp = get(&stack.edge.url(&format!("/pages/{}", page.name)), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.body == full_rewrite(&page, &stack.edge.addr.to_string()));
    let records = stack.edge.wait_access_records(1, Duration::from_secs(10));
    assert!(records.last().unwrap().get("cpu_budget").is_none());
}
