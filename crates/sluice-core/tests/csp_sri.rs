//! The page's own security through the pipeline: policy `<meta>` elements
//! are appended to (never rewritten), SRI-pinned tags get the raw URL
//! form, nonces are untouched, and the buffered path completes hash
//! sources; every output is checked at every chunk boundary.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sluice_core::http::csp::{augment_policy_header, BufferedHtml, BufferedOutcome, PolicyHeaders};
use sluice_core::rewrite::{strip_raw_prefix, RAW_PATH_PREFIX};
use sluice_core::{ContentEncoding, ContentKind, Pipeline, RewriteRules};
use support::pipeline::*;

const HOST: &str = "origin.example";

fn rules() -> RewriteRules {
    RewriteRules::new([HOST], SCHEME, EDGE).unwrap()
}

fn html(input: &[u8]) -> Vec<u8> {
    rewrite_whole(ContentKind::Html, rules(), input)
}

/// Every split into two chunks, and one byte at a time, gives `want`.
fn assert_any_split(input: &[u8], want: &[u8]) {
    let cfg = || {
        config(
            ContentKind::Html,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules(),
        )
    };
    for k in 0..=input.len() {
        let got = run_chunks(cfg(), [&input[..k], &input[k..]]).unwrap();
        assert_same(&got, want, &format!("split at {k}"));
    }
    let got = run_chunks(cfg(), input.chunks(1)).unwrap();
    assert_same(&got, want, "1-byte chunks");
}

#[test]
fn a_meta_policy_keeps_the_origin_and_gains_the_edge() {
    let e = format!("{SCHEME}://{EDGE}");
    let cases = [
        (
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src https://origin.example 'unsafe-inline'; img-src *.example data:\">",
            format!("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src https://origin.example 'unsafe-inline' {e}; img-src *.example data: {e}\">"),
        ),
        (
            "<META CONTENT='connect-src origin.example' HTTP-EQUIV='content-security-policy' >",
            format!("<META CONTENT='connect-src origin.example {e}' HTTP-EQUIV='content-security-policy' >"),
        ),
        (
            "<meta http-equiv=Content-Security-Policy-Report-Only content=form-action&#32;https://origin.example/f>",
            format!("<meta http-equiv=Content-Security-Policy-Report-Only content=form-action&#32;https://origin.example/f&#32;{e}/f>"),
        ),
        // Not a policy: the plain rewrite.
        (
            "<meta property=\"og:url\" content=\"https://origin.example/a\">",
            format!("<meta property=\"og:url\" content=\"{e}/a\">"),
        ),
        // A policy that does not allow a rewrite host: untouched, even
        // the URL in it.
        (
            "<meta http-equiv=content-security-policy content=\"report-to x; img-src https://cdn.example\" data-x=\"https://origin.example/\">",
            "<meta http-equiv=content-security-policy content=\"report-to x; img-src https://cdn.example\" data-x=\"https://origin.example/\">".to_owned(),
        ),
    ];
    for (input, want) in cases {
        let page = format!(
            "<!doctype html><head>{input}<link href=\"https://origin.example/s.css\"></head>"
        );
        let want = format!("<!doctype html><head>{want}<link href=\"{e}/s.css\"></head>");
        assert_eq!(String::from_utf8(html(page.as_bytes())).unwrap(), want);
        assert_any_split(page.as_bytes(), want.as_bytes());
    }
}

#[test]
fn a_meta_policy_after_body_is_not_a_policy() {
    // Browsers honour a policy `<meta>` only in `<head>`; after `<body>`
    // it is an ordinary tag and gets the plain rewrite.
    let page =
        "<head><meta http-equiv=Content-Security-Policy content='img-src origin.example'></head>\
        <BODY><meta http-equiv=Content-Security-Policy content='img-src https://origin.example'>";
    let want = format!(
        "<head><meta http-equiv=Content-Security-Policy content='img-src origin.example {SCHEME}://{EDGE}'></head>\
        <BODY><meta http-equiv=Content-Security-Policy content='img-src {SCHEME}://{EDGE}'>"
    );
    assert_eq!(String::from_utf8(html(page.as_bytes())).unwrap(), want);
    assert_any_split(page.as_bytes(), want.as_bytes());
}

