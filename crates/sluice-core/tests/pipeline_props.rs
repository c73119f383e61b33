//! Property tests over generated adversarial inputs: URL fragments next to
//! every kind of boundary trap, markup fragments, invalid UTF-8 and NULs,
//! split at arbitrary points and pushed through every codec pair.
//!
//! Properties:
//! - chunking invariance: any split gives the one-chunk output;
//! - nothing lost: swapping the edge back gives the input exactly (so no
//!   byte outside a rewritten URL is dropped, duplicated or changed);
//! - codecs are transparent: gzip/br/deflate in and out give the same
//!   decoded output as identity.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::{ContentEncoding, ContentKind, RewriteRules};
use support::pipeline::*;

const HOST: &str = "origin.example";

fn rules() -> RewriteRules {
    RewriteRules::new(
        [HOST, "www.origin.example", "origin.example:8080"],
        SCHEME,
        EDGE,
    )
    .unwrap()
}

/// Fragments chosen to put markers, hosts, schemes and boundaries next to
/// each other in every combination.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let words: Vec<&'static [u8]> = vec![
        b"https://origin.example/",
        b"http://origin.example",
        b"HTTPS://ORIGIN.EXAMPLE/P",
        b"//origin.example",
        b"\\/\\/origin.example\\/",
        b"https:\\/\\/www.origin.example",
        b"//www.origin.example.",
        b"//cdn.origin.example/",
        b"//origin.example.evil.com/",
        b"//origin.example:8080/",
        b"//origin.example:9/",
        b"//origin.example@x/",
        b"ftp://origin.example/",
        b"origin.example",
        b"https:",
        b"http",
        b"//",
        b"\\/",
        b"/",
        b":",
        b".",
        b"@",
        b"<a href=\"",
        b"<img srcset='",
        b"<div style=\"background:url(",
        b"\">",
        b"'>",
        b">",
        b"<",
        b"<script>",
        b"</script>",
        b"<style>",
        b"</style>",
        b"<!--",
        b"-->",
        b"<svg>",
        b"</svg>",
        // Raw-text, RCDATA and other tokenizer-state switches: the
        // rewriter treats <noscript> like <script>, rewrites comments
        // whole, and leaves <textarea>/<title> text alone.
        b"<noscript>",
        b"</noscript>",
        b"<textarea>",
        b"</textarea>",
        b"<title>",
        b"</title>",
        b"<!--[if lt IE 9]><script src=\"",
        b"<![endif]-->",
        b"<![CDATA[",
        b"]]>",
        b"<math>",
        b"<template>",
        b"<iframe srcdoc=\"&lt;a href=&quot;",
        b"&quot;",
        b"<plaintext>",
        b"<xmp>",
        b"<meta charset=shift_jis>",
        // Policy <meta> elements (appended to, never rewritten) and
        // SRI-pinned tags (the raw URL form).
        b"<meta http-equiv=\"Content-Security-Policy\" content=\"",
        b"<meta http-equiv=content-security-policy content=",
        b"<META HTTP-EQUIV='Content-Security-Policy-Report-Only' CONTENT='",
        b"script-src ",
        b"img-src ",
        b"report-uri ",
        b"; ",
        b";",
        b"'self'",
        b"'sha256-abc='",
        b"&#39;",
        b"&#32;",
        b"*.origin.example",
        b"https://origin.example/js/",
        b"<script integrity=\"sha384-x\" src=\"",
        b"<link rel=stylesheet integrity=sha384-y href=",
        b" integrity ",
        b" nonce=\"n0nce\"",
        b"<meta charset=utf-16>",
        b"<!DOCTYPE html>",
        b"<?xml ",
        b"</",
        b"/>",
        b"=",
        b"<meta content=",
        b" ",
        b"\n",
        b"\"",
        b"'",
        b"\0",
        b"\xff\xfe",
        b"\xc3",
        b"\xe9t\xe9",
        b"\x95\x5c",
    ];
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..60).prop_map(|v| v.concat())
}

