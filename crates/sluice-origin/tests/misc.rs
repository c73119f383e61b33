//! Index, status pages, redirects, cookies, arbitrary headers, slow
//! headers, and robustness against bad requests.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_links_every_page_on_the_configured_host() {
    let s = start().await;
    let r = get(s.addr(), "/?host=pub.example").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    // The corpus, and the origin's own pages in other charsets.
    let pages = std::fs::read_dir(corpus_dir().join("pages"))
        .unwrap()
        .count()
        + std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
            .unwrap()
            .count();
    assert_eq!(
        html.matches("href=\"https://pub.example/pages/").count(),
        pages
    );
    assert!(html.contains("href=\"https://pub.example/pages/aclu.html\""));
    assert!(html.contains("https://pub.example/sse?n=10&amp;interval_ms=200"));
    assert!(get(s.addr(), "/")
        .await
        .text()
        .contains("https://origin.example/pages/aclu.html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_pages_are_branded_and_bodyless_where_required() {
    let s = start().await;
    for code in [200u16, 404, 410, 500, 502] {
        let r = get(s.addr(), &format!("/status/{code}")).await;
        assert_eq!(r.status.as_u16(), code);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let html = r.text();
        assert!(
            html.contains("href=\"https://origin.example/\"")
                && html.contains("//origin.example/search")
        );
        assert!(html.contains(&code.to_string()));
    }
    for code in [204u16, 304] {
        let r = get(s.addr(), &format!("/status/{code}")).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.body.is_empty());
    }
    let r = get(s.addr(), "/status/301?host=pub.example").await;
    assert_eq!(r.header("location"), Some("https://pub.example/"));
    let r = request(Method::POST, s.addr(), "/status/503", &[], "x").await;
    assert_eq!(r.status.as_u16(), 503, "any method");
    for bad in ["/status/99", "/status/600", "/status/abc"] {
        assert_eq!(
            get(s.addr(), bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_cookie_and_arbitrary_headers() {
    let s = start().await;
    let r = get(
        s.addr(),
        "/redirect?to=https%3A%2F%2Forigin.example%2Fa%3Fb%3D1&code=307",
    )
    .await;
    assert_eq!(r.status.as_u16(), 307);
    assert_eq!(r.header("location"), Some("https://origin.example/a?b=1"));
    assert_eq!(
        get(s.addr(), "/redirect?code=200").await.status,
        StatusCode::BAD_REQUEST
    );

    let r = get(s.addr(), "/cookie?domain=.origin.example").await;
    let cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        [
            "a=1; Domain=.origin.example; Path=/",
            "b=2; Path=/; HttpOnly"
        ]
    );

    let hop = [
        ("keep-alive", "timeout=5"),
        ("proxy-authenticate", "Basic realm=\"x\""),
        ("te", "trailers"),
        ("trailer", "X-Trailer"),
        ("upgrade", "websocket"),
        ("x-custom", "a b"),
    ];
    let q: Vec<String> = hop
        .iter()
        .map(|(k, v)| format!("h={}", urlencode(&format!("{k}: {v}"))))
        .collect();
    let r = get(
        s.addr(),
        &format!(
            "/headers?{}&link=https://origin.example/s.css&refresh=https://origin.example/next",
            q.join("&")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    for (k, v) in hop {
        assert_eq!(r.header(k), Some(v), "{k}");
    }
    assert_eq!(
        r.header("link"),
        Some("<https://origin.example/s.css>; rel=preload; as=style")
    );
    assert_eq!(
        r.header("refresh"),
        Some("0; url=https://origin.example/next")
    );
    let r = get(
        s.addr(),
        &format!("/headers?h={}", urlencode("connection: close")),
    )
    .await;
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        get(s.addr(), "/headers?h=nocolon").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/headers?h=bad%20name:1").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/headers?status=404").await.status,
        StatusCode::NOT_FOUND
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_wait_before_the_status_line() {
    let s = start().await;
    let t0 = Instant::now();
    let resp = send_req(
        s.addr(),
        build(Method::GET, s.addr(), "/slow-headers?delay_ms=400", &[], ""),
    )
    .await
    .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "headers after the delay"
    );
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_requests_get_errors_and_the_server_stays_up() {
    let s = start().await;
    let junk: [&[u8]; 5] = [
        b"GARBAGE\r\n\r\n",
        b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET /bytes/10?chunk=%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for j in junk {
        let mut c = TcpStream::connect(s.addr()).await.unwrap();
        c.write_all(j).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut out)).await;
        let head = String::from_utf8_lossy(&out);
        assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 505"),
            "{head}"
        );
    }
    for path in [
        "/nope",
        "/bytes",
        "/bytes/1/2/3",
        "/gen/html",
        "/sse?n=x",
        "/v1",
        "/pages/",
        "/%00",
        "/bytes/10?pause_after=x",
    ] {
        let r = get(s.addr(), path).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
    }
    assert_eq!(get(s.addr(), "/healthz").await.text(), "ok\n");
}