#[test]
fn the_meta_policy_equals_the_header_augmentation() {
    let policy =
        "script-src 'self' https://origin.example/js/; report-uri https://origin.example/r";
    let page = format!("<meta http-equiv=Content-Security-Policy content=\"{policy}\">");
    let out = String::from_utf8(html(page.as_bytes())).unwrap();
    let header = augment_policy_header(policy, &rules());
    assert_eq!(
        out,
        format!("<meta http-equiv=Content-Security-Policy content=\"{header}\">")
    );
    assert!(header.contains(&format!("{EDGE}{RAW_PATH_PREFIX}/js/")));
}

#[test]
fn a_meta_policy_with_hashes_is_reported() {
    let rules = rules();
    let run = |page: &str| {
        let cfg = config(
            ContentKind::Html,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules.clone(),
        );
        let mut p = Pipeline::new(cfg, Vec::new()).unwrap();
        p.write_chunk(page.as_bytes()).unwrap();
        let saw = p.saw_meta_hash_policy();
        p.finish().unwrap();
        saw
    };
    assert!(run(
        "<meta http-equiv=Content-Security-Policy content=\"script-src 'sha256-abc='\">"
    ));
    assert!(!run(
        "<meta http-equiv=Content-Security-Policy content=\"script-src 'nonce-abc'\">"
    ));
    assert!(!run("<p>script-src 'sha256-abc='</p>"));
}

#[test]
fn pinned_tags_get_the_raw_form_with_integrity_and_crossorigin_untouched() {
    let e = format!("{SCHEME}://{EDGE}");
    let page = "<script src=\"https://origin.example/app.js?v=1\" integrity=\"sha384-AbC/+=\" crossorigin=\"anonymous\"></script>\
        <link rel=stylesheet href='//origin.example/site.css' INTEGRITY='sha256-x= sha512-y' crossorigin>\
        <link rel=modulepreload href=https://origin.example/m.js integrity=sha384-m>\
        <link rel=preload as=script href=\"https://origin.example\" integrity=\"sha384-p\">\
        <script src=\"https://origin.example/plain.js\"></script>\
        <a href=\"https://origin.example/research-integrity\">x</a>\
        <script src=\"https://cdn.example/lib.js\" integrity=\"sha384-c\"></script>";
    let want = format!(
        "<script src=\"{e}/_sluice-raw/app.js?v=1\" integrity=\"sha384-AbC/+=\" crossorigin=\"anonymous\"></script>\
        <link rel=stylesheet href='//{EDGE}/_sluice-raw/site.css' INTEGRITY='sha256-x= sha512-y' crossorigin>\
        <link rel=modulepreload href={e}/_sluice-raw/m.js integrity=sha384-m>\
        <link rel=preload as=script href=\"{e}/_sluice-raw/\" integrity=\"sha384-p\">\
        <script src=\"{e}/plain.js\"></script>\
        <a href=\"{e}/research-integrity\">x</a>\
        <script src=\"https://cdn.example/lib.js\" integrity=\"sha384-c\"></script>"
    );
    assert_eq!(String::from_utf8(html(page.as_bytes())).unwrap(), want);
    assert_any_split(page.as_bytes(), want.as_bytes());
    // The router gets the origin's path back from every raw URL.
    assert_eq!(
        strip_raw_prefix("/_sluice-raw/app.js?v=1"),
        Some("/app.js?v=1")
    );
}

#[test]
fn nonces_are_byte_identical() {
    let page = "<script nonce=\"r4nd0m+/=\">fetch('https://origin.example/api')</script>\
        <style NONCE='abc'>a{background:url(https://origin.example/a.png)}</style>\
        <script nonce=xyz src=\"https://origin.example/n.js\"></script>";
    let out = String::from_utf8(html(page.as_bytes())).unwrap();
    for nonce in ["nonce=\"r4nd0m+/=\"", "NONCE='abc'", "nonce=xyz"] {
        assert_eq!(out.matches(nonce).count(), 1, "{nonce} in {out}");
    }
    // Everything else was rewritten as usual.
    assert!(!out.contains("//origin.example"), "{out}");
}

