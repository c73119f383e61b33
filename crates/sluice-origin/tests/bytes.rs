//! `/bytes/{n}`, `/bytes/{n}/sha256` and `/drip/{n}`: deterministic content,
//! validators and every kind of byte range.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_body_matches_fill_and_the_sha256_endpoint() {
    let s = start().await;
    let n = 3 * 1024 * 1024 + 17;
    let r = get(s.addr(), &format!("/bytes/{n}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length").unwrap(), n.to_string());
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("etag"), Some(format!("\"bytes-{n}-0\"").as_str()));
    assert!(r.header("last-modified").is_some());
    assert_eq!(r.body, expected_bytes(0, 0, n));
    let sha = get(s.addr(), &format!("/bytes/{n}/sha256")).await;
    assert_eq!(
        sha.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(sha.text(), sha256_hex(&r.body));
    // Another content seed is other content with its own digest.
    let r7 = get(s.addr(), "/bytes/4096?content_seed=7").await;
    assert_eq!(r7.body, expected_bytes(7, 0, 4096));
    assert_ne!(r7.body, r.body[..4096]);
    assert_eq!(
        get(s.addr(), "/bytes/4096/sha256?content_seed=7")
            .await
            .text(),
        sha256_hex(&r7.body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_chunked_disposition_type_and_limits() {
    let s = start().await;
    let r = request(Method::HEAD, s.addr(), "/bytes/1099511627776", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("1099511627776"));
    assert!(r.body.is_empty());
    let r = get(
        s.addr(),
        "/bytes/100000?chunked=1&disposition=attachment&ct=video/mp4",
    )
    .await;
    assert!(r.header("content-length").is_none());
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"bytes-100000.bin\"")
    );
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    assert_eq!(r.body, expected_bytes(0, 0, 100_000));
    assert_eq!(
        get(s.addr(), "/bytes/1099511627777").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/bytes/-1").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get(s.addr(), "/bytes/0").await.body.len(), 0);
    let r = get_h(
        s.addr(),
        "/bytes/10",
        &[("if-none-match", "\"bytes-10-0\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_open_and_suffix_ranges() {
    let s = start().await;
    let n = 1_000_000usize;
    let cases = [
        ("bytes=0-99", 0usize, 99usize),
        ("bytes=999990-", 999_990, 999_999),
        ("bytes=-500", n - 500, n - 1),
        ("bytes=500000-2000000", 500_000, n - 1),
        ("bytes=-2000000", 0, n - 1),
    ];
    for (range, a, b) in cases {
        let r = get_h(s.addr(), &format!("/bytes/{n}"), &[("range", range)]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {a}-{b}/{n}"),
            "{range}"
        );
        assert_eq!(r.header("content-length").unwrap(), (b + 1 - a).to_string());
        assert_eq!(r.body, expected_bytes(0, a as u64, b + 1 - a), "{range}");
    }
    // A resumed download reassembles to the whole body's digest.
    let first = get_h(
        s.addr(),
        &format!("/bytes/{n}"),
        &[("range", "bytes=0-433332")],
    )
    .await;
    let rest = get_h(
        s.addr(),
        &format!("/bytes/{n}"),
        &[("range", "bytes=433333-")],
    )
    .await;
    let whole: Vec<u8> = first.body.iter().chain(&rest.body).copied().collect();
    assert_eq!(
        sha256_hex(&whole),
        get(s.addr(), &format!("/bytes/{n}/sha256")).await.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_range_is_multipart_byteranges() {
    let s = start().await;
    let n = 10_000u64;
    let r = get_h(
        s.addr(),
        &format!("/bytes/{n}"),
        &[("range", "bytes=0-9, 100-199, -5")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let ct = r.header("content-type").unwrap().to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart type");
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    // Walk the parts by their declared Content-Range.
    let mut expected = Vec::new();
    for (i, (a, b)) in [(0u64, 9u64), (100, 199), (n - 5, n - 1)]
        .into_iter()
        .enumerate()
    {
        let lead = if i == 0 { "" } else { "\r\n" };
        expected.extend_from_slice(
            format!("{lead}--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {a}-{b}/{n}\r\n\r\n").as_bytes(),
        );
        expected.extend_from_slice(&expected_bytes(0, a, (b + 1 - a) as usize));
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(r.body, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_malformed_and_if_range() {
    let s = start().await;
    let r = get_h(s.addr(), "/bytes/1000", &[("range", "bytes=5000-6000")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // A malformed Range is ignored: full 200.
    let r = get_h(s.addr(), "/bytes/1000", &[("range", "bytes=abc")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1000);
    // If-Range with the current strong ETag honours the range...
    let r = get_h(
        s.addr(),
        "/bytes/1000",
        &[("range", "bytes=10-19"), ("if-range", "\"bytes-1000-0\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, expected_bytes(0, 10, 10));
    // ...and also with the exact Last-Modified date...
    let r = get_h(
        s.addr(),
        "/bytes/1000",
        &[
            ("range", "bytes=10-19"),
            ("if-range", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    // ...otherwise the whole representation comes back.
    let r = get_h(
        s.addr(),
        "/bytes/1000",
        &[("range", "bytes=10-19"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, expected_bytes(0, 0, 1000));
    let r = request(
        Method::HEAD,
        s.addr(),
        "/bytes/1000",
        &[("range", "bytes=0-9")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-length"), Some("10"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drip_sends_small_chunks_slowly() {
    let s = start().await;
    let t0 = Instant::now();
    let resp = send_req(
        s.addr(),
        build(
            Method::GET,
            s.addr(),
            "/drip/4096?chunk=1024&interval_ms=150",
            &[],
            "",
        ),
    )
    .await
    .unwrap();
    let (frames, err) = read_timed(resp).await;
    assert!(err.is_none());
    let body: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert_eq!(body, expected_bytes(0, 0, 4096));
    assert!(frames.len() >= 4, "{} frames", frames.len());
    assert!(frames[0].0 - t0 < Duration::from_millis(150));
    assert!(frames.last().unwrap().0 - t0 >= Duration::from_millis(3 * 140));
}
