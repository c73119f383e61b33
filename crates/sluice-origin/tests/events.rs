//! The event log: completed and aborted downloads, filters, clearing, and
//! the JSON shape of `GET /__events`.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use sluice_origin::events::{Event, EventKind};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_download_is_recorded_promptly() {
    let s = start().await;
    let total: u64 = 1 << 30;
    let path = format!("/bytes/{total}");
    let resp = send_req(s.addr(), build(Method::GET, s.addr(), &path, &[], ""))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut got = 0u64;
    while got < 8 << 20 {
        got += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len() as u64;
    }
    let dropped_at = Instant::now();
    let dropped_ms = sluice_origin::events::unix_ms();
    drop(body); // closes the connection
    let ev = wait_event(
        &s,
        EventKind::DownloadAborted,
        &path,
        Duration::from_secs(2),
    )
    .await
    .expect("download_aborted within 2 s");
    assert!(dropped_at.elapsed() < Duration::from_secs(2));
    assert_eq!(ev.detail["reason"], "client_gone");
    assert_eq!(ev.detail["expected"], total);
    // What was handed to the socket: at least what we read, far below the total.
    assert!(
        ev.bytes >= got && ev.bytes < total / 4,
        "bytes {} read {got}",
        ev.bytes
    );
    assert!(ev.at_ms + 5 >= dropped_ms && ev.at_ms <= dropped_ms + 2000);
    assert!(wait_event(
        &s,
        EventKind::DownloadComplete,
        &path,
        Duration::from_millis(50)
    )
    .await
    .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_the_origin_is_idle_is_noticed() {
    let s = start().await;
    let path = "/bytes/100000";
    let req = build(
        Method::GET,
        s.addr(),
        &format!("{path}?pause_after=1000&pause_ms=10000"),
        &[],
        "",
    );
    let mut body = send_req(s.addr(), req).await.unwrap().into_body();
    let mut got = 0;
    while got < 1000 {
        got += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len();
    }
    let gone = Instant::now();
    drop(body);
    // Nothing is being written, so only the read side can tell.
    let ev = wait_event(&s, EventKind::DownloadAborted, path, Duration::from_secs(1))
        .await
        .expect("noticed within 1 s although the origin was sleeping");
    assert!(gone.elapsed() < Duration::from_secs(1));
    assert_eq!(ev.bytes, 1000);
    assert_eq!(ev.detail["reason"], "client_gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_downloads_filters_and_clear_over_http() {
    let s = start().await;
    assert_eq!(get(s.addr(), "/bytes/123456").await.body.len(), 123_456);
    assert_eq!(
        get(s.addr(), "/gen/css/5000?enc=gzip").await.status,
        StatusCode::OK
    );
    let all: Vec<Event> = serde_json::from_slice(&get(s.addr(), "/__events").await.body).unwrap();
    let arrived = all
        .iter()
        .find(|e| e.path == "/gen/css/5000" && e.kind == EventKind::Request)
        .expect("request event");
    assert_eq!(arrived.detail["method"], "GET");
    assert_eq!(arrived.detail["query"], "enc=gzip");
    assert!(
        all.iter().all(|e| e.path != "/__events"),
        "the log's own reads are not requests"
    );
    let b = all
        .iter()
        .find(|e| e.path == "/bytes/123456" && e.kind != EventKind::Request)
        .expect("bytes event");
    assert_eq!(b.kind, EventKind::DownloadComplete);
    assert_eq!(b.bytes, 123_456);
    assert!(b.seq >= 1 && b.at_ms > 1_600_000_000_000);
    let g = all
        .iter()
        .find(|e| e.path == "/gen/css/5000" && e.kind != EventKind::Request)
        .expect("gen event");
    assert_eq!(g.kind, EventKind::DownloadComplete);
    assert!(
        g.bytes > 0 && g.bytes < 5000,
        "gzip bytes on the wire: {}",
        g.bytes
    );

    let raw = get(
        s.addr(),
        "/__events?kind=download_complete&path=/bytes/123456",
    )
    .await
    .json();
    assert_eq!(raw.as_array().unwrap().len(), 1);
    for key in ["seq", "kind", "path", "bytes", "at_ms", "detail"] {
        assert!(raw[0].get(key).is_some(), "{key}");
    }
    let since = get(s.addr(), &format!("/__events?since={}", b.seq))
        .await
        .json();
    assert!(since
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["seq"].as_u64().unwrap() > b.seq));

    let r = request(Method::DELETE, s.addr(), "/__events", &[], "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(s.addr(), "/__events").await.json(),
        serde_json::json!([])
    );
    assert_eq!(
        request(Method::POST, s.addr(), "/__events", &[], "")
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