fn hashed_page(a: &str, b: &str) -> Vec<u8> {
    format!(
        "<!doctype html><html><head><meta http-equiv=Content-Security-Policy content=\"script-src {}\">\
         <script>{a}</script><script>window.c = 3;</script><script>{b}</script></head><body>{}</body></html>",
        sha256(a),
        "<p>filler</p>".repeat(200)
    )
    .into_bytes()
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!(
        "'sha256-{}'",
        base64_std(&sha2::Sha256::digest(text.as_bytes()))
    )
}

/// Standard base64 written out by the test itself (an independent oracle
/// for the core's encoder).
fn base64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const A: &str = "window.a = 'https://origin.example/a.png';";
const B: &str = r#"window.b = JSON.parse('{"u":"https:\/\/origin.example\/b"}').u;"#;

fn buffered(
    page: &[u8],
    headers: PolicyHeaders,
    cap: usize,
    input: ContentEncoding,
    output: ContentEncoding,
    chunks: usize,
) -> BufferedOutcome<Vec<u8>> {
    let encoded = encode(input, page);
    let mut b = BufferedHtml::new(
        config(ContentKind::Html, input, output, rules()),
        headers,
        cap,
        Vec::new(),
    )
    .unwrap();
    for c in encoded.chunks(chunks.max(1)) {
        b.write_chunk(c).unwrap();
    }
    b.finish().unwrap()
}

#[test]
fn the_buffered_path_adds_hashes_to_header_and_meta() {
    let a_new = "window.a = 'https://edge.sluice.test:8443/a.png';";
    let b_new = r#"window.b = JSON.parse('{"u":"https:\/\/edge.sluice.test:8443\/b"}').u;"#;
    let headers = PolicyHeaders {
        enforce: vec![format!(
            "default-src 'self'; script-src {} {}",
            sha256(A),
            sha256(B)
        )],
        report_only: vec!["img-src *".into()],
    };
    let page = hashed_page(A, B);
    let want_doc = {
        let rewritten = html(&page);
        let s = String::from_utf8(rewritten).unwrap();
        s.replace(&sha256(A), &format!("{} {}", sha256(A), sha256(a_new)))
            .into_bytes()
    };
    for (enc, chunks) in [
        (ContentEncoding::Identity, 1),
        (ContentEncoding::Gzip, 7),
        (ContentEncoding::Brotli, 4096),
    ] {
        let BufferedOutcome::Complete(done) =
            buffered(&page, headers.clone(), 1 << 20, enc, enc, chunks)
        else {
            panic!("{enc}: the page fits the cap");
        };
        assert!(
            done.writer.is_empty(),
            "nothing is written before the headers"
        );
        assert_eq!(
            done.headers.enforce,
            [format!(
                "default-src 'self'; script-src {} {} {} {}",
                sha256(A),
                sha256(B),
                sha256(a_new),
                sha256(b_new)
            )]
        );
        assert_eq!(done.headers.report_only, ["img-src *"]);
        let hashes = done.hashes.unwrap();
        assert_eq!((hashes.added, hashes.changed), (3, 2));
        assert_same(&decode(enc, &done.body), &want_doc, &format!("{enc}"));
        assert_eq!(done.stats.bytes_out, done.body.len() as u64);
        assert_eq!(done.stats.bytes_decoded, page.len() as u64);
        assert!(done.stats.urls_rewritten >= 2);
    }
}

#[test]
fn over_the_cap_the_document_streams_unchanged_policies() {
    let page = hashed_page(A, B);
    let want = html(&page);
    let headers = PolicyHeaders {
        enforce: vec![format!("script-src {}", sha256(A))],
        report_only: Vec::new(),
    };
    for cap in [0, 100, page.len() - 1] {
        for chunks in [1, 333, 1 << 20] {
            let out = buffered(
                &page,
                headers.clone(),
                cap,
                ContentEncoding::Gzip,
                ContentEncoding::Identity,
                chunks,
            );
            let BufferedOutcome::Streamed { writer, stats } = out else {
                panic!("cap {cap} is below the page");
            };
            assert_same(&writer, &want, &format!("cap {cap}, chunks {chunks}"));
            assert_eq!(stats.bytes_decoded, page.len() as u64);
        }
    }
    // At exactly the page's size it still completes.
    let at = buffered(
        &page,
        headers,
        page.len(),
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        10,
    );
    assert!(matches!(at, BufferedOutcome::Complete(_)));
}