/// Split points as fractions of the input length (so they adapt to it).
fn splits() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(any::<u16>(), 0..24)
}

fn split_at<'a>(data: &'a [u8], points: &[u16]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|&p| (usize::from(p) * data.len()) / usize::from(u16::MAX).max(1))
        .collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

fn kinds() -> impl Strategy<Value = ContentKind> {
    prop_oneof![
        Just(ContentKind::Html),
        Just(ContentKind::Css),
        Just(ContentKind::JavaScript),
        Just(ContentKind::Json),
        Just(ContentKind::Other),
    ]
}

fn encodings() -> impl Strategy<Value = ContentEncoding> {
    prop_oneof![
        Just(ContentEncoding::Identity),
        Just(ContentEncoding::Gzip),
        Just(ContentEncoding::Deflate),
        Just(ContentEncoding::Brotli),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_bytes_and_loses_nothing(
        input in body(),
        points in splits(),
        kind in kinds(),
    ) {
        let whole = rewrite_whole(kind, rules(), &input);
        let chunks = split_at(&input, &points);
        let got = run_chunks(config(kind, ContentEncoding::Identity, ContentEncoding::Identity, rules()), chunks).unwrap();
        prop_assert_eq!(&got, &whole);
        let ones = run_chunks(
            config(kind, ContentEncoding::Identity, ContentEncoding::Identity, rules()),
            input.chunks(1),
        ).unwrap();
        prop_assert_eq!(&ones, &whole);
        // Every rewrite host maps to the same edge, so swap back to the
        // shortest one and let the aligner accept any rewrite host there.
        assert_round_trip_any_host(&input, &whole);
        if kind == ContentKind::Other {
            prop_assert_eq!(&whole, &input);
        }
    }

    #[test]
    fn codecs_are_transparent_at_any_split(
        input in body(),
        points in splits(),
        kind in kinds(),
        enc_in in encodings(),
        enc_out in encodings(),
    ) {
        let whole = rewrite_whole(kind, rules(), &input);
        let encoded = encode(enc_in, &input);
        let chunks = split_at(&encoded, &points);
        let got = run_chunks(config(kind, enc_in, enc_out, rules()), chunks).unwrap();
        prop_assert_eq!(decode(enc_out, &got), whole);
    }
}

/// [`assert_round_trip_hosts`] with this file's rule hosts.
fn assert_round_trip_any_host(input: &[u8], output: &[u8]) {
    assert_round_trip_hosts(
        input,
        output,
        &[
            "www.origin.example",
            "origin.example:8080",
            "origin.example",
        ],
        "round trip",
    );
}

#[test]
fn aligner_rejects_a_lost_byte() {
    let input = b"a https://origin.example/x b";
    let good = rewrite_whole(ContentKind::Css, rules(), input);
    assert_round_trip_any_host(input, &good);
    let mut bad = good.clone();
    bad.remove(bad.len() - 1);
    let caught = std::panic::catch_unwind(|| assert_round_trip_any_host(input, &bad));
    assert!(caught.is_err(), "the aligner must notice a dropped byte");
    // The allowances are exact: a raw prefix where the input had no rule
    // host, or a policy source that replaced a byte, are caught too.
    let raw_input = b"<script integrity=x src='https://origin.example/a.js'>";
    let raw = rewrite_whole(ContentKind::Html, rules(), raw_input);
    assert!(String::from_utf8_lossy(&raw).contains("/_sluice-raw/a.js"));
    assert_round_trip_any_host(raw_input, &raw);
    let policy = b"<meta http-equiv=content-security-policy content='img-src origin.example'>";
    let augmented = rewrite_whole(ContentKind::Html, rules(), policy);
    assert_ne!(augmented, policy);
    assert_round_trip_any_host(policy, &augmented);
    let mut bad = augmented.clone();
    let quote = bad.len() - 2;
    bad.remove(quote);
    let caught = std::panic::catch_unwind(|| assert_round_trip_any_host(policy, &bad));
    assert!(
        caught.is_err(),
        "the aligner must notice a lost quote after a policy source"
    );
}
