//! Issue: publisher proxy. Stream / Buffered / PassThrough through Viceroy
//! against sluice-origin: headers, synthetic ID, first byte, aborts.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sluice_e2e::bigbody::Conn;
use sluice_e2e::http::{decode, decode_prefix, get, request, Timed};
use sluice_e2e::scan::attributes_pointing_at;
use sluice_e2e::{EdgeConfig, Stack};
use sluice_origin::content::{GenDoc, GenKind, UrlForms};

const PAGE: &str = "/pages/aclu.html";
/// The largest corpus page: even brotli-encoded it is well over 32 KiB.
const BIG_PAGE: &str = "/pages/yahoo-2.html";

/// The guest re-encodes (`origin`), so the tests below cover the
/// pipeline's encoders end to end; the default (host compression) has its
/// own test.
fn edge_pages_stack() -> Stack {
    Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", "origin.example,www.aclu.org")
            .set("publisher.output_encoding", "origin")
    })
}

fn echo_header(body: &[u8], name: &str) -> Vec<String> {
    let echo: serde_json::Value = serde_json::from_slice(body).expect("echo JSON");
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .filter_map(|p| p[1].as_str().map(str::to_owned))
        .collect()
}

fn sid_cookie(resp: &sluice_e2e::http::Resp) -> Option<String> {
    resp.header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("sluice_id="))
        .map(str::to_owned)
}

#[test]
fn streamed_page_headers_are_decided_before_the_body() {
    let stack = edge_pages_stack();
    let resp = get(
        &stack.edge.url(&format!("{PAGE}?enc=gzip")),
        &[("accept-encoding", "gzip")],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert!(resp.header("content-length").is_none());
    assert!(
        resp.header("etag").is_some_and(|e| e.starts_with("W/\"")),
        "{:?}",
        resp.header("etag")
    );
    assert!(resp
        .header_all("vary")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    let timing = resp.header("server-timing").expect("server-timing");
    assert!(
        timing.contains("edge;dur=") && timing.contains("mode;desc=stream"),
        "{timing}"
    );
    let body = decode(Some("gzip"), &resp.body).expect("valid gzip");
    let left = attributes_pointing_at(&body, &["www.aclu.org"]);
    assert!(left.is_empty(), "origin URLs left: {left:?}");
    assert!(String::from_utf8_lossy(&body).contains(&format!("http://{}/", stack.edge.addr)));
}

#[test]
fn by_default_the_host_compresses_and_the_guest_sends_identity() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", "origin.example,www.aclu.org")
    });
    let guest_encoded = edge_pages_stack();
    let resp = get(
        &stack.edge.url(&format!("{PAGE}?enc=gzip")),
        &[("accept-encoding", "gzip, br")],
    );
    assert_eq!(resp.status, 200);
    // Viceroy ignores `x-compress-hint` (Fastly's host would compress the
    // stream here), so what arrives is the guest's identity output.
    assert!(resp.header("content-encoding").is_none());
    assert_eq!(resp.header("x-compress-hint"), Some("on"));
    assert!(resp.header("content-length").is_none());
    assert!(resp
        .header_all("vary")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    // Same bytes as the guest-encoded path once decoded: only the encoding
    // step differs.
    let encoded = get(
        &guest_encoded.edge.url(&format!("{PAGE}?enc=gzip")),
        &[("accept-encoding", "gzip")],
    );
    assert_eq!(encoded.header("content-encoding"), Some("gzip"));
    let decoded = decode(Some("gzip"), &encoded.body).expect("valid gzip");
    let authority = |s: &Stack| s.edge.addr.to_string();
    let swapped =
        String::from_utf8_lossy(&decoded).replace(&authority(&guest_encoded), &authority(&stack));
    assert!(resp.body == swapped.as_bytes(), "identity body differs");
    assert!(attributes_pointing_at(&resp.body, &["www.aclu.org"]).is_empty());

    // A client that takes no encoding gets the same identity body.
    let plain = get(&stack.edge.url(&format!("{PAGE}?enc=gzip")), &[]);
    assert!(plain.header("content-encoding").is_none());
    assert!(plain.body == resp.body);
}

