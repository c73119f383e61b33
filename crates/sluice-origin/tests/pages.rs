//! `/pages/{name}`: encodings, validators and the shared delivery options.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// Name, expected Content-Encoding, decoder.
type EncCase = (&'static str, Option<&'static str>, fn(&[u8]) -> Vec<u8>);

use common::*;
use http::{Method, StatusCode};
use std::time::{Duration, Instant};

const PAGE: &str = "aclu.html";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_encoding_decodes_to_the_corpus_bytes() {
    let s = start().await;
    let want = corpus_page(PAGE);
    let cases: [EncCase; 5] = [
        ("identity", None, |b| b.to_vec()),
        ("gzip", Some("gzip"), gunzip),
        ("deflate", Some("deflate"), unzlib),
        ("deflate-raw", Some("deflate"), inflate_raw),
        ("br", Some("br"), unbrotli),
    ];
    for (enc, header, decode) in cases {
        let r = get(s.addr(), &format!("/pages/{PAGE}?enc={enc}")).await;
        assert_eq!(r.status, StatusCode::OK, "{enc}");
        assert_eq!(r.header("content-encoding"), header, "{enc}");
        assert_eq!(
            r.header("content-length").unwrap(),
            r.body.len().to_string(),
            "{enc}"
        );
        assert_eq!(decode(&r.body), want, "{enc} decodes to the corpus page");
        if enc != "identity" {
            assert_ne!(r.body, want, "{enc} is really encoded");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_encoding_negotiation_and_validators() {
    let s = start().await;
    let want = corpus_page(PAGE);
    let cases = [
        ("gzip, deflate, br", Some("br")),
        ("gzip, br;q=0", Some("gzip")),
        ("deflate", Some("deflate")),
        ("identity", None),
        ("br;q=0, gzip;q=0, deflate;q=0", None),
    ];
    let mut etags = Vec::new();
    for (ae, expect) in cases {
        let r = get_h(
            s.addr(),
            &format!("/pages/{PAGE}"),
            &[("accept-encoding", ae)],
        )
        .await;
        assert_eq!(r.header("content-encoding"), expect, "{ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(
            r.header("last-modified"),
            Some("Wed, 01 Jan 2025 00:00:00 GMT")
        );
        let etag = r.header("etag").unwrap().to_owned();
        assert!(
            etag.starts_with('"') && !etag.starts_with("W/"),
            "strong etag {etag}"
        );
        let decoded = match expect {
            Some("br") => unbrotli(&r.body),
            Some("gzip") => gunzip(&r.body),
            Some("deflate") => unzlib(&r.body),
            _ => r.body.clone(),
        };
        assert_eq!(decoded, want);
        etags.push(etag);
    }
    // Different representations, different strong ETags; same one, same tag.
    assert_ne!(etags[0], etags[1]);
    assert_eq!(etags[3], etags[4]);
    let r = get_h(
        s.addr(),
        &format!("/pages/{PAGE}"),
        &[("if-none-match", &etags[3])],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    let r = get_h(
        s.addr(),
        &format!("/pages/{PAGE}"),
        &[("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_overrides_and_errors() {
    let s = start().await;
    let want = corpus_page(PAGE);
    let r = request(
        Method::HEAD,
        s.addr(),
        &format!("/pages/{PAGE}?enc=identity"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length").unwrap(), want.len().to_string());
    assert!(r.body.is_empty());
    let r = get(
        s.addr(),
        &format!("/pages/{PAGE}?ct=text/plain&charset=iso-8859-1"),
    )
    .await;
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=iso-8859-1")
    );
    let r = get(s.addr(), &format!("/pages/{PAGE}?charset=shift_jis")).await;
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=shift_jis")
    );
    assert_eq!(
        get(s.addr(), "/pages/nope.html").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(s.addr(), "/pages/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(s.addr(), &format!("/pages/{PAGE}?enc=lzma"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), &format!("/pages/{PAGE}?chunk=0"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(s.addr(), &format!("/pages/{PAGE}?lie=xz")).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = request(Method::POST, s.addr(), &format!("/pages/{PAGE}"), &[], "x").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_chunks_arrive_as_many_writes_and_reassemble_exactly() {
    let s = start().await;
    let want = corpus_page(PAGE);
    for (enc, decode) in [
        ("identity", (|b: &[u8]| b.to_vec()) as fn(&[u8]) -> Vec<u8>),
        ("gzip", gunzip),
        ("br", unbrotli),
    ] {
        let path = format!("/pages/{PAGE}?enc={enc}&chunk=random&seed=7&chunked=1");
        let resp = send_req(s.addr(), build(Method::GET, s.addr(), &path, &[], ""))
            .await
            .unwrap();
        assert!(
            resp.headers().get("content-length").is_none(),
            "chunked=1 omits Content-Length"
        );
        assert_eq!(resp.headers().get("transfer-encoding").unwrap(), "chunked");
        let (frames, err) = read_timed(resp).await;
        assert!(err.is_none());
        let body: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
        assert_eq!(decode(&body), want, "{enc}");
        // Each random chunk is flushed as its own write, so a 200 KB page
        // arrives in many reads, and none is larger than 16 KiB.
        if enc == "identity" {
            assert!(frames.len() >= 10, "only {} frames", frames.len());
            assert!(frames.iter().all(|(_, b)| b.len() <= 16 * 1024));
        }
    }
    // Fixed chunks: every frame is exactly the chunk size but the last.
    let resp = send_req(
        s.addr(),
        build(
            Method::GET,
            s.addr(),
            &format!("/pages/{PAGE}?chunk=4096&interval_ms=1"),
            &[],
            "",
        ),
    )
    .await
    .unwrap();
    let (frames, _) = read_timed(resp).await;
    let sizes: Vec<usize> = frames.iter().map(|(_, b)| b.len()).collect();
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 4096),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_after_sends_the_prefix_then_waits() {
    let s = start().await;
    let want = corpus_page(PAGE);
    let t0 = Instant::now();
    let path = format!("/pages/{PAGE}?pause_after=32768&pause_ms=700");
    let resp = send_req(s.addr(), build(Method::GET, s.addr(), &path, &[], ""))
        .await
        .unwrap();
    let (frames, err) = read_timed(resp).await;
    assert!(err.is_none());
    let mut got = 0usize;
    let mut prefix_at = None;
    for (t, b) in &frames {
        got += b.len();
        if got == 32768 {
            prefix_at = Some(*t);
        }
    }
    let prefix_at = prefix_at.expect("a frame boundary exactly at the pause point");
    let end = frames.last().unwrap().0;
    assert!(
        prefix_at - t0 < Duration::from_millis(400),
        "prefix took {:?}",
        prefix_at - t0
    );
    assert!(
        end - prefix_at >= Duration::from_millis(650),
        "rest came after {:?}",
        end - prefix_at
    );
    assert_eq!(got, want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_cuts_the_body_with_and_without_content_length() {
    let s = start().await;
    let want = corpus_page(PAGE);
    for extra in ["", "&chunked=1"] {
        let r = get(s.addr(), &format!("/pages/{PAGE}?reset_after=5000{extra}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-length").is_some(), extra.is_empty());
        assert!(
            r.error.is_some(),
            "the client must see an incomplete body ({extra})"
        );
        assert_eq!(
            r.body,
            want[..5000],
            "exactly the first 5000 bytes arrive ({extra})"
        );
    }
    let ev = wait_event(
        &s,
        sluice_origin::events::EventKind::DownloadAborted,
        &format!("/pages/{PAGE}"),
        Duration::from_secs(2),
    )
    .await
    .expect("aborted download recorded");
    assert_eq!(ev.bytes, 5000);
    assert_eq!(ev.detail["reason"], "origin_reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_and_undecodable_encodings_send_identity_bodies() {
    let s = start().await;
    let want = corpus_page(PAGE);
    for lie in ["gzip", "br", "deflate"] {
        let r = get(s.addr(), &format!("/pages/{PAGE}?lie={lie}")).await;
        assert_eq!(r.header("content-encoding"), Some(lie));
        assert_eq!(r.body, want, "the body is identity despite the header");
    }
    let r = get(s.addr(), &format!("/pages/{PAGE}?enc=zstd")).await;
    assert_eq!(r.header("content-encoding"), Some("zstd"));
    assert_eq!(r.body, want);
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read(path).expect("fixture readable")
}

/// A page is labelled with the charset it declares, as a server configured
/// for it would (`qq.html` says gb2312 in its `<meta>`), and the origin's
/// own Latin-1 and Shift_JIS pages are served byte for byte in every
/// encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_labelled_with_the_charset_they_declare() {
    let s = start().await;
    let latin1 = fixture("latin1.html");
    let sjis = fixture("shift_jis.html");
    // The fixtures are what they claim: not UTF-8, with the bytes a
    // byte-level rewriter could trip on (0xE9, a kanji ending in `\`).
    assert!(std::str::from_utf8(&latin1).is_err());
    assert!(latin1.contains(&0xe9) && latin1.contains(&0x80));
    assert!(std::str::from_utf8(&sjis).is_err());
    assert!(sjis.windows(2).any(|w| w == [0x95, 0x5c]), "表 is 95 5C");
    for (name, charset, want) in [
        ("qq.html", "gb2312", corpus_page("qq.html")),
        ("latin1.html", "iso-8859-1", latin1),
        ("shift_jis.html", "shift_jis", sjis),
        (PAGE, "utf-8", corpus_page(PAGE)),
    ] {
        for (enc, decode) in [
            ("identity", (|b: &[u8]| b.to_vec()) as fn(&[u8]) -> Vec<u8>),
            ("gzip", gunzip),
            ("deflate-raw", inflate_raw),
            ("br", unbrotli),
        ] {
            let r = get(s.addr(), &format!("/pages/{name}?enc={enc}")).await;
            assert_eq!(r.status, StatusCode::OK, "{name} {enc}");
            let ct = format!("text/html; charset={charset}");
            assert_eq!(r.header("content-type"), Some(ct.as_str()), "{name} {enc}");
            assert!(decode(&r.body) == want, "{name} {enc}: bytes differ");
        }
    }
    // `?charset=` still overrides the label.
    let r = get(s.addr(), "/pages/qq.html?charset=utf-8").await;
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // The index links the fixtures like any page.
    let index = get(s.addr(), "/").await;
    for name in ["latin1.html", "shift_jis.html", "qq.html"] {
        assert!(index.text().contains(&format!("/pages/{name}\"")), "{name}");
    }
}
