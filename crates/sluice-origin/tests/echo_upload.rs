//! `/echo/...` and `/upload`: what the origin received, exactly.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use http_body_util::StreamBody;
use hyper::body::Frame;
use sluice_origin::events::EventKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_reports_method_path_query_headers_and_body() {
    let s = start().await;
    let body = b"hello echo".to_vec();
    let r = request(
        Method::PATCH,
        s.addr(),
        "/echo/a/b?x=1&y=%20",
        &[("x-forwarded-for", "1.2.3.4"), ("x-custom", "v")],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["method"], "PATCH");
    assert_eq!(v["path"], "/echo/a/b");
    assert_eq!(v["query"], "x=1&y=%20");
    assert_eq!(v["body_len"], body.len());
    assert_eq!(v["body_sha256"], sha256_hex(&body));
    assert_eq!(v["chunked"], false);
    let headers: Vec<(String, String)> = serde_json::from_value(v["headers"].clone()).unwrap();
    assert!(headers.contains(&("x-forwarded-for".into(), "1.2.3.4".into())));
    assert!(headers.contains(&("x-custom".into(), "v".into())));
    assert!(headers.contains(&("content-length".into(), "10".into())));
}

type Frames = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;

/// A request body of unknown length (sent chunked) made of `parts`.
fn chunked_body(parts: Vec<Vec<u8>>) -> StreamBody<Frames> {
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = parts
        .into_iter()
        .map(|p| Ok(Frame::data(Bytes::from(p))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_hashes_sized_and_chunked_bodies() {
    let s = start().await;
    let data = expected_bytes(3, 0, 5_000_000);
    let r = request(Method::PUT, s.addr(), "/upload", &[], data.clone()).await;
    let v = r.json();
    assert_eq!(v["len"], 5_000_000);
    assert_eq!(v["sha256"], sha256_hex(&data));
    assert_eq!(v["content_length"], 5_000_000);
    assert_eq!(v["chunked"], false);

    // Chunked: a body of unknown size.
    let stream = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let parts: Vec<Vec<u8>> = data.chunks(77_777).map(<[u8]>::to_vec).collect();
    let req = Request::post("/upload/x")
        .header("host", "o")
        .body(chunked_body(parts))
        .unwrap();
    let r = read_all(sender.send_request(req).await.unwrap()).await;
    let v = r.json();
    assert_eq!(v["len"], 5_000_000);
    assert_eq!(v["sha256"], sha256_hex(&data));
    assert_eq!(v["content_length"], serde_json::Value::Null);
    assert_eq!(v["chunked"], true);

    let ev = wait_event(&s, EventKind::Upload, "/upload/x", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(ev.bytes, 5_000_000);
    assert_eq!(ev.detail["sha256"], sha256_hex(&data));
    assert_eq!(
        request(Method::GET, s.addr(), "/upload", &[], "")
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_upload_is_recorded_with_the_bytes_received() {
    let s = start().await;
    for (path, framing) in [
        ("/upload/sized", "content-length: 1000000\r\n"),
        ("/upload/chunked", "transfer-encoding: chunked\r\n"),
    ] {
        let mut c = TcpStream::connect(s.addr()).await.unwrap();
        let head = format!("PUT {path} HTTP/1.1\r\nhost: o\r\n{framing}\r\n");
        c.write_all(head.as_bytes()).await.unwrap();
        let payload = vec![b'z'; 30_000];
        if framing.starts_with("content-length") {
            c.write_all(&payload).await.unwrap();
        } else {
            c.write_all(format!("{:x}\r\n", payload.len()).as_bytes())
                .await
                .unwrap();
            c.write_all(&payload).await.unwrap();
            c.write_all(b"\r\n").await.unwrap();
        }
        c.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.shutdown().await.unwrap();
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink).await;
        let ev = wait_event(
            &s,
            EventKind::UploadIncomplete,
            path,
            Duration::from_secs(2),
        )
        .await
        .unwrap_or_else(|| panic!("upload_incomplete for {path}"));
        assert_eq!(ev.bytes, 30_000, "{path}");
        assert!(
            wait_event(&s, EventKind::Upload, path, Duration::from_millis(50))
                .await
                .is_none()
        );
    }
}