#[test]
fn client_without_gzip_gets_identity() {
    let stack = edge_pages_stack();
    let resp = get(&stack.edge.url(&format!("{PAGE}?enc=gzip")), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-encoding").is_none());
    // Exactly the core's rewrite of the page, decoded from the origin's
    // gzip, never the gzip bytes or a partial document.
    let page = std::fs::read(sluice_e2e::corpus_dir().join("pages/aclu.html")).unwrap();
    let edge = stack.edge.addr.to_string();
    assert!(
        resp.body == core_rewrite(&page, &edge),
        "not the rewritten page"
    );
}

/// The core's rewrite of `page` for `edge_pages_stack`'s hosts.
fn core_rewrite(page: &[u8], edge: &str) -> Vec<u8> {
    use sluice_core::{ContentEncoding, ContentKind, Pipeline, PipelineConfig, RewriteRules};
    let rules = RewriteRules::new(["origin.example", "www.aclu.org"], "http", edge).unwrap();
    let config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    let mut p = Pipeline::new(config, Vec::new()).unwrap();
    p.write_chunk(page).unwrap();
    p.finish().unwrap()
}

#[test]
fn access_log_records_every_field() {
    let stack = edge_pages_stack();
    let resp = get(
        &stack.edge.url(&format!("{PAGE}?enc=br")),
        &[("accept-encoding", "br")],
    );
    assert_eq!(resp.status, 200);
    // What the origin sent the edge: the same page, br.
    let direct = get(&stack.origin.url(&format!("{PAGE}?enc=br")), &[]);
    let records = stack.edge.wait_access_records(1, Duration::from_secs(5));
    let r = records.last().expect("an access record");
    assert_eq!(r["mode"], "stream");
    assert_eq!(r["method"], "GET");
    assert_eq!(r["path"], PAGE, "the path, never the query");
    assert_eq!(r["status"], 200);
    assert_eq!(r["origin_status"], 200);
    assert_eq!(r["bytes_in"].as_u64().unwrap(), direct.body.len() as u64);
    assert_eq!(r["bytes_out"].as_u64().unwrap(), resp.body.len() as u64);
    assert_eq!(r["cache"], "PASS", "the origin sent no freshness");
    assert_eq!(r["synthetic_id"], "on");
    let (ttfb, total) = (
        r["ttfb_ms"].as_f64().unwrap(),
        r["total_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < ttfb && ttfb <= total, "{r}");
    assert!(r["vcpu_ms"].is_u64(), "{r}");
    let heap = r["heap_mib"].as_u64().unwrap();
    assert!((1..8).contains(&heap), "{r}");
    for absent in ["abort", "error_class", "cpu_budget"] {
        assert!(r.get(absent).is_none(), "{absent} in {r}");
    }
}

#[test]
fn synthetic_id_is_issued_kept_and_replaced_when_forged() {
    let stack = Stack::start();
    // New visitor: a signed ID is issued and the response is private.
    let first = get(&stack.edge.url("/echo/sid"), &[]);
    let cookie = sid_cookie(&first).expect("sluice_id issued");
    assert!(
        cookie.contains("; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age="),
        "{cookie}"
    );
    assert!(first
        .header("cache-control")
        .is_some_and(|c| c.starts_with("private")));
    let value = cookie
        .trim_start_matches("sluice_id=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (id, sig) = value.split_once('.').expect("id.sig");
    assert_eq!(id.len(), 32);
    assert_eq!(sig.len(), 64);
    assert_eq!(echo_header(&first.body, "x-sluice-id"), [id]);

    // Returning visitor: the same ID reaches the origin, no new cookie,
    // and the raw cookie is not forwarded.
    let again = get(
        &stack.edge.url("/echo/sid"),
        &[("cookie", &format!("a=1; sluice_id={value}; b=2"))],
    );
    assert!(sid_cookie(&again).is_none());
    assert_eq!(echo_header(&again.body, "x-sluice-id"), [id]);
    assert_eq!(echo_header(&again.body, "cookie"), ["a=1; b=2"]);

    // Forged: same ID, wrong signature. Replaced, never trusted.
    let forged = format!("{id}.{}", "0".repeat(64));
    let resp = get(
        &stack.edge.url("/echo/sid"),
        &[("cookie", &format!("sluice_id={forged}"))],
    );
    let new_cookie = sid_cookie(&resp).expect("forged ID replaced");
    assert!(!new_cookie.contains(id));
    let seen = echo_header(&resp.body, "x-sluice-id");
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0], id);
}

#[test]
fn location_link_and_set_cookie_point_at_the_edge() {
    let stack = Stack::start();
    let edge = stack.edge.addr.to_string();
    let resp = get(
        &stack
            .edge
            .url("/redirect?to=https%3A%2F%2Forigin.example%2Fnext%3Fa%3D1%23frag&code=302"),
        &[],
    );
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.header("location"),
        Some(format!("http://{edge}/next?a=1#frag").as_str())
    );
    let other = get(
        &stack
            .edge
            .url("/redirect?to=https%3A%2F%2Fother.example%2Fx"),
        &[],
    );
    assert_eq!(other.header("location"), Some("https://other.example/x"));

    // A cookie the origin scoped to its own host becomes host-only on the
    // edge; one for another domain is left alone.
    let resp = get(&stack.edge.url("/cookie?domain=origin.example"), &[]);
    let cookies: Vec<&str> = resp
        .header_all("set-cookie")
        .into_iter()
        .filter(|c| !c.starts_with("sluice_id="))
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/; HttpOnly"]);
    let resp = get(&stack.edge.url("/cookie?domain=.origin.example"), &[]);
    assert!(resp.header_all("set-cookie").contains(&"a=1; Path=/"));
    let resp = get(&stack.edge.url("/cookie?domain=other.example"), &[]);
    assert!(resp
        .header_all("set-cookie")
        .contains(&"a=1; Domain=other.example; Path=/"));
}

#[test]
fn link_refresh_and_content_location_point_at_the_edge_exactly() {
    let stack = Stack::start();
    let edge = stack.edge.addr.to_string();
    let url = stack.edge.url(
        "/headers?link=https%3A%2F%2Forigin.example%2Fa.css\
         &refresh=https%3A%2F%2Forigin.example%2Fnext%3Fx%3D1\
         &h=Content-Location%3Ahttps%3A%2F%2Forigin.example%2Fdoc%3Flang%3Den\
         &h=Link%3A%3Chttps%3A%2F%2Fother.example%2Fb.js%3E%3B%20rel%3Dpreload",
    );
    let resp = get(&url, &[]);
    assert_eq!(resp.status, 200);
    let mut links = resp.header_all("link");
    links.sort_unstable();
    let mut want = vec![
        format!("<http://{edge}/a.css>; rel=preload; as=style"),
        "<https://other.example/b.js>; rel=preload".to_owned(),
    ];
    want.sort_unstable();
    assert_eq!(links, want);
    assert_eq!(
        resp.header("refresh"),
        Some(format!("0; url=http://{edge}/next?x=1").as_str())
    );
    assert_eq!(
        resp.header("content-location"),
        Some(format!("http://{edge}/doc?lang=en").as_str())
    );
}

#[test]
fn first_decodable_bytes_arrive_long_before_the_origin_finishes() {
    let stack = edge_pages_stack();
    for enc in ["identity", "gzip", "br"] {
        let url = stack.edge.url(&format!(
            "{BIG_PAGE}?enc={enc}&pause_after=32768&pause_ms=3000"
        ));
        let mut timed = Timed::get(&url, &[("accept-encoding", "gzip, br")]);
        assert_eq!(timed.status, 200);
        let content_encoding = timed.header("content-encoding").map(str::to_owned);
        let mut received = Vec::new();
        let mut first_decodable = None;
        loop {
            let (bytes, at) = timed.read_some().expect("body");
            if bytes.is_empty() {
                break;
            }
            received.extend_from_slice(&bytes);
            if first_decodable.is_none()
                && !decode_prefix(content_encoding.as_deref(), &received).is_empty()
            {
                first_decodable = Some(at.duration_since(timed.sent_at));
            }
        }
        let total = timed.sent_at.elapsed();
        let first = first_decodable.expect("decodable bytes");
        assert!(
            first < Duration::from_millis(500),
            "{enc}: first decodable byte after {first:?}"
        );
        assert!(
            total >= Duration::from_millis(2900),
            "{enc}: origin pause not observed ({total:?})"
        );
    }
}

#[test]
fn origin_reset_mid_body_aborts_the_client_response() {
    let stack = edge_pages_stack();
    for enc in ["identity", "gzip"] {
        let resp = get(
            &stack
                .edge
                .url(&format!("{PAGE}?enc={enc}&reset_after=20000")),
            &[("accept-encoding", "gzip")],
        );
        assert_eq!(resp.status, 200, "{enc}");
        assert!(
            resp.body_error.is_some(),
            "{enc}: a reset origin produced a clean end after {} bytes",
            resp.body.len()
        );
    }
    assert!(stack
        .edge
        .access_records()
        .iter()
        .any(|r| r["abort"] == "origin_read"));
}

#[test]
fn lying_content_encoding_is_a_502_before_commit() {
    let stack = edge_pages_stack();
    let resp = get(
        &stack.edge.url(&format!("{PAGE}?lie=gzip")),
        &[("accept-encoding", "gzip")],
    );
    assert_eq!(resp.status, 502);
    assert!(resp.header("x-sluice-error-class").is_some());
    assert!(resp.text().len() < 200);
}

#[test]
fn pass_through_is_byte_identical_and_keeps_validators() {
    let stack = edge_pages_stack();
    for path in [
        "/bytes/300000".to_owned(),
        format!("{PAGE}?disposition=attachment"),
        format!("{PAGE}?enc=zstd"),
    ] {
        let direct = get(&stack.origin.url(&path), &[("accept-encoding", "gzip")]);
        let edge = get(&stack.edge.url(&path), &[("accept-encoding", "gzip")]);
        assert_eq!(edge.status, direct.status, "{path}");
        assert!(edge.body == direct.body, "{path}: body differs");
        assert_eq!(edge.header("etag"), direct.header("etag"), "{path}");
        assert_eq!(
            edge.header("content-length"),
            direct.header("content-length"),
            "{path}"
        );
        let timing = edge.header("server-timing").unwrap_or_default().to_owned();
        assert!(timing.contains("mode;desc=passthrough"), "{path}: {timing}");
    }
}

#[test]
fn range_is_kept_for_binaries_and_ignored_for_rewritten_pages() {
    let stack = edge_pages_stack();
    let part = get(
        &stack.edge.url("/bytes/10000"),
        &[("range", "bytes=100-199")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body.len(), 100);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/10000"));

    let page = get(&stack.edge.url(PAGE), &[("range", "bytes=0-99")]);
    assert_eq!(page.status, 200);
    assert!(page.body.len() > 1000);
    assert!(attributes_pointing_at(&page.body, &["www.aclu.org"]).is_empty());
}

#[test]
fn buffered_path_has_exact_length_and_strong_etag() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", "www.aclu.org")
            .set("publisher.buffered_paths", "/pages/")
    });
    let resp = get(
        &stack.edge.url(&format!("{PAGE}?enc=gzip")),
        &[("accept-encoding", "gzip")],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-length"),
        Some(resp.body.len().to_string().as_str())
    );
    let digest = Sha256::digest(&resp.body);
    let expected: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        resp.header("etag"),
        Some(format!("\"{expected}\"").as_str())
    );
    assert!(resp
        .header("server-timing")
        .unwrap()
        .contains("mode;desc=buffered"));
    let page = decode(Some("gzip"), &resp.body).expect("gzip");
    assert!(attributes_pointing_at(&page, &["www.aclu.org"]).is_empty());
}

