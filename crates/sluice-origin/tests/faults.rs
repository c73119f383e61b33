//! `once=TOKEN` / `later=TOKEN` and `fail_status`: the same URL faults on
//! some requests and not on others (what a cache in front of the origin
//! needs: a broken fill then a good refetch, or a stored page whose
//! refresh fails).
// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::StatusCode;
use sluice_origin::content::{GenDoc, GenKind};
use std::time::{Duration, Instant};

const PAGE: &str = "aclu.html";

fn gen_checked(body: &[u8], n: u64) {
    let mut c = GenDoc::new(GenKind::Html, "origin.example", n).checker();
    c.feed(body).expect("the generated document");
    assert_eq!(c.finish().expect("complete"), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_resets_only_the_first_request_carrying_the_token() {
    let s = start().await;
    let n = 100_000u64;
    let url = format!("/gen/html/{n}?reset_after=20000&h=Cache-Control:max-age=60&once=fill-1");
    let first = get(s.addr(), &url).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.error.is_some(), "the first request is cut");
    assert_eq!(first.body.len(), 20_000);
    for _ in 0..2 {
        let again = get(s.addr(), &url).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.error.is_none(), "{:?}", again.error);
        assert_eq!(again.header("cache-control"), Some("max-age=60"));
        gen_checked(&again.body, n);
    }
    // Another token is a new first request; no token faults every time.
    let other = get(s.addr(), &url.replace("fill-1", "fill-2")).await;
    assert!(other.error.is_some());
    let plain = format!("/pages/{PAGE}?reset_after=5000");
    for _ in 0..2 {
        assert!(get(s.addr(), &plain).await.error.is_some());
    }
    // Corpus pages too.
    let page = format!("/pages/{PAGE}?reset_after=5000&once=page-1");
    assert!(get(s.addr(), &page).await.error.is_some());
    let whole = get(s.addr(), &page).await;
    assert!(whole.error.is_none());
    assert_eq!(whole.body, corpus_page(PAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_fails_every_request_after_the_first() {
    let s = start().await;
    let url = format!("/pages/{PAGE}?later=refresh-1&fail_status=503&h=Cache-Control:max-age=1");
    let first = get(s.addr(), &url).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, corpus_page(PAGE));
    assert_eq!(first.header("cache-control"), Some("max-age=1"));
    for _ in 0..2 {
        let failed = get(s.addr(), &url).await;
        assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failed.text(), "injected failure: 503 Service Unavailable\n");
        assert_eq!(
            failed.header("cache-control"),
            None,
            "a failure carries none of the page's headers"
        );
    }
    // Without a token the failure is every request's, on every body route.
    for path in [
        "/gen/js/1000?fail_status=500",
        "/bytes/10?fail_status=502",
        "/drip/10?fail_status=504",
    ] {
        let r = get(s.addr(), path).await;
        assert!(r.status.is_server_error(), "{path}: {}", r.status);
        assert!(r.text().starts_with("injected failure: "), "{path}");
    }
    // `lie` is a fault as well.
    let lie = format!("/pages/{PAGE}?lie=gzip&once=lie-1");
    assert_eq!(
        get(s.addr(), &lie).await.header("content-encoding"),
        Some("gzip")
    );
    assert_eq!(get(s.addr(), &lie).await.header("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_applies_whether_or_not_the_fault_fires() {
    let s = start().await;
    let n = 10_000u64;
    let url = format!("/gen/html/{n}?pause_after=1000&pause_ms=300&reset_after=2000&once=paced-1");
    let started = Instant::now();
    let cut = get(s.addr(), &url).await;
    assert!(cut.error.is_some());
    assert_eq!(cut.body.len(), 2000);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    let whole = get(s.addr(), &url).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "still paused"
    );
    gen_checked(&whole.body, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gate_and_status_values_are_400() {
    let s = start().await;
    for q in [
        "once=a&later=a",
        "once=",
        "later=",
        "fail_status=200",
        "fail_status=600",
        "fail_status=x",
    ] {
        let r = get(s.addr(), &format!("/pages/{PAGE}?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_delay_holds_the_head_not_just_the_body() {
    let s = start().await;
    for path in [
        "/gen/html/1000?head_delay_ms=400",
        "/pages/aclu.html?head_delay_ms=400",
        "/bytes/10?head_delay_ms=400",
    ] {
        let started = Instant::now();
        let resp = send_req(s.addr(), build(http::Method::GET, s.addr(), path, &[], ""))
            .await
            .expect("head");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{path}: head after {:?}",
            started.elapsed()
        );
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Without it the head is immediate even when the body pauses.
    let started = Instant::now();
    let resp = send_req(
        s.addr(),
        build(
            http::Method::GET,
            s.addr(),
            "/gen/html/1000?pause_after=0&pause_ms=1000",
            &[],
            "",
        ),
    )
    .await
    .expect("head");
    assert!(started.elapsed() < Duration::from_millis(500));
    let (_, err) = read_timed(resp).await;
    assert!(err.is_none());
    assert!(started.elapsed() >= Duration::from_millis(1000));
    let bad = get(s.addr(), "/gen/html/10?head_delay_ms=x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
