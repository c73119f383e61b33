//! `/gen/{html,css,js}/{n}`: exact sizes, the documented content, and
//! on-the-fly compression; checked with the library's streaming checker.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use sluice_origin::content::{GenDoc, GenKind, UrlForms};
use std::io::Write;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_documents_are_exactly_n_bytes_of_the_lib_document() {
    let s = start().await;
    for (kind, k) in [
        ("html", GenKind::Html),
        ("css", GenKind::Css),
        ("js", GenKind::Js),
    ] {
        for n in [10u64, 1000, 1_048_577] {
            let r = get(s.addr(), &format!("/gen/{kind}/{n}?host=pub.example")).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("content-type"), Some(k.content_type()));
            let doc = GenDoc::new(k, "pub.example", n);
            assert_eq!(r.header("content-length").unwrap(), doc.len().to_string());
            if n >= 1000 {
                assert_eq!(r.body.len() as u64, n, "{kind} {n} is exact");
            }
            let mut c = doc.checker();
            c.feed(&r.body).unwrap();
            assert_eq!(c.finish().unwrap(), r.body.len() as u64);
            let text = String::from_utf8(r.body.clone()).unwrap();
            if n > 100_000 {
                assert!(text.contains("https://pub.example/") && text.contains("//pub.example/"));
                assert!(
                    text.contains("https://cdn.pub.example/")
                        && text.contains("pub.example.evil.com")
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_documents_stream_and_decode_to_the_same_bytes() {
    let s = start().await;
    let n = 3_000_000u64;
    let doc = GenDoc::new(GenKind::Css, "origin.example", n);
    for (enc, decode) in [
        ("gzip", gunzip as fn(&[u8]) -> Vec<u8>),
        ("br", unbrotli),
        ("deflate", unzlib),
    ] {
        let resp = send_req(
            s.addr(),
            build(
                Method::GET,
                s.addr(),
                &format!("/gen/css/{n}?enc={enc}"),
                &[],
                "",
            ),
        )
        .await
        .unwrap();
        assert_eq!(resp.headers()["content-encoding"], enc);
        assert!(
            resp.headers().get("content-length").is_none(),
            "compressed bodies are chunked"
        );
        let (frames, err) = read_timed(resp).await;
        assert!(err.is_none());
        assert!(
            frames.len() > 1,
            "{enc} arrives in several pieces, not one buffer"
        );
        let body: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
        let plain = decode(&body);
        let mut c = doc.checker();
        c.feed(&plain).unwrap();
        assert_eq!(c.finish().unwrap(), n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_checker_accepts_a_correct_rewrite_and_rejects_a_wrong_one() {
    let s = start().await;
    let resp = send_req(
        s.addr(),
        build(Method::GET, s.addr(), "/gen/html/200000", &[], ""),
    )
    .await
    .unwrap();
    let mut body = resp.into_body();
    // Stand-in for the edge: rewrite the forms by hand while streaming.
    let expected = GenDoc::new(GenKind::Html, "origin.example", 200_000)
        .with_urls(UrlForms::rewritten("http", "edge.test"));
    let mut all = Vec::new();
    while let Some(f) = body.frame().await {
        all.write_all(&f.unwrap().into_data().unwrap()).unwrap();
    }
    let text = String::from_utf8(all).unwrap();
    let rewritten = text
        .replace("\"https://origin.example/", "\"http://edge.test/")
        .replace("url(https://origin.example/", "url(http://edge.test/")
        .replace(", https://origin.example/", ", http://edge.test/")
        .replace("\"//origin.example/", "\"//edge.test/")
        .replace(", //origin.example/", ", //edge.test/")
        .replace("https://ORIGIN.EXAMPLE/", "http://edge.test/")
        .replace("https:\\/\\/origin.example\\/", "http:\\/\\/edge.test\\/");
    let mut c = expected.checker();
    for chunk in rewritten.as_bytes().chunks(4093) {
        c.feed(chunk).unwrap();
    }
    c.finish().unwrap();
    // Rewriting a decoy is caught, with its location.
    let wrong = rewritten.replacen("https://cdn.origin.example/", "http://cdn.edge.test/", 1);
    let mut c = expected.checker();
    let err = c.feed(wrong.as_bytes()).unwrap_err();
    assert!(err.location.starts_with("record 0 "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_head_and_bad_input() {
    let s = start().await;
    let r = request(Method::HEAD, s.addr(), "/gen/js/5000000000", &[], "").await;
    assert_eq!(r.header("content-length"), Some("5000000000"));
    assert!(r.body.is_empty());
    assert_eq!(
        get(s.addr(), "/gen/xml/10").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(s.addr(), "/gen/html/ten").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/gen/html/10?host=a%22b").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/gen/html/10?enc=lz4").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), "/gen/html/99999999999999").await.status,
        StatusCode::BAD_REQUEST
    );
}