#[test]
fn buffered_path_behind_a_slow_origin_streams_after_its_wait() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.buffered_paths", "/gen/")
            .set("publisher.buffer_max_ms", "300")
    });
    // 20 pieces of 16 KiB, 100 ms apart: the body takes about 2 s.
    let n = 20 * 16384;
    let mut resp = Timed::get(
        &stack
            .edge
            .url(&format!("/gen/html/{n}?chunk=16384&interval_ms=100")),
        &[],
    );
    let first = resp.sent_at.elapsed();
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-length").is_none());
    assert!(resp.header("etag").is_some_and(|e| e.starts_with("W/")));
    let timing = resp.header("server-timing").unwrap_or_default().to_owned();
    assert!(timing.contains("mode;desc=stream"), "{timing}");
    let authority = stack.edge.addr.to_string();
    let expected = GenDoc::new(GenKind::Html, "origin.example", n)
        .with_urls(UrlForms::rewritten("http", &authority));
    let mut check = expected.checker();
    loop {
        let (bytes, _) = resp.read_some().expect("body");
        if bytes.is_empty() {
            break;
        }
        check
            .feed(&bytes)
            .expect("the rewritten document, byte for byte");
    }
    check.finish().expect("complete");
    let total = resp.sent_at.elapsed();
    assert!(
        first < Duration::from_millis(1200) && total > Duration::from_millis(1800),
        "head after {first:?}, whole body after {total:?}"
    );
    let records = stack.edge.wait_access_records(1, Duration::from_secs(5));
    assert_eq!(records[0]["mode"], "stream");
}

