//! Issue: publisher proxy, corpus acceptance. All 130 real pages, served by
//! sluice-origin in random chunk sizes as identity, gzip, deflate (zlib and
//! raw) and br, come back
//! through Viceroy decoded to exactly the core's rewrite of the page; the
//! hosts swapped back give the original bytes (modulo the http/https of
//! origin URLs: the test edge speaks http); and no attribute still holds an
//! http(s) URL of the origin host (checked by an independent lol_html
//! scan of the decoded attribute values).
//!
//! Hosts are grouped so that no page in a group links to another host of
//! its own group: then "swap the edge back to the page's host" is exact.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use sluice_core::content_kind::ContentKind;
use sluice_core::encoding::ContentEncoding;
use sluice_core::pipeline::{Pipeline, PipelineConfig};
use sluice_core::rewrite::RewriteRules;
use sluice_e2e::http::{decode, get};
use sluice_e2e::scan::{attributes_pointing_at, find, host_ends_at, mentions};
use sluice_e2e::{corpus_listing, EdgeConfig, Stack};

struct Page {
    name: String,
    host: Option<String>,
    bytes: Vec<u8>,
}

fn pages() -> Vec<Page> {
    corpus_listing()
        .into_iter()
        .map(|p| Page {
            bytes: p.read(),
            host: p.host.map(|h| h.to_ascii_lowercase()),
            name: p.name,
        })
        .collect()
}

/// Greedy colouring: hosts that co-occur in a page go to different groups.
fn host_groups(pages: &[Page]) -> Vec<BTreeSet<String>> {
    let hosts: BTreeSet<String> = pages.iter().filter_map(|p| p.host.clone()).collect();
    let mut conflicts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in pages {
        let Some(own) = &p.host else { continue };
        for other in &hosts {
            if other != own && mentions(&p.bytes, other) {
                conflicts.entry(own).or_default().insert(other);
                conflicts.entry(other).or_default().insert(own);
            }
        }
    }
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for h in &hosts {
        let none = BTreeSet::new();
        let c = conflicts.get(h.as_str()).unwrap_or(&none);
        match groups
            .iter_mut()
            .find(|g| g.iter().all(|o| !c.contains(o.as_str())))
        {
            Some(g) => {
                g.insert(h.clone());
            }
            None => groups.push(BTreeSet::from([h.clone()])),
        }
    }
    groups
}

fn core_rewrite(page: &[u8], hosts: &BTreeSet<String>, authority: &str) -> Vec<u8> {
    let rules = RewriteRules::new(hosts.iter(), "http", authority).expect("rules");
    let config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    Pipeline::new(config, Vec::new())
        .expect("pipeline")
        .process(page)
        .expect("core rewrite")
}

/// `page` with `https:` on origin-host URLs lowered to `http:`: besides
/// the authority, the scheme is all the edge may change (its own is http).
fn normalise_scheme(page: &[u8], host: &str) -> Vec<u8> {
    let mut out = page.to_vec();
    for sep in ["//", "\\/\\/"] {
        let pattern = format!("https:{sep}{host}");
        let lower = out.to_ascii_lowercase();
        let mut positions = Vec::new();
        let mut i = 0;
        while let Some(p) = find(&lower[i..], pattern.as_bytes()) {
            let start = i + p;
            let end = start + pattern.len();
            let boundary = host_ends_at(&lower, end);
            if boundary {
                positions.push(start);
            }
            i = start + 1;
        }
        for start in positions.into_iter().rev() {
            out.splice(start..start + 6, b"http:".iter().copied());
        }
    }
    out
}

/// Where two byte strings first differ, with some context, for messages.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(60);
    let show = |s: &[u8]| String::from_utf8_lossy(&s[from..(at + 60).min(s.len())]).into_owned();
    format!("at byte {at}: got {:?}, want {:?}", show(a), show(b))
}

fn swap_back(output: &[u8], authority: &str, host: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(output.len());
    let a = authority.as_bytes();
    let mut i = 0;
    while i < output.len() {
        if output[i..].starts_with(a) {
            out.extend_from_slice(host.as_bytes());
            i += a.len();
        } else {
            out.push(output[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn every_corpus_page_through_the_edge_in_every_encoding() {
    let pages = pages();
    assert_eq!(pages.len(), 130, "corpus incomplete");
    let groups = host_groups(&pages);
    let mut checked = 0;
    for (gi, group) in groups.iter().enumerate() {
        let list = group.iter().cloned().collect::<Vec<_>>().join(",");
        // The guest re-encodes, so every page also goes through the gzip
        // and brotli encoders end to end. The CPU budget is off: this test
        // checks the whole rewrite of every page, and Viceroy's vCPU
        // clock counts the machine's other load (tests/cpu_budget.rs
        // checks the budget's switch).
        let stack = Stack::start_with(|c: EdgeConfig| {
            c.set("publisher.rewrite_hosts", &list)
                .set("publisher.output_encoding", "origin")
                .set("publisher.cpu_budget_ms", "0")
        });
        let authority = stack.edge.addr.to_string();
        let members = pages.iter().filter(|p| match &p.host {
            Some(h) => group.contains(h),
            None => gi == 0,
        });
        for (pi, page) in members.enumerate() {
            let expected = core_rewrite(&page.bytes, group, &authority);
            // `deflate` is zlib-wrapped, `deflate-raw` is the raw stream some
            // servers send under the same `Content-Encoding: deflate`.
            for enc in ["identity", "gzip", "deflate", "deflate-raw", "br"] {
                let url = stack.edge.url(&format!(
                    "/pages/{}?enc={enc}&chunk=random&seed={}",
                    page.name,
                    pi * 3 + 1
                ));
                let resp = get(&url, &[("accept-encoding", "gzip, br, deflate")]);
                assert_eq!(resp.status, 200, "{} {enc}", page.name);
                assert!(
                    resp.body_error.is_none(),
                    "{} {enc}: {:?}",
                    page.name,
                    resp.body_error
                );
                let ce = resp.header("content-encoding");
                // The guest keeps the origin's coding; raw deflate goes out
                // zlib-wrapped, as `deflate` means (RFC 9110).
                let want = match enc {
                    "identity" => None,
                    "deflate-raw" => Some("deflate"),
                    other => Some(other),
                };
                assert_eq!(ce, want, "{} {enc}", page.name);
                let body = decode(ce, &resp.body).expect("decodable body");
                assert!(
                    body == expected,
                    "{} {enc}: edge output differs from the core rewrite",
                    page.name
                );
                if let Some(host) = &page.host {
                    // Both sides with `https://host` lowered to `http://host`:
                    // the edge's own scheme is http, and prose (text nodes,
                    // `<textarea>`) keeps its URLs as they were.
                    let back = normalise_scheme(&swap_back(&body, &authority, host), host);
                    let original = normalise_scheme(&page.bytes, host);
                    assert!(
                        back == original,
                        "{} {enc}: swapping the host back does not give the original: {}",
                        page.name,
                        first_difference(&back, &original)
                    );
                    let left = attributes_pointing_at(&body, &group.iter().collect::<Vec<_>>());
                    assert!(left.is_empty(), "{} {enc}: {left:?}", page.name);
                } else if group.iter().all(|h| !mentions(&page.bytes, h)) {
                    assert!(
                        body == page.bytes,
                        "{}: page with nothing to rewrite changed",
                        page.name
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 130 * 5);
}
