//! Issue: publisher proxy, progressive rendering in a real browser.
//!
//! Debian's headless chromium (driven by playwright-core from
//! `tests/peers/`, installed by `scripts/ensure-tools`) loads a corpus page
//! through the edge while the origin sends the first half of its body and
//! then waits 3 s. The first contentful paint must come before the body ends, and every
//! link the browser sees must point at the edge, not the origin host.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;
use sluice_e2e::http::get;
use sluice_e2e::scan::attributes_pointing_at;
use sluice_e2e::{corpus_dir, workspace, EdgeConfig, Stack};

const ORIGIN_HOST: &str = "www.aclu.org";
const PAUSE_MS: f64 = 3000.0;

fn first_paint(url: &str) -> Value {
    let peers = workspace().join("tests/peers");
    assert!(
        peers.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/ensure-tools"
    );
    let out = Command::new("node")
        .arg(peers.join("first_paint.mjs"))
        .arg(url)
        .current_dir(&peers)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "chromium run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line from first_paint.mjs")
}

#[test]
fn first_contentful_paint_comes_before_the_origin_finishes() {
    let page = std::fs::read(corpus_dir().join("pages/aclu.html")).expect("corpus page");
    let absolute_links = attributes_pointing_at(&page, &[ORIGIN_HOST])
        .iter()
        .filter(|a| a.starts_with("<a href="))
        .count();
    // The guest re-encodes, so the browser decodes gzip and br streams the
    // edge flushed chunk by chunk.
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", ORIGIN_HOST)
            .set("publisher.output_encoding", "origin")
    });
    for enc in ["gzip", "br", "identity"] {
        // The origin pauses after half of the encoded body. (A fixed 32 KiB
        // would not do: as identity that is all `<head>` — aclu.html's
        // `<body>` starts at byte 57,751 — and as br it is the whole page.)
        let encoded = get(
            &stack.origin.url(&format!("/pages/aclu.html?enc={enc}")),
            &[],
        )
        .body
        .len();
        let pause_after = encoded / 2;
        let url = stack.edge.url(&format!(
            "/pages/aclu.html?enc={enc}&pause_after={pause_after}&pause_ms={PAUSE_MS}"
        ));
        let got = first_paint(&url);
        let fcp = got["fcp_ms"]
            .as_f64()
            .expect("chromium reported a first contentful paint");
        let body_end = got["response_end_ms"].as_f64().expect("navigation timing");
        // The origin really held the rest of the body back...
        assert!(body_end >= PAUSE_MS, "{enc}: body ended at {body_end} ms");
        // ...and the browser painted well before it arrived.
        assert!(
            fcp + 1000.0 < body_end,
            "{enc}: first contentful paint at {fcp} ms, body end at {body_end} ms"
        );

        let edge_origin = format!("http://{}", stack.edge.addr);
        assert_eq!(got["origin"], Value::from(edge_origin.clone()));
        let links: Vec<&str> = got["links"]
            .as_array()
            .expect("links")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let at_origin: Vec<&&str> = links
            .iter()
            .filter(|l| l.contains(&format!("//{ORIGIN_HOST}")))
            .collect();
        assert!(
            at_origin.is_empty(),
            "{enc}: links at the origin: {at_origin:?}"
        );
        // Every link the original page had to its own host now resolves to
        // the edge (relative links do too, so there are at least as many).
        let at_edge = links.iter().filter(|l| l.starts_with(&edge_origin)).count();
        assert!(
            at_edge >= absolute_links && absolute_links > 10,
            "{enc}: {at_edge} links at the edge, the page has {absolute_links} to {ORIGIN_HOST}"
        );
    }
}