#[test]
fn buffered_path_over_the_cap_streams_instead_of_failing() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.set("publisher.rewrite_hosts", "www.aclu.org")
            .set("publisher.buffered_paths", "/pages/")
            .set("publisher.buffer_max_bytes", "4096")
    });
    let direct = get(&stack.origin.url(PAGE), &[]);
    let resp = get(&stack.edge.url(PAGE), &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.body_error.is_none());
    assert!(resp.header("content-length").is_none());
    assert!(resp
        .header("server-timing")
        .unwrap()
        .contains("mode;desc=stream"));
    assert!(resp.body.len() > direct.body.len() / 2);
    assert!(stack
        .edge
        .proc
        .wait_for_line(Duration::from_secs(5), |l| l.contains("streaming instead"))
        .is_some());
}

#[test]
fn head_of_a_rewritten_page_gets_the_get_head_and_no_body() {
    let stack = edge_pages_stack();
    let url = stack.edge.url(&format!("{PAGE}?enc=gzip"));
    let ae = [("accept-encoding", "gzip")];
    let got = get(&url, &ae);
    let head = request("HEAD", &url, &ae, None);
    assert_eq!((got.status, head.status), (200, 200));
    assert!(head.body.is_empty());
    for name in [
        "content-type",
        "content-encoding",
        "etag",
        "vary",
        "cache-control",
        "content-length",
        "accept-ranges",
        "x-compress-hint",
    ] {
        assert_eq!(head.header_all(name), got.header_all(name), "{name}");
    }
    // What the GET's head says of a rewritten body, not the origin's.
    assert!(head.header("content-length").is_none());
    assert!(head.header("etag").is_some_and(|e| e.starts_with("W/")));
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    let timing = head.header("server-timing").expect("server-timing");
    assert!(timing.contains("mode;desc=stream"), "{timing}");
    // The origin was asked with HEAD: no body was fetched to answer it.
    let methods: Vec<String> = stack
        .origin
        .events()
        .iter()
        .filter(|e| e["kind"] == "request" && e["path"] == PAGE)
        .filter_map(|e| e["detail"]["method"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(methods, ["GET", "HEAD"]);
}

#[test]
fn head_of_a_binary_and_no_body_statuses_pass_through() {
    let stack = edge_pages_stack();
    let head = request("HEAD", &stack.edge.url("/bytes/4096"), &[], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("4096"));
    assert!(head
        .header("server-timing")
        .unwrap()
        .contains("passthrough"));
    let not_modified = get(&stack.edge.url("/status/304"), &[]);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
}

/// The origin's `download_aborted` events for `path`, polled until one
/// appears or `within` passes; returns how long after `since` it came.
fn origin_stopped_after(
    stack: &Stack,
    path: &str,
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    loop {
        let aborted = stack
            .origin
            .events()
            .iter()
            .any(|e| e["kind"] == "download_aborted" && e["path"] == path);
        if aborted {
            return Some(since.elapsed());
        }
        if since.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A 1 GiB generated page dripping 16 KiB every 20 ms: far longer than any
/// test, so only a disconnect can end it.
const ENDLESS_PAGE: &str = "/gen/html/1073741824";

#[test]
fn client_disconnect_on_a_streamed_rewrite_stops_the_origin_within_two_seconds() {
    let stack = Stack::start();
    let url = format!("{ENDLESS_PAGE}?chunk=16384&interval_ms=20");
    let mut conn = Conn::open(stack.edge.addr, "GET", &url, &[]).expect("connect");
    let head = conn.read_head().expect("head");
    assert_eq!(head.status, 200);
    let mut got = 0usize;
    conn.read_body(head.framing("GET"), |b| {
        got += b.len();
        got < 256 * 1024
    })
    .expect("body");
    let hung_up = Instant::now();
    conn.hang_up();
    let after = origin_stopped_after(&stack, ENDLESS_PAGE, hung_up, Duration::from_secs(5));
    assert!(
        after.is_some_and(|d| d <= Duration::from_secs(2)),
        "origin stopped after {after:?}"
    );
    let records = stack.edge.wait_access_records(1, Duration::from_secs(5));
    assert_eq!(records[0]["abort"], "client_disconnect");
}

#[test]
fn client_disconnect_on_a_buffered_rewrite_stops_the_origin_within_two_seconds() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.buffered_paths", "/gen/"));
    let url = format!("{ENDLESS_PAGE}?chunk=16384&interval_ms=20");
    let conn = Conn::open(stack.edge.addr, "GET", &url, &[]).expect("connect");
    // The edge is buffering (16 MiB cap at 800 KiB/s): no byte reaches the
    // client, so only the disconnect itself can tell the edge to stop.
    std::thread::sleep(Duration::from_secs(1));
    let hung_up = Instant::now();
    conn.hang_up();
    let after = origin_stopped_after(&stack, ENDLESS_PAGE, hung_up, Duration::from_secs(5));
    assert!(
        after.is_some_and(|d| d <= Duration::from_secs(2)),
        "origin stopped after {after:?}"
    );
}