#[test]
fn a_streamed_document_is_written_as_it_arrives() {
    let page = hashed_page(A, B);
    let mut b = BufferedHtml::new(
        config(
            ContentKind::Html,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules(),
        ),
        PolicyHeaders::default(),
        64,
        Vec::new(),
    )
    .unwrap();
    b.write_chunk(&page[..32]).unwrap();
    assert!(!b.is_streaming());
    b.write_chunk(&page[32..]).unwrap();
    assert!(b.is_streaming());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A page made of policy `<meta>` elements (any quoting, any
    /// directives and sources), SRI-pinned and plain tags, inline scripts
    /// and filler, in any order.
    fn page() -> impl Strategy<Value = Vec<u8>> {
        let source = proptest::sample::select(vec![
            "origin.example",
            "https://origin.example",
            "*.example",
            "https://origin.example/js/",
            "'self'",
            "'sha256-abc='",
            "https://cdn.example",
            "data:",
            "https:",
            "http://origin.example:8080",
        ]);
        let directive = (
            proptest::sample::select(vec![
                "script-src",
                "img-src",
                "connect-src",
                "default-src",
                "form-action",
                "frame-ancestors",
                "report-uri",
                "sandbox",
                "Style-Src",
            ]),
            proptest::collection::vec(source, 0..4),
        )
            .prop_map(|(name, sources)| format!("{name} {}", sources.join(" ")));
        let meta = (
            proptest::collection::vec(directive, 1..4),
            proptest::sample::select(vec!['"', '\'', ' ']),
            any::<bool>(),
        )
            .prop_map(|(directives, q, report_only)| {
                let mut policy = directives.join("; ");
                let equiv = if report_only {
                    "Content-Security-Policy-Report-Only"
                } else {
                    "content-security-policy"
                };
                match q {
                    ' ' => {
                        policy = policy.replace(' ', "&#32;");
                        format!("<meta http-equiv={equiv} content={policy}>")
                    }
                    '\'' => format!(
                        "<meta http-equiv='{equiv}' content='{}'>",
                        policy.replace('\'', "&#39;")
                    ),
                    _ => format!("<meta http-equiv=\"{equiv}\" content=\"{policy}\">"),
                }
            });
        let other = proptest::sample::select(vec![
            "<script src=\"https://origin.example/a.js\" integrity=\"sha384-x\" crossorigin></script>",
            "<link rel=stylesheet href='//origin.example/s.css' integrity='sha256-y'>",
            "<link rel=preload href=https://origin.example integrity=z>",
            "<script src=\"https://origin.example/b.js\"></script>",
            "<script nonce=\"n\">f('https:\\/\\/origin.example\\/x')</script>",
            "<main data-u=\"https://origin.example/m\">",
            "<meta name=x content=\"https://origin.example/og\">",
            "<p>text https://origin.example</p>",
        ])
        .prop_map(str::to_owned);
        proptest::collection::vec(prop_oneof![meta, other], 0..8)
            .prop_map(|parts| parts.concat().into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn policies_and_pinned_tags_at_any_split(input in page(), cuts in proptest::collection::vec(any::<u16>(), 0..12)) {
            let whole = html(&input);
            let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c) * input.len() / usize::from(u16::MAX)).collect();
            points.extend([0, input.len()]);
            points.sort_unstable();
            let chunks: Vec<&[u8]> = points.windows(2).map(|w| &input[w[0]..w[1]]).collect();
            let cfg = config(ContentKind::Html, ContentEncoding::Identity, ContentEncoding::Identity, rules());
            let got = run_chunks(cfg, chunks).unwrap();
            prop_assert_eq!(&got, &whole);
            assert_round_trip_hosts(&input, &whole, &[HOST], "policy page");
        }
    }
}
